/**
 * Loader for the binary version of CIFAR-10 (the paper's second data set): `--data cifar10:DIR`.
 *
 * Files: data_batch_1.bin … data_batch_5.bin (training) and test_batch.bin (test), either directly in DIR
 * or in its `cifar-10-batches-bin` subfolder (what the official archive unpacks to). Each record is one
 * label byte followed by 3072 pixel bytes: the 1024 red values, then 1024 green, then 1024 blue, each plane
 * row-major 32×32. We convert to the project's NHWC float32 layout, scaled by 1/255.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { DataSplit, Dataset } from './types.js';

export const CIFAR10_SIDE = 32;
export const CIFAR10_PLANE = CIFAR10_SIDE * CIFAR10_SIDE; // 1024
/** Bytes per record: 1 label byte + 3 × 1024 pixel bytes. */
export const CIFAR10_RECORD = 1 + 3 * CIFAR10_PLANE; // 3073
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_SUBFOLDER = 'cifar-10-batches-bin';

/** Decode the records of one batch file into NHWC float32 pixels (/255) and labels. */
export function decodeCifar10Batch(buf: Uint8Array, file: string): { n: number; x: Float32Array; y: Int32Array } {
  if (buf.length === 0 || buf.length % CIFAR10_RECORD !== 0) {
    throw new UserError(`cifar10: ${file} has ${buf.length} bytes, not a multiple of the ${CIFAR10_RECORD}-byte record`);
  }
  const n = buf.length / CIFAR10_RECORD;
  const x = new Float32Array(n * 3 * CIFAR10_PLANE);
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const rec = r * CIFAR10_RECORD;
    const label = buf[rec];
    if (label >= 10) {
      throw new UserError(`cifar10: ${file} record ${r} has label ${label} (CIFAR-10 labels are 0..9)`);
    }
    y[r] = label;
    const out = r * 3 * CIFAR10_PLANE;
    for (let p = 0; p < CIFAR10_PLANE; p++) {
      // pixel p = row*32 + col; NHWC puts its three channels next to each other.
      for (let c = 0; c < 3; c++) x[out + 3 * p + c] = buf[rec + 1 + c * CIFAR10_PLANE + p] / 255;
    }
  }
  return { n, x, y };
}

function readBatch(file: string): { n: number; x: Float32Array; y: Int32Array } {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new UserError(`cifar10: cannot read ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  return decodeCifar10Batch(buf, file);
}

/** The folder that holds the batch files: DIR itself, or DIR/cifar-10-batches-bin when DIR has none. */
function batchFolder(dir: string): string {
  const has = (d: string) => [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].some((f) => existsSync(join(d, f)));
  if (has(dir)) return dir;
  const sub = join(dir, CIFAR10_SUBFOLDER);
  if (has(sub)) return sub;
  return dir;
}

/**
 * Load CIFAR-10 from a folder. Uses whichever of data_batch_1..5.bin exist (at least one, concatenated in
 * order 1..5); test_batch.bin is optional (test is null without it). The data set is named `cifar10:DIR`.
 */
export function loadCifar10(dir: string): DataSplit {
  if (!existsSync(dir)) throw new UserError(`cifar10: folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UserError(`cifar10: ${dir} is not a folder`);
  const folder = batchFolder(dir);
  const trainFiles = CIFAR10_TRAIN_FILES.map((f) => join(folder, f)).filter((f) => existsSync(f));
  if (trainFiles.length === 0) {
    throw new UserError(
      `cifar10: folder ${dir} has no training batches: looked for data_batch_1.bin … data_batch_5.bin in ${dir} and in ${join(dir, CIFAR10_SUBFOLDER)}`,
    );
  }
  const batches = trainFiles.map(readBatch);
  const n = batches.reduce((s, b) => s + b.n, 0);
  const x = new Float32Array(n * 3 * CIFAR10_PLANE);
  const y = new Int32Array(n);
  let at = 0;
  for (const b of batches) {
    x.set(b.x, at * 3 * CIFAR10_PLANE);
    y.set(b.y, at);
    at += b.n;
  }
  const name = `cifar10:${dir}`;
  const shape: [number, number, number] = [CIFAR10_SIDE, CIFAR10_SIDE, 3];
  const train: Dataset = { name, shape, numClasses: 10, n, x, y };
  const testFile = join(folder, CIFAR10_TEST_FILE);
  let test: Dataset | null = null;
  if (existsSync(testFile)) {
    const t = readBatch(testFile);
    test = { name, shape: [CIFAR10_SIDE, CIFAR10_SIDE, 3], numClasses: 10, n: t.n, x: t.x, y: t.y };
  }
  return { train, test };
}
