/** Tests of the CIFAR-10 binary loader: exact NHWC layout and bad-input errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCifar10, loadData } from '../../src/data/index.js';
import { cleanup, tempDir, throwsUserError } from './helpers.js';

const RECORD = 3073;

/** n records with labels `labels` and pixel bytes depending on (record, position) and `salt`. */
function batch(labels: number[], salt: number): Buffer {
  const buf = Buffer.alloc(labels.length * RECORD);
  labels.forEach((label, r) => {
    buf[r * RECORD] = label;
    for (let p = 1; p < RECORD; p++) buf[r * RECORD + p] = (p * 31 + r * 17 + salt) % 256;
  });
  return buf;
}

test('loadCifar10: NHWC layout, /255 scaling, labels, batches concatenated, test batch', () => {
  const dir = tempDir();
  try {
    const b1 = batch([3, 9], 0);
    const b2 = batch([0], 5);
    const tb = batch([7, 1, 2], 11);
    writeFileSync(join(dir, 'data_batch_1.bin'), b1);
    writeFileSync(join(dir, 'data_batch_2.bin'), b2);
    writeFileSync(join(dir, 'test_batch.bin'), tb);
    const s = loadCifar10(dir);
    assert.equal(s.train.name, `cifar10:${dir}`);
    assert.deepEqual(s.train.shape, [32, 32, 3]);
    assert.equal(s.train.numClasses, 10);
    assert.equal(s.train.n, 3);
    assert.deepEqual([...s.train.y], [3, 9, 0]);
    assert.ok(s.test);
    assert.equal(s.test.n, 3);
    assert.deepEqual([...s.test.y], [7, 1, 2]);

    // pixel (row 2, col 3), green channel of record 0 = byte 1 + 1024 + 2*32 + 3 of the record
    const at = (ex: number, r: number, c: number, ch: number) => s.train.x[ex * 3072 + (r * 32 + c) * 3 + ch];
    assert.equal(at(0, 2, 3, 1), Math.fround(b1[1 + 1024 + 2 * 32 + 3] / 255));
    // every value of every record, including the second file
    const records: [Buffer, number][] = [[b1, 0], [b1, 1], [b2, 0]];
    records.forEach(([b, r], ex) => {
      for (let row = 0; row < 32; row++)
        for (let col = 0; col < 32; col++)
          for (let ch = 0; ch < 3; ch++) {
            const byte = b[r * RECORD + 1 + ch * 1024 + row * 32 + col];
            if (at(ex, row, col, ch) !== Math.fround(byte / 255)) assert.fail(`example ${ex} (${row},${col},${ch})`);
          }
    });
    // test set: blue channel of pixel (31, 0) of record 2
    assert.equal(s.test.x[2 * 3072 + (31 * 32 + 0) * 3 + 2], Math.fround(tb[2 * RECORD + 1 + 2048 + 31 * 32] / 255));
  } finally {
    cleanup(dir);
  }
});

test('loadCifar10: finds files in cifar-10-batches-bin; test batch optional; loadData("cifar10:DIR")', () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir, 'cifar-10-batches-bin'));
    writeFileSync(join(dir, 'cifar-10-batches-bin', 'data_batch_3.bin'), batch([4, 5], 2));
    const s = loadData(`cifar10:${dir}`);
    assert.equal(s.train.n, 2);
    assert.deepEqual([...s.train.y], [4, 5]);
    assert.equal(s.test, null);
  } finally {
    cleanup(dir);
  }
});

test('loadCifar10 errors: missing folder, no batches, wrong length, empty file, label >= 10', () => {
  const dir = tempDir();
  try {
    throwsUserError(() => loadCifar10(join(dir, 'nope')), `cifar10: folder ${join(dir, 'nope')} does not exist`);
    throwsUserError(() => loadCifar10(dir), dir, 'data_batch_1.bin', 'data_batch_5.bin', 'cifar-10-batches-bin');
    const f = join(dir, 'data_batch_1.bin');
    writeFileSync(f, Buffer.alloc(1000));
    throwsUserError(() => loadCifar10(dir), `cifar10: ${f} has 1000 bytes, not a multiple of the 3073-byte record`);
    writeFileSync(f, Buffer.alloc(0));
    throwsUserError(() => loadCifar10(dir), `cifar10: ${f} has 0 bytes`);
    writeFileSync(f, batch([1, 2, 10], 0));
    throwsUserError(() => loadCifar10(dir), f, 'record 2', 'label 10');
    writeFileSync(f, batch([1], 0));
    const t = join(dir, 'test_batch.bin');
    writeFileSync(t, batch([0, 255], 0));
    throwsUserError(() => loadCifar10(dir), t, 'record 1', 'label 255');
  } finally {
    cleanup(dir);
  }
});
