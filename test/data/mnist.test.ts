/** Tests of the embedded MNIST loader: sizes, value grid, split definition and disjointness. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadEmbeddedMnist, loadData } from '../../src/data/index.js';
import { Rng } from '../../src/util/random.js';
import type { Dataset } from '../../src/data/types.js';

const split = loadEmbeddedMnist();
const train = split.train;
const test_ = split.test as Dataset;

test('embedded mnist: 8000 train / 2000 test, 28x28x1, 10 classes', () => {
  assert.equal(train.name, 'mnist');
  assert.ok(test_ !== null);
  assert.equal(train.n, 8000);
  assert.equal(test_.n, 2000);
  for (const d of [train, test_]) {
    assert.deepEqual(d.shape, [28, 28, 1]);
    assert.equal(d.numClasses, 10);
    assert.equal(d.x.length, d.n * 784);
    assert.equal(d.y.length, d.n);
  }
});

test('embedded mnist: labels in range and every class present in both parts', () => {
  for (const d of [train, test_]) {
    const counts = new Array(10).fill(0);
    for (const v of d.y) {
      assert.ok(Number.isInteger(v) && v >= 0 && v < 10, `label ${v}`);
      counts[v]++;
    }
    for (let k = 0; k < 10; k++) assert.ok(counts[k] > 50, `class ${k} has only ${counts[k]} examples`);
  }
});

test('embedded mnist: pixel values are exactly k/255 as float32, spanning 0..1', () => {
  let min = 1;
  let max = 0;
  for (const d of [train, test_]) {
    for (let i = 0; i < d.x.length; i++) {
      const v = d.x[i];
      const k = Math.round(v * 255);
      if (v !== Math.fround(k / 255)) assert.fail(`value ${v} at ${i} is not k/255`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
});

test('embedded mnist: split follows the documented definition (class order, Rng(20170601) permutation)', () => {
  const folder = dirname(createRequire(import.meta.url).resolve('mnist/src/digits/0.json'));
  const bytes: number[][] = [];
  const labels: number[] = [];
  for (let k = 0; k < 10; k++) {
    const data: number[] = JSON.parse(readFileSync(join(folder, `${k}.json`), 'utf8')).data;
    for (let i = 0; i < data.length / 784; i++) {
      bytes.push(data.slice(i * 784, (i + 1) * 784).map((v) => Math.round(v * 255)));
      labels.push(k);
    }
  }
  assert.equal(labels.length, 10000);
  const perm = new Rng(20170601).permutation(10000);
  for (let i = 0; i < 10000; i++) {
    const d = i < 8000 ? train : test_;
    const j = i < 8000 ? i : i - 8000;
    assert.equal(d.y[j], labels[perm[i]], `label at position ${i}`);
  }
  // Check every pixel of a sample of examples from both parts.
  for (const i of [0, 1, 2, 777, 7999, 8000, 8001, 9999]) {
    const d = i < 8000 ? train : test_;
    const j = i < 8000 ? i : i - 8000;
    const got = Array.from(d.x.subarray(j * 784, (j + 1) * 784), (v) => Math.round(v * 255));
    assert.deepEqual(got, bytes[perm[i]], `pixels of position ${i}`);
  }
});

test('embedded mnist: deterministic across calls and through loadData', () => {
  const again = loadEmbeddedMnist();
  assert.deepEqual(again.train.y, train.y);
  assert.deepEqual(again.train.x, train.x);
  const viaSpec = loadData('mnist');
  assert.deepEqual(viaSpec.test!.y, test_.y);
});

test('embedded mnist: training and test parts are disjoint', () => {
  const hash = (d: Dataset, i: number) =>
    createHash('sha1').update(Buffer.from(d.x.buffer, d.x.byteOffset + i * 784 * 4, 784 * 4)).digest('hex');
  const trainHashes = new Set<string>();
  for (let i = 0; i < train.n; i++) trainHashes.add(hash(train, i));
  assert.ok(trainHashes.size > 7990, 'training images should be (nearly) all distinct');
  for (let i = 0; i < test_.n; i++) {
    assert.ok(!trainHashes.has(hash(test_, i)), `test example ${i} also appears in the training set`);
  }
});
