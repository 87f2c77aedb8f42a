/**
 * Pure transformations of data sets used by the experiments: nested training-set subsets, random labels,
 * confusion sets (true-labelled data plus random-labelled extra points), and per-channel normalisation.
 *
 * Every function here returns new arrays and never mutates its inputs, so a cached data set (e.g. the
 * embedded MNIST) can be shared safely. Every random choice uses an Rng seeded with deriveSeed(seed, purpose).
 * Transformed data sets keep the name of their source (error messages then name the data the user chose).
 */
import { UserError } from '../errors.js';
import { Rng, deriveSeed } from '../util/random.js';
import { exampleSize, type ChannelStats, type Dataset } from './types.js';

/**
 * The first `size` entries of a seeded permutation of 0..n-1 (purpose names the random stream).
 * Because the permutation depends only on (n, seed, purpose), the indices for a smaller size are a prefix
 * of those for a larger one: subsets are nested.
 */
function nestedIndices(n: number, size: number, seed: number, purpose: string): Int32Array {
  return new Rng(deriveSeed(seed, purpose)).permutation(n).slice(0, size);
}

/**
 * Indices of a seeded subset of `size` of the examples 0..n-1, in the (random) order they were drawn.
 * Nested: for the same n and seed, subsetIndices(n, 2000, s) is a prefix of subsetIndices(n, 5000, s).
 * Throws a UserError (naming `option`) when size is not an integer in 1..n.
 */
export function subsetIndices(n: number, size: number, seed: number, option = '--train-size'): Int32Array {
  if (!Number.isInteger(size) || size <= 0) {
    throw new UserError(`${option} must be a positive integer (got ${size})`);
  }
  if (size > n) throw new UserError(`${option} ${size} is larger than the data set (${n} examples)`);
  return nestedIndices(n, size, seed, 'subset');
}

/** A new data set made of the examples at `indices`, in that order (indices may repeat). */
export function take(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = exampleSize(ds);
  const m = indices.length;
  const x = new Float32Array(m * size);
  const y = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const j = indices[i];
    if (!Number.isInteger(j) || j < 0 || j >= ds.n) throw new RangeError(`take: index ${j} is outside 0..${ds.n - 1}`);
    x.set(ds.x.subarray(j * size, (j + 1) * size), i * size);
    y[i] = ds.y[j];
  }
  return { name: ds.name, shape: [ds.shape[0], ds.shape[1], ds.shape[2]], numClasses: ds.numClasses, n: m, x, y };
}

/** The indices of 0..n-1 that are not in `indices`, in increasing order. */
export function complementIndices(n: number, indices: ArrayLike<number>): Int32Array {
  const used = new Uint8Array(n);
  for (let i = 0; i < indices.length; i++) used[indices[i]] = 1;
  let count = 0;
  for (let i = 0; i < n; i++) if (!used[i]) count++;
  const out = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < n; i++) if (!used[i]) out[at++] = i;
  return out;
}

/** The examples of `ds` not at `indices` (in their original order): the pool left over after a subset. */
export function complement(ds: Dataset, indices: ArrayLike<number>): Dataset {
  return take(ds, complementIndices(ds.n, indices));
}

/**
 * A seeded subset of `size` examples (see subsetIndices: nested as size grows for the same seed).
 * size > n → UserError like `--train-size 20000 is larger than the training set (8000 examples in mnist)`.
 */
export function subset(ds: Dataset, size: number, seed: number, option = '--train-size'): Dataset {
  if (Number.isInteger(size) && size > ds.n) {
    throw new UserError(`${option} ${size} is larger than the training set (${ds.n} examples in ${ds.name})`);
  }
  return take(ds, subsetIndices(ds.n, size, seed, option));
}

/**
 * The same examples with labels drawn uniformly from 0..numClasses-1 by Rng(deriveSeed(seed, 'labels')),
 * one draw per example in order. Drawn once: training reuses these labels in every epoch.
 */
export function randomLabels(ds: Dataset, seed: number): Dataset {
  const rng = new Rng(deriveSeed(seed, 'labels'));
  const y = new Int32Array(ds.n);
  for (let i = 0; i < ds.n; i++) y[i] = rng.int(ds.numClasses);
  return { ...ds, shape: [ds.shape[0], ds.shape[1], ds.shape[2]], x: ds.x.slice(), y };
}

/** `a` followed by `b` (same shape and number of classes). The name is a's. */
export function concat(a: Dataset, b: Dataset): Dataset {
  if (a.shape.join('x') !== b.shape.join('x') || a.numClasses !== b.numClasses) {
    throw new UserError(
      `cannot join data sets of shape ${a.shape.join('x')} (${a.numClasses} classes) and ${b.shape.join('x')} (${b.numClasses} classes)`,
    );
  }
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x, 0);
  x.set(b.x, a.x.length);
  const y = new Int32Array(a.n + b.n);
  y.set(a.y, 0);
  y.set(b.y, a.n);
  return { name: a.name, shape: [a.shape[0], a.shape[1], a.shape[2]], numClasses: a.numClasses, n: a.n + b.n, x, y };
}

/**
 * The paper's "confusion set" experiment (Fig. 3): the true-labelled set followed by `size` extra points
 * drawn from `pool` with random labels. `pool` should hold training points not in `trueSet` (e.g.
 * complement(train, subsetIndices(...))). The extra points and their labels are both nested as size grows
 * for the same seed: the confusion set of size 1000 is the first 1000 extra points of the one of size 2000,
 * with the same labels. `trueCount` (= trueSet.n) tells measures which leading part carries true labels.
 */
export function withConfusion(
  trueSet: Dataset,
  pool: Dataset,
  size: number,
  seed: number,
  option = '--confusion-size',
): { data: Dataset; trueCount: number } {
  if (!Number.isInteger(size) || size < 0) throw new UserError(`${option} must be an integer ≥ 0 (got ${size})`);
  if (size > pool.n) {
    throw new UserError(`${option} ${size} is larger than the pool of training points outside the true-labelled set (${pool.n} examples in ${pool.name})`);
  }
  const extra = take(pool, nestedIndices(pool.n, size, seed, 'confusion'));
  const rng = new Rng(deriveSeed(seed, 'confusion-labels'));
  for (let i = 0; i < extra.n; i++) extra.y[i] = rng.int(trueSet.numClasses);
  return { data: concat(trueSet, extra), trueCount: trueSet.n };
}

/** Per-channel mean and population standard deviation over all examples and pixels (float64 sums, two passes). */
export function channelStats(ds: Dataset): ChannelStats {
  const c = ds.shape[2];
  const count = ds.x.length / c;
  const mean = new Array<number>(c).fill(0);
  const std = new Array<number>(c).fill(0);
  if (count === 0) return { mean, std };
  for (let i = 0; i < ds.x.length; i++) mean[i % c] += ds.x[i];
  for (let k = 0; k < c; k++) mean[k] /= count;
  const ss = new Array<number>(c).fill(0);
  for (let i = 0; i < ds.x.length; i++) {
    const d = ds.x[i] - mean[i % c];
    ss[i % c] += d * d;
  }
  for (let k = 0; k < c; k++) std[k] = Math.sqrt(ss[k] / count);
  return { mean, std };
}

/**
 * (x - mean) / std per channel. A channel with std 0 (constant, e.g. a blank channel) would divide by zero,
 * so it is divided by 1 instead: it is only centred. Stats with the wrong number of channels → UserError.
 */
export function normalize(ds: Dataset, stats: ChannelStats): Dataset {
  const c = ds.shape[2];
  if (stats.mean.length !== c || stats.std.length !== c) {
    throw new UserError(
      `normalisation statistics have ${stats.mean.length} means and ${stats.std.length} stds but ${ds.name} has ${c} channel(s)`,
    );
  }
  const mean = stats.mean.map(Number);
  const inv = stats.std.map((s) => (s > 0 && Number.isFinite(s) ? 1 / s : 1));
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) {
    const k = i % c;
    x[i] = (ds.x[i] - mean[k]) * inv[k];
  }
  return { ...ds, shape: [ds.shape[0], ds.shape[1], ds.shape[2]], x, y: ds.y.slice() };
}

/** Throw a UserError (prefixed with `where`) if a label is not an integer in 0..numClasses-1. */
export function checkLabels(ds: Pick<Dataset, 'y'>, numClasses: number, where: string): void {
  for (let i = 0; i < ds.y.length; i++) {
    const v = ds.y[i];
    if (!(v >= 0 && v < numClasses)) {
      throw new UserError(`${where}: label ${v} at index ${i} is out of range (expected 0..${numClasses - 1})`);
    }
  }
}
