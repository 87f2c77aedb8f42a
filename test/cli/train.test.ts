import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { encodeIdx } from '../../src/data/idx.js';
import { assertUserError, runCli } from './cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cli-train-'));

/** A small valid IDX folder: n images 6x6, labels 0..2. */
function writeIdx(dir: string, n = 30, opts: { testLabels?: number[] } = {}): void {
  const img = new Uint8Array(n * 36).map((_, i) => (i * 37) % 256);
  const lab = new Uint8Array(n).map((_, i) => i % 3);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx(img, [n, 6, 6]));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx(lab, [n]));
  const tl = opts.testLabels ?? [0, 1, 2, 1];
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), zlib.gzipSync(encodeIdx(img.subarray(0, tl.length * 36), [tl.length, 6, 6])));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), encodeIdx(Uint8Array.from(tl), [tl.length]));
}

/** Every bad-input case leaves nothing in --out. */
function assertNothingWritten(out: string): void {
  assert.ok(!fs.existsSync(out) || fs.readdirSync(out).length === 0, `${out} should hold nothing`);
  const parent = path.dirname(out);
  if (fs.existsSync(parent)) assert.deepEqual(fs.readdirSync(parent).filter((f) => f.includes('.tmp')), []);
}

test('train: a missing data folder', () => {
  const d = tmp();
  const out = path.join(d, 'out');
  const r = runCli(['train', '--data', `idx:${path.join(d, 'nope')}`, '--out', out]);
  assertUserError(r, path.join(d, 'nope'), /does not exist/);
  assertNothingWritten(out);
});

test('train: an IDX file with a bad magic number', () => {
  const d = tmp();
  writeIdx(d);
  const f = path.join(d, 'train-images-idx3-ubyte');
  const b = fs.readFileSync(f);
  b[2] = 0x42;
  fs.writeFileSync(f, b);
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `idx:${d}`, '--model', 'mlp:4', '--out', out]), f, /magic/);
  assertNothingWritten(out);
});

test('train: a truncated IDX file (sizes do not match)', () => {
  const d = tmp();
  writeIdx(d);
  const f = path.join(d, 'train-images-idx3-ubyte');
  fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 100));
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `idx:${d}`, '--model', 'mlp:4', '--out', out]), f, /truncated/);
  assertNothingWritten(out);
});

test('train: a corrupt gzipped IDX file', () => {
  const d = tmp();
  writeIdx(d);
  const f = path.join(d, 't10k-images-idx3-ubyte.gz');
  const b = fs.readFileSync(f);
  fs.writeFileSync(f, b.subarray(0, 20));
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `idx:${d}`, '--model', 'mlp:4', '--out', out]), f);
  assertNothingWritten(out);
});

test('train: labels out of range', () => {
  const d = tmp();
  writeIdx(d, 30, { testLabels: [0, 1, 7, 2] });
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `idx:${d}`, '--model', 'mlp:4', '--out', out]), 't10k-labels-idx1-ubyte', /label 7/);
  assertNothingWritten(out);
});

test('train: a CIFAR-10 file of the wrong length', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'data_batch_1.bin'), Buffer.alloc(3073 * 2 + 5));
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `cifar10:${d}`, '--model', 'vgg:4,M', '--out', out]), 'data_batch_1.bin', /3073/);
  assertNothingWritten(out);
});

test('train: a CIFAR-10 label out of range', () => {
  const d = tmp();
  const b = Buffer.alloc(3073 * 2);
  b[3073] = 12;
  fs.writeFileSync(path.join(d, 'data_batch_1.bin'), b);
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `cifar10:${d}`, '--model', 'vgg:4,M', '--out', out]), 'data_batch_1.bin', /12/);
  assertNothingWritten(out);
});

test('train: an unknown model spec', () => {
  const d = tmp();
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--model', 'resnet:18', '--out', out]), '--model', 'resnet:18');
  assertNothingWritten(out);
});

test('train: --train-size larger than the data', () => {
  const d = tmp();
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', 'mnist', '--train-size', '20000', '--out', out]), '--train-size', /20000.*8000/);
  assertNothingWritten(out);
});

test('train: bad option values and unknown options', () => {
  assertUserError(runCli(['train', '--labels', 'maybe']), '--labels', 'maybe');
  assertUserError(runCli(['train', '--seed', 'x']), '--seed', 'not a number');
  assertUserError(runCli(['train', '--frobnicate']), '--frobnicate');
  assertUserError(runCli(['train', '--device', 'gpu']), '--device', '"gpu"');
  assertUserError(runCli(['train', '--threads', '1.5']), '--threads', 'not a whole number');
  assertUserError(runCli(['train', '--backend', 'wasm']), 'unknown option --backend');
  assertUserError(runCli(['nonsense']), 'unknown command');
});

test('train: refuses to overwrite a run without --force', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'run.json'), '{}');
  assertUserError(runCli(['train', '--data', 'synthetic', '--model', 'mlp:4', '--out', d]), '--out', /--force/);
  assert.equal(fs.readFileSync(path.join(d, 'run.json'), 'utf8'), '{}');
});

test('train --help lists the options', () => {
  const r = runCli(['train', '--help']);
  assert.equal(r.code, 0);
  for (const o of ['--data', '--model', '--train-size', '--labels', '--seed', '--out', '--max-epochs', '--max-minutes', '--threads', '--device']) assert.ok(r.stdout.includes(o), o);
  const top = runCli([]);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /train/);
});
