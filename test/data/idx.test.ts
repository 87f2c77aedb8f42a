/** Tests of the IDX reader/writer and of loading an IDX folder, including every bad-input error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, parseIdx, loadIdx, loadData, type IdxData } from '../../src/data/index.js';
import { UserError } from '../../src/errors.js';
import { cleanup, tempDir, throwsUserError } from './helpers.js';

/** Pixel bytes of n images of h x w (x c) with a recognisable pattern. */
function pattern(n: number, per: number, salt = 0): Uint8Array {
  const a = new Uint8Array(n * per);
  for (let i = 0; i < a.length; i++) a[i] = (i * 7 + salt * 13) % 256;
  return a;
}

function write(dir: string, name: string, data: IdxData, dims: number[], gz = false): string {
  const p = join(dir, name);
  const buf = encodeIdx(data, dims);
  writeFileSync(p, gz ? gzipSync(buf) : buf);
  return p;
}

/** A complete small IDX folder: 6 train and 4 test images of 3x2, labels 0..4 in train. */
function mnistLike(dir: string, opts: { gz?: boolean; dotted?: boolean; test?: boolean } = {}) {
  const sep = opts.dotted ? '.' : '-';
  const trainX = pattern(6, 6, 1);
  const trainY = Uint8Array.from([0, 1, 2, 3, 4, 2]);
  const testX = pattern(4, 6, 2);
  const testY = Uint8Array.from([4, 0, 1, 1]);
  const gz = opts.gz ? '.gz' : '';
  write(dir, `train-images${sep}idx3-ubyte${gz}`, trainX, [6, 3, 2], opts.gz);
  write(dir, `train-labels${sep}idx1-ubyte${gz}`, trainY, [6], opts.gz);
  if (opts.test !== false) {
    write(dir, `t10k-images${sep}idx3-ubyte${gz}`, testX, [4, 3, 2], opts.gz);
    write(dir, `t10k-labels${sep}idx1-ubyte${gz}`, testY, [4], opts.gz);
  }
  return { trainX, trainY, testX, testY };
}

test('encodeIdx/parseIdx round-trip every element type, big-endian', () => {
  const cases: IdxData[] = [
    Uint8Array.from([0, 1, 255, 128]),
    Int8Array.from([-128, -1, 0, 127]),
    Int16Array.from([-32768, -2, 258, 32767]),
    Int32Array.from([-2147483648, -3, 65536 + 2, 2147483647]),
    Float32Array.from([0.5, -1.25, 3.4e38, 1e-7]),
    Float64Array.from([Math.PI, -0, 1e300, -2.5]),
  ];
  const types = ['ubyte', 'int8', 'int16', 'int32', 'float32', 'float64'];
  const codes = [0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e];
  cases.forEach((data, i) => {
    const buf = encodeIdx(data, [2, 2]);
    assert.equal(buf[2], codes[i]);
    const a = parseIdx(buf, 'mem');
    assert.equal(a.type, types[i]);
    assert.deepEqual(a.dims, [2, 2]);
    assert.deepEqual(a.data, data);
    // gzipped buffers are gunzipped transparently
    assert.deepEqual(parseIdx(gzipSync(buf), 'mem.gz').data, data);
  });
  // Known bytes: MNIST label file header 0x00000801, 3 items.
  const raw = encodeIdx(Uint8Array.from([5, 0, 4]), [3]);
  assert.deepEqual([...raw], [0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4]);
  // float32 big-endian: 1.0 = 3f 80 00 00
  assert.deepEqual([...encodeIdx(Float32Array.from([1]), [1]).subarray(8)], [0x3f, 0x80, 0, 0]);
});

for (const variant of [
  { gz: false, dotted: false },
  { gz: true, dotted: false },
  { gz: false, dotted: true },
  { gz: true, dotted: true },
]) {
  test(`loadIdx: ubyte images /255, labels, shapes (gzip=${variant.gz}, dotted names=${variant.dotted})`, () => {
    const dir = tempDir();
    try {
      const { trainX, trainY, testX, testY } = mnistLike(dir, variant);
      const s = loadIdx(dir);
      assert.equal(s.train.name, `idx:${dir}`);
      assert.deepEqual(s.train.shape, [3, 2, 1]);
      assert.equal(s.train.n, 6);
      assert.equal(s.train.numClasses, 5);
      assert.deepEqual(s.train.x, Float32Array.from(trainX, (v) => v / 255));
      assert.deepEqual(s.train.y, Int32Array.from(trainY));
      assert.ok(s.test);
      assert.equal(s.test.n, 4);
      assert.equal(s.test.numClasses, 5);
      assert.deepEqual(s.test.x, Float32Array.from(testX, (v) => v / 255));
      assert.deepEqual(s.test.y, Int32Array.from(testY));
    } finally {
      cleanup(dir);
    }
  });
}

test('loadIdx: float32 rank-4 images are used as is; test set optional; loadData("idx:DIR")', () => {
  const dir = tempDir();
  try {
    const x = Float32Array.from({ length: 3 * 2 * 2 * 3 }, (_, i) => i * 0.1 - 0.5);
    write(dir, 'train-images-idx3-ubyte.gz', x, [3, 2, 2, 3], true);
    write(dir, 'train-labels-idx1-ubyte', Uint8Array.from([1, 0, 1]), [3]);
    const s = loadData(`idx:${dir}`);
    assert.deepEqual(s.train.shape, [2, 2, 3]);
    assert.equal(s.train.numClasses, 2);
    assert.deepEqual(s.train.x, x);
    assert.equal(s.test, null);
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: missing folder, no training files, half a test pair', () => {
  const dir = tempDir();
  try {
    throwsUserError(() => loadIdx(join(dir, 'nope')), `idx: folder ${join(dir, 'nope')} does not exist`);
    throwsUserError(() => loadIdx(dir), dir, 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 'looked for');
    write(dir, 'train-images-idx3-ubyte', pattern(2, 4), [2, 2, 2]);
    throwsUserError(() => loadIdx(dir), 'looked for train-labels-idx1-ubyte');
    write(dir, 'train-labels-idx1-ubyte', Uint8Array.from([0, 1]), [2]);
    assert.equal(loadIdx(dir).test, null);
    write(dir, 't10k-images-idx3-ubyte', pattern(2, 4), [2, 2, 2]);
    throwsUserError(() => loadIdx(dir), join(dir, 't10k-images-idx3-ubyte'), 't10k-labels-idx1-ubyte');
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: bad magic number names the file', () => {
  const dir = tempDir();
  try {
    mnistLike(dir);
    const f = join(dir, 'train-images-idx3-ubyte');
    writeFileSync(f, Buffer.from([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]));
    throwsUserError(() => loadIdx(dir), `idx: ${f}: bad magic number 0x12345678 (not an IDX file)`);
    writeFileSync(f, Buffer.from([0, 0, 0x0a, 3, 0, 0, 0, 0]));
    throwsUserError(() => loadIdx(dir), f, 'bad magic number 0x00000a03', 'unknown type byte 0x0a');
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: truncated file and extra bytes (sizes do not match the header)', () => {
  const dir = tempDir();
  try {
    mnistLike(dir);
    const f = join(dir, 'train-images-idx3-ubyte');
    const full = encodeIdx(pattern(6, 6), [6, 3, 2]);
    writeFileSync(f, full.subarray(0, full.length - 5));
    throwsUserError(
      () => loadIdx(dir),
      `idx: ${f} is truncated: header says 6x3x2 (36 bytes of data) but the file has 31 bytes of data`,
    );
    writeFileSync(f, Buffer.concat([full, Buffer.from([1, 2])]));
    throwsUserError(() => loadIdx(dir), f, 'extra bytes', '38 bytes of data');
    // truncated inside the header
    writeFileSync(f, full.subarray(0, 9));
    throwsUserError(() => loadIdx(dir), f, 'truncated', '3 dimensions');
    // a gzipped file whose content is truncated
    const g = join(dir, 'train-labels-idx1-ubyte');
    const labels = encodeIdx(Uint8Array.from([0, 1, 2, 3, 4, 2]), [6]);
    writeFileSync(f, full);
    writeFileSync(g, gzipSync(labels.subarray(0, labels.length - 1)));
    throwsUserError(() => loadIdx(dir), g, 'truncated', 'header says 6 (6 bytes of data)', 'after gunzip');
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: image/label count mismatch names both files', () => {
  const dir = tempDir();
  try {
    mnistLike(dir);
    write(dir, 't10k-labels-idx1-ubyte', Uint8Array.from([0, 1, 2]), [3]);
    throwsUserError(
      () => loadIdx(dir),
      `idx: ${join(dir, 't10k-images-idx3-ubyte')} has 4 images but ${join(dir, 't10k-labels-idx1-ubyte')} has 3 labels`,
    );
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: corrupt gzip names the file', () => {
  const dir = tempDir();
  try {
    mnistLike(dir, { gz: true });
    const f = join(dir, 'train-labels-idx1-ubyte.gz');
    const good = gzipSync(encodeIdx(Uint8Array.from([0, 1, 2, 3, 4, 2]), [6]));
    const bad = Buffer.from(good);
    bad.fill(0xff, 10, 16); // clobber the deflate stream, keep the gzip signature
    writeFileSync(f, bad);
    throwsUserError(() => loadIdx(dir), `idx: ${f} is not a valid gzip file`);
    writeFileSync(f, good.subarray(0, good.length - 8)); // cut off the gzip trailer
    throwsUserError(() => loadIdx(dir), f, 'gzip');
  } finally {
    cleanup(dir);
  }
});

test('loadIdx errors: test label out of range, negative label, wrong rank, int images, shape mismatch', () => {
  const dir = tempDir();
  try {
    mnistLike(dir);
    const tl = join(dir, 't10k-labels-idx1-ubyte');
    write(dir, 't10k-labels-idx1-ubyte', Uint8Array.from([0, 1, 7, 2]), [4]);
    throwsUserError(() => loadIdx(dir), `idx: ${tl}: label 7 at index 2 is out of range`, '0..4');

    write(dir, 't10k-labels-idx1-ubyte', Int8Array.from([0, -1, 2, 2]), [4]);
    throwsUserError(() => loadIdx(dir), tl, 'label -1 at index 1');

    write(dir, 't10k-labels-idx1-ubyte', Uint8Array.from([0, 1, 2, 3]), [4]);
    const ti = join(dir, 't10k-images-idx3-ubyte');
    write(dir, 't10k-images-idx3-ubyte', pattern(4, 6), [4, 6]);
    throwsUserError(() => loadIdx(dir), ti, '2 dimensions');
    write(dir, 't10k-images-idx3-ubyte', Int16Array.from(pattern(4, 6)), [4, 3, 2]);
    throwsUserError(() => loadIdx(dir), ti, 'int16 images');
    write(dir, 't10k-images-idx3-ubyte', pattern(4, 6), [4, 2, 3]);
    throwsUserError(() => loadIdx(dir), ti, 'shape 2x3x1', '3x2x1');
  } finally {
    cleanup(dir);
  }
});

test('parseIdx errors are UserErrors even for tiny buffers', () => {
  const e = throwsUserError(() => parseIdx(Buffer.from([0, 0]), '/x/f'), '/x/f', 'too short');
  assert.ok(e instanceof UserError);
  throwsUserError(() => parseIdx(Buffer.from([0, 0, 8, 0]), '/x/f'), '/x/f', 'bad magic number 0x00000800');
});

test('loadIdx: a folder where both plain and .gz exist uses the plain file', () => {
  const dir = tempDir();
  try {
    mnistLike(dir);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), Buffer.from('junk'));
    assert.equal(loadIdx(dir).train.n, 6);
  } finally {
    cleanup(dir);
  }
});
