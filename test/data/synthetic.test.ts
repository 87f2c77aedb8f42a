/** Tests of the synthetic data set and of loadData's dispatch. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadData, makeSynthetic } from '../../src/data/index.js';
import { throwsUserError } from './helpers.js';

test('makeSynthetic: defaults, value range, balanced labels', () => {
  const s = makeSynthetic({});
  assert.equal(s.train.name, 'synthetic');
  assert.deepEqual(s.train.shape, [8, 8, 1]);
  assert.equal(s.train.numClasses, 10);
  assert.equal(s.train.n, 512);
  assert.ok(s.test);
  assert.equal(s.test.n, 256);
  assert.equal(s.train.x.length, 512 * 64);
  for (const v of s.train.x) assert.ok(v >= 0 && v <= 1);
  const counts = new Array(10).fill(0);
  for (const v of s.train.y) counts[v]++;
  for (const c of counts) assert.ok(c === 51 || c === 52, `counts ${counts}`);
  // labels are shuffled, not 0,1,2,…
  assert.notDeepEqual([...s.train.y.subarray(0, 10)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('makeSynthetic: deterministic for a seed, different across seeds', () => {
  const a = makeSynthetic({ seed: 3, n: 64, nTest: 16 });
  const b = makeSynthetic({ seed: 3, n: 64, nTest: 16 });
  const c = makeSynthetic({ seed: 4, n: 64, nTest: 16 });
  assert.deepEqual(a.train.x, b.train.x);
  assert.deepEqual(a.train.y, b.train.y);
  assert.deepEqual(a.test!.x, b.test!.x);
  assert.notDeepEqual(a.train.x, c.train.x);
  assert.notDeepEqual(a.train.x, a.test!.x.subarray(0, 16 * 64));
});

test('makeSynthetic: learnable — nearest class mean from the training set classifies the test set well', () => {
  const s = makeSynthetic({ seed: 1 });
  const size = 64;
  const means = Array.from({ length: 10 }, () => new Float64Array(size));
  const counts = new Array(10).fill(0);
  for (let i = 0; i < s.train.n; i++) {
    counts[s.train.y[i]]++;
    for (let j = 0; j < size; j++) means[s.train.y[i]][j] += s.train.x[i * size + j];
  }
  means.forEach((m, k) => m.forEach((_, j) => (m[j] /= counts[k])));
  let correct = 0;
  const t = s.test!;
  for (let i = 0; i < t.n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < 10; k++) {
      let d = 0;
      for (let j = 0; j < size; j++) d += (t.x[i * size + j] - means[k][j]) ** 2;
      if (d < bestD) [bestD, best] = [d, k];
    }
    if (best === t.y[i]) correct++;
  }
  assert.ok(correct / t.n > 0.9, `accuracy ${correct / t.n}`);
});

test('makeSynthetic: options and their errors', () => {
  const s = makeSynthetic({ n: 10, nTest: 0, shape: [2, 3, 4], numClasses: 3 });
  assert.equal(s.test, null);
  assert.deepEqual(s.train.shape, [2, 3, 4]);
  assert.equal(s.train.x.length, 10 * 24);
  assert.ok(s.train.y.every((v) => v < 3));
  throwsUserError(() => makeSynthetic({ n: 0 }), 'synthetic: n');
  throwsUserError(() => makeSynthetic({ numClasses: 1.5 }), 'synthetic: classes');
  throwsUserError(() => makeSynthetic({ shape: [8, 0, 1] }), 'synthetic: each shape dimension');
  throwsUserError(() => makeSynthetic({ noise: -1 }), 'synthetic: noise');
});

test('loadData: synthetic specs', () => {
  assert.equal(loadData('synthetic').train.n, 512);
  assert.equal(loadData('synthetic:100').train.n, 100);
  const s = loadData('synthetic:n=40,test=8,shape=4x4x3,classes=4,noise=0.1,seed=9');
  assert.equal(s.train.n, 40);
  assert.equal(s.test!.n, 8);
  assert.deepEqual(s.train.shape, [4, 4, 3]);
  assert.equal(s.train.numClasses, 4);
  assert.deepEqual(s.train.x, makeSynthetic({ n: 40, nTest: 8, shape: [4, 4, 3], numClasses: 4, noise: 0.1, seed: 9 }).train.x);
  // opts.seed is the default seed; seed= in the spec wins
  assert.deepEqual(loadData('synthetic:50', { seed: 5 }).train.x, makeSynthetic({ n: 50, seed: 5 }).train.x);
  assert.deepEqual(loadData('synthetic:n=50,seed=6', { seed: 5 }).train.x, makeSynthetic({ n: 50, seed: 6 }).train.x);
  throwsUserError(() => loadData('synthetic:size=3'), 'unknown option "size"');
  throwsUserError(() => loadData('synthetic:shape=8x8'), 'shape must be HxWxC');
  throwsUserError(() => loadData('synthetic:n=abc'), 'n must be a number');
});

test('loadData: unknown specs and missing folders are UserErrors', () => {
  throwsUserError(() => loadData('foo'), '--data: unknown data set "foo" (expected mnist, idx:DIR, cifar10:DIR or synthetic)');
  throwsUserError(() => loadData('idx:'), '--data', 'needs a folder');
  throwsUserError(() => loadData('cifar10:'), '--data', 'needs a folder');
  throwsUserError(() => loadData('mnist:/x'), 'mnist takes no argument');
  throwsUserError(() => loadData('idx:/nonexistent/genmeasures'), 'idx: folder /nonexistent/genmeasures does not exist');
});
