/**
 * A small seeded data set that networks can learn in seconds, for tests and quick experiments
 * (`--data synthetic`). Each class has a random prototype image with values uniform in [0, 1]; an example
 * is its class prototype plus Gaussian noise (std `noise`), clipped to [0, 1]. Labels are balanced
 * (each class appears ⌊n/k⌋ or ⌈n/k⌉ times) in a seeded random order. Training and test examples are drawn
 * from the same prototypes with independent noise. Everything follows from the seed.
 */
import { UserError } from '../errors.js';
import { Rng, deriveSeed } from '../util/random.js';
import type { DataSplit, Dataset } from './types.js';

export interface SyntheticOptions {
  /** Seed of prototypes, labels and noise; default 1. */
  seed?: number;
  /** Training examples; default 512. */
  n?: number;
  /** Test examples; default 256; 0 gives no test set. */
  nTest?: number;
  /** Shape of one example [height, width, channels]; default [8, 8, 1]. */
  shape?: [number, number, number];
  /** Number of classes (at least 2); default 10. */
  numClasses?: number;
  /** Standard deviation of the noise added to the prototypes; default 0.25. */
  noise?: number;
}

export const SYNTHETIC_DEFAULTS = { seed: 1, n: 512, nTest: 256, shape: [8, 8, 1] as [number, number, number], numClasses: 10, noise: 0.25 };

function checkInt(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new UserError(`--data synthetic: ${what} must be an integer ≥ ${min} (got ${value})`);
  }
}

/** Balanced labels in seeded random order. */
function balancedLabels(n: number, k: number, rng: Rng): Int32Array {
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % k;
  return rng.shuffle(y);
}

function examples(prototypes: Float32Array, size: number, y: Int32Array, noise: number, rng: Rng): Float32Array {
  const x = new Float32Array(y.length * size);
  for (let i = 0; i < y.length; i++) {
    const p = y[i] * size;
    for (let j = 0; j < size; j++) {
      const v = prototypes[p + j] + noise * rng.normal();
      x[i * size + j] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return x;
}

/** Make the synthetic data set (deterministic for given options). */
export function makeSynthetic(opts: SyntheticOptions = {}): DataSplit {
  const seed = opts.seed ?? SYNTHETIC_DEFAULTS.seed;
  const n = opts.n ?? SYNTHETIC_DEFAULTS.n;
  const nTest = opts.nTest ?? SYNTHETIC_DEFAULTS.nTest;
  const shape: [number, number, number] = [...(opts.shape ?? SYNTHETIC_DEFAULTS.shape)];
  const numClasses = opts.numClasses ?? SYNTHETIC_DEFAULTS.numClasses;
  const noise = opts.noise ?? SYNTHETIC_DEFAULTS.noise;
  if (!Number.isFinite(seed)) throw new UserError(`--data synthetic: seed must be a number (got ${seed})`);
  checkInt(n, 'n', 1);
  checkInt(nTest, 'test size', 0);
  checkInt(numClasses, 'classes', 2); // a classifier needs at least two classes
  if (shape.length !== 3) throw new UserError(`--data synthetic: shape must be HxWxC (got ${shape.join('x')})`);
  shape.forEach((d) => checkInt(d, 'each shape dimension', 1));
  if (!(noise >= 0) || !Number.isFinite(noise)) throw new UserError(`--data synthetic: noise must be a number ≥ 0 (got ${noise})`);

  const size = shape[0] * shape[1] * shape[2];
  const protoRng = new Rng(deriveSeed(seed, 'synthetic-prototypes'));
  const prototypes = new Float32Array(numClasses * size);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = protoRng.uniform();

  const make = (count: number, purpose: string): Dataset => {
    const y = balancedLabels(count, numClasses, new Rng(deriveSeed(seed, `synthetic-${purpose}-labels`)));
    const x = examples(prototypes, size, y, noise, new Rng(deriveSeed(seed, `synthetic-${purpose}-noise`)));
    return { name: 'synthetic', shape: [shape[0], shape[1], shape[2]], numClasses, n: count, x, y };
  };
  return { train: make(n, 'train'), test: nTest > 0 ? make(nTest, 'test') : null };
}
