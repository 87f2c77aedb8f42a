/** Tests of the data transforms: nesting, determinism, random labels, confusion sets, normalisation, purity. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  channelStats,
  checkLabels,
  complement,
  complementIndices,
  concat,
  makeSynthetic,
  normalize,
  randomLabels,
  subset,
  subsetIndices,
  take,
  withConfusion,
  type Dataset,
} from '../../src/data/index.js';
import { throwsUserError } from './helpers.js';

/** A data set whose example i is recognisable: every pixel of example i equals i (before any transform). */
function indexed(n: number, numClasses = 10, shape: [number, number, number] = [2, 2, 1]): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const x = new Float32Array(n * size);
  for (let i = 0; i < n; i++) x.fill(i, i * size, (i + 1) * size);
  const y = Int32Array.from({ length: n }, (_, i) => i % numClasses);
  return { name: 'indexed', shape, numClasses, n, x, y };
}

/** The example ids (first pixel) of a data set built from indexed(). */
const ids = (d: Dataset) => Array.from({ length: d.n }, (_, i) => d.x[i * d.x.length / d.n]);

function snapshot(d: Dataset) {
  return { x: d.x.slice(), y: d.y.slice(), n: d.n, shape: [...d.shape], numClasses: d.numClasses, name: d.name };
}
function assertUnchanged(d: Dataset, s: ReturnType<typeof snapshot>) {
  assert.deepEqual(d.x, s.x);
  assert.deepEqual(d.y, s.y);
  assert.deepEqual([...d.shape], s.shape);
  assert.equal(d.n, s.n);
  assert.equal(d.numClasses, s.numClasses);
  assert.equal(d.name, s.name);
}

test('subset: nested (2000 ⊂ 5000 for the same seed), distinct, examples and labels carried along', () => {
  const ds = indexed(8000);
  const before = snapshot(ds);
  const a = subset(ds, 2000, 7);
  const b = subset(ds, 5000, 7);
  assert.equal(a.n, 2000);
  assert.equal(b.n, 5000);
  const ia = ids(a);
  const ib = ids(b);
  assert.deepEqual(ia, ib.slice(0, 2000), 'the 2000-subset is the first 2000 of the 5000-subset');
  assert.equal(new Set(ib).size, 5000, 'no repeats');
  const setB = new Set(ib);
  assert.ok(ia.every((i) => setB.has(i)));
  for (let i = 0; i < b.n; i++) assert.equal(b.y[i], ib[i] % 10, 'label travels with its example');
  assert.equal(a.name, ds.name);
  assert.deepEqual(a.shape, ds.shape);
  assertUnchanged(ds, before);
});

test('subset: deterministic for a seed, different for another seed; subsetIndices matches', () => {
  const ds = indexed(1000);
  assert.deepEqual(ids(subset(ds, 300, 3)), ids(subset(ds, 300, 3)));
  assert.notDeepEqual(ids(subset(ds, 300, 3)), ids(subset(ds, 300, 4)));
  assert.deepEqual(ids(subset(ds, 300, 3)), [...subsetIndices(1000, 300, 3)]);
  // not just the first examples in order
  assert.notDeepEqual(ids(subset(ds, 300, 3)), Array.from({ length: 300 }, (_, i) => i));
  // full size is a permutation of everything
  assert.deepEqual([...ids(subset(ds, 1000, 3))].sort((p, q) => p - q), Array.from({ length: 1000 }, (_, i) => i));
});

test('subset errors: too large, zero, negative, fractional', () => {
  const ds = { ...indexed(8000), name: 'mnist' };
  throwsUserError(() => subset(ds, 20000, 1), '--train-size 20000 is larger than the training set (8000 examples in mnist)');
  throwsUserError(() => subset(ds, 0, 1), '--train-size', 'positive');
  throwsUserError(() => subset(ds, -5, 1), '--train-size', 'positive');
  throwsUserError(() => subset(ds, 2.5, 1), '--train-size', 'positive');
  throwsUserError(() => subsetIndices(10, 11, 1, '--size'), '--size 11', '10 examples');
});

test('take, complement, complementIndices, concat', () => {
  const ds = indexed(10);
  assert.deepEqual(ids(take(ds, [3, 3, 0])), [3, 3, 0]);
  assert.deepEqual([...complementIndices(10, [9, 2, 5])], [0, 1, 3, 4, 6, 7, 8]);
  const idx = subsetIndices(10, 4, 2);
  const rest = complement(ds, idx);
  assert.equal(rest.n, 6);
  const all = [...ids(take(ds, idx)), ...ids(rest)].sort((p, q) => p - q);
  assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => i));
  const c = concat(take(ds, [1]), take(ds, [2, 3]));
  assert.deepEqual(ids(c), [1, 2, 3]);
  assert.deepEqual([...c.y], [1, 2, 3]);
  assert.throws(() => take(ds, [10]), RangeError);
  throwsUserError(() => concat(ds, indexed(3, 5)), 'cannot join');
});

test('randomLabels: fixed for a seed, differ across seeds, roughly uniform, examples unchanged', () => {
  const ds = indexed(20000);
  const before = snapshot(ds);
  const r1 = randomLabels(ds, 11);
  const r2 = randomLabels(ds, 11);
  const r3 = randomLabels(ds, 12);
  assert.deepEqual(r1.y, r2.y);
  assert.notDeepEqual(r1.y, r3.y);
  assert.deepEqual(r1.x, ds.x);
  assert.notEqual(r1.x, ds.x, 'a copy, not the same array');
  const counts = new Array(10).fill(0);
  for (const v of r1.y) {
    assert.ok(v >= 0 && v < 10);
    counts[v]++;
  }
  // expected 2000 each, sd ≈ 42; allow 5 sd
  for (const c of counts) assert.ok(Math.abs(c - 2000) < 212, `counts ${counts}`);
  // random labels agree with the true ones about 1/10 of the time
  let agree = 0;
  for (let i = 0; i < ds.n; i++) if (r1.y[i] === ds.y[i]) agree++;
  assert.ok(Math.abs(agree / ds.n - 0.1) < 0.015, `agreement ${agree / ds.n}`);
  assertUnchanged(ds, before);
});

test('withConfusion: true set first, trueCount, nested extra points with nested random labels, from the pool only', () => {
  const train = indexed(3000);
  const idx = subsetIndices(train.n, 1000, 5);
  const trueSet = take(train, idx);
  const pool = complement(train, idx);
  const tBefore = snapshot(trueSet);
  const pBefore = snapshot(pool);
  const small = withConfusion(trueSet, pool, 300, 9);
  const big = withConfusion(trueSet, pool, 800, 9);
  assert.equal(small.trueCount, 1000);
  assert.equal(big.trueCount, 1000);
  assert.equal(small.data.n, 1300);
  assert.equal(big.data.n, 1800);
  // the true-labelled part is untouched and first
  assert.deepEqual(ids(big.data).slice(0, 1000), ids(trueSet));
  assert.deepEqual([...big.data.y.subarray(0, 1000)], [...trueSet.y]);
  // nesting: points and labels
  assert.deepEqual(ids(small.data), ids(big.data).slice(0, 1300));
  assert.deepEqual([...small.data.y], [...big.data.y.subarray(0, 1300)]);
  // extra points come from the pool, are distinct, and are not in the true set
  const inTrue = new Set(ids(trueSet));
  const extra = ids(big.data).slice(1000);
  assert.equal(new Set(extra).size, 800);
  assert.ok(extra.every((i) => !inTrue.has(i)));
  // extra labels are random: they agree with the true label ≈ 1/10 of the time, not always
  let agree = 0;
  for (let i = 1000; i < 1800; i++) if (big.data.y[i] === big.data.x[i * 4] % 10) agree++;
  assert.ok(agree < 200, `extra labels agree with the true labels ${agree}/800 times`);
  // deterministic, seed-dependent
  assert.deepEqual(withConfusion(trueSet, pool, 300, 9).data.y, small.data.y);
  assert.notDeepEqual(ids(withConfusion(trueSet, pool, 300, 10).data), ids(small.data));
  // size 0 is just the true set
  assert.deepEqual(ids(withConfusion(trueSet, pool, 0, 9).data), ids(trueSet));
  throwsUserError(() => withConfusion(trueSet, pool, 2001, 9), '--confusion-size 2001', '2000 examples');
  throwsUserError(() => withConfusion(trueSet, pool, -1, 9), '--confusion-size');
  assertUnchanged(trueSet, tBefore);
  assertUnchanged(pool, pBefore);
});

test('channelStats and normalize: mean ≈ 0, std ≈ 1 per channel; std 0 channel only centred; inputs unchanged', () => {
  const { train } = makeSynthetic({ n: 300, nTest: 0, shape: [4, 4, 3], seed: 2 });
  // make the channels different: scale channel 1, shift channel 2
  const x = train.x.slice();
  for (let i = 0; i < x.length; i += 3) {
    x[i + 1] *= 5;
    x[i + 2] += 3;
  }
  const ds: Dataset = { ...train, x };
  const before = snapshot(ds);
  const st = channelStats(ds);
  assert.equal(st.mean.length, 3);
  assert.ok(Math.abs(st.mean[2] - st.mean[0] - 3) < 0.1, `means ${st.mean}`);
  assert.ok(st.std[1] > 3 * st.std[0], `stds ${st.std}`);
  const nd = normalize(ds, st);
  const after = channelStats(nd);
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(after.mean[k]) < 1e-5, `mean ${k}: ${after.mean[k]}`);
    assert.ok(Math.abs(after.std[k] - 1) < 1e-5, `std ${k}: ${after.std[k]}`);
  }
  assert.deepEqual(nd.y, ds.y);
  assertUnchanged(ds, before);

  // exact values on a tiny example: channel 0 = [1, 3] → mean 2, std 1; channel 1 constant 5 → std 0
  const tiny: Dataset = { name: 't', shape: [1, 1, 2], numClasses: 2, n: 2, x: Float32Array.from([1, 5, 3, 5]), y: Int32Array.from([0, 1]) };
  const ts = channelStats(tiny);
  assert.deepEqual(ts, { mean: [2, 5], std: [1, 0] });
  assert.deepEqual([...normalize(tiny, ts).x], [-1, 0, 1, 0]);
  throwsUserError(() => normalize(tiny, { mean: [0], std: [1] }), '1 means', '2 channel');
});

test('checkLabels: out-of-range labels are UserErrors naming the place', () => {
  const ds = indexed(20, 10);
  checkLabels(ds, 10, 'x');
  throwsUserError(() => checkLabels(ds, 5, 'run.json'), 'run.json: label 5 at index 5 is out of range (expected 0..4)');
  throwsUserError(() => checkLabels({ y: Int32Array.from([0, -1]) }, 5, 'here'), 'here: label -1 at index 1');
});
