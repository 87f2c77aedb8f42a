/**
 * Reader (and writer) for the IDX format of the original MNIST files, so users can train on the full
 * MNIST (or any data set saved as IDX, e.g. Fashion-MNIST) from a folder: `--data idx:DIR`.
 *
 * IDX layout: two zero bytes, a type byte (0x08 ubyte, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64), a byte with the number of dimensions, each dimension as a big-endian uint32, then the
 * values, big-endian, in row-major order. Files may be gzipped (they are as downloaded); we gunzip them
 * transparently when they start with the gzip signature 0x1f 0x8b.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';
import type { DataSplit, Dataset } from './types.js';

/** Element type of an IDX file. */
export type IdxType = 'ubyte' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** The contents of an IDX file: element type, dimensions and values (row-major, host byte order). */
export interface IdxArray {
  type: IdxType;
  dims: number[];
  data: IdxData;
}

const TYPE_CODES: Record<IdxType, number> = {
  ubyte: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};
const TYPE_SIZES: Record<IdxType, number> = { ubyte: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

function typeOfCode(code: number): IdxType | null {
  for (const t of Object.keys(TYPE_CODES) as IdxType[]) if (TYPE_CODES[t] === code) return t;
  return null;
}

function hex32(buf: Buffer): string {
  return '0x' + buf.readUInt32BE(0).toString(16).padStart(8, '0');
}

/** True when the buffer starts with the gzip signature 0x1f 0x8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/**
 * Parse an IDX file held in memory (gzipped or not). `file` is only used in error messages.
 * Throws a UserError for a corrupt gzip stream, a bad magic number, or a data length that does not
 * match the header exactly.
 */
export function parseIdx(buf: Buffer, file: string): IdxArray {
  let afterGunzip = '';
  if (isGzip(buf)) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new UserError(`idx: ${file} is not a valid gzip file (${(e as Error).message.split('\n')[0]})`);
    }
    afterGunzip = ' after gunzip';
  }
  if (buf.length < 4) {
    throw new UserError(`idx: ${file} is too short to be an IDX file (${buf.length} bytes${afterGunzip})`);
  }
  const type = typeOfCode(buf[2]);
  const ndims = buf[3];
  if (buf[0] !== 0 || buf[1] !== 0 || ndims === 0) {
    throw new UserError(`idx: ${file}: bad magic number ${hex32(buf)} (not an IDX file)`);
  }
  if (type === null) {
    throw new UserError(
      `idx: ${file}: bad magic number ${hex32(buf)}: unknown type byte 0x${buf[2].toString(16).padStart(2, '0')} (expected 0x08 ubyte, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new UserError(
      `idx: ${file} is truncated: the header says ${ndims} dimensions (${headerBytes} header bytes) but the file has ${buf.length} bytes${afterGunzip}`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const size = TYPE_SIZES[type];
  const want = count * size;
  const have = buf.length - headerBytes;
  if (have !== want) {
    const what = have < want ? 'is truncated' : 'has extra bytes';
    throw new UserError(
      `idx: ${file} ${what}: header says ${dims.join('x')} (${want} bytes of data) but the file has ${have} bytes of data${afterGunzip}`,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset + headerBytes, have);
  let data: IdxData;
  switch (type) {
    case 'ubyte':
      data = new Uint8Array(buf.subarray(headerBytes)); // a copy, independent of the file buffer
      break;
    case 'int8':
      data = new Int8Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt8(i);
      break;
    case 'int16':
      data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(2 * i, false);
      break;
    case 'int32':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(4 * i, false);
      break;
    case 'float32':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, false);
      break;
    case 'float64':
      data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, false);
      break;
  }
  return { type, dims, data };
}

function idxTypeOf(data: IdxData): IdxType {
  if (data instanceof Uint8Array) return 'ubyte';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/**
 * Encode values as an (uncompressed) IDX file; the element type follows the array type
 * (Uint8Array → ubyte, Float32Array → float32, …). Gzip the result with zlib.gzipSync if wanted.
 * Useful to export data for other tools and to build test fixtures.
 */
export function encodeIdx(data: IdxData, dims: number[]): Buffer {
  const count = dims.reduce((a, b) => a * b, 1);
  if (dims.length === 0 || dims.length > 255 || count !== data.length) {
    throw new Error(`encodeIdx: dims ${dims.join('x')} do not match ${data.length} values`);
  }
  const type = idxTypeOf(data);
  const size = TYPE_SIZES[type];
  const header = 4 + 4 * dims.length;
  const buf = Buffer.alloc(header + count * size);
  buf[2] = TYPE_CODES[type];
  buf[3] = dims.length;
  dims.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  const view = new DataView(buf.buffer, buf.byteOffset + header, count * size);
  for (let i = 0; i < count; i++) {
    const v = data[i];
    switch (type) {
      case 'ubyte': view.setUint8(i, v); break;
      case 'int8': view.setInt8(i, v); break;
      case 'int16': view.setInt16(2 * i, v, false); break;
      case 'int32': view.setInt32(4 * i, v, false); break;
      case 'float32': view.setFloat32(4 * i, v, false); break;
      case 'float64': view.setFloat64(8 * i, v, false); break;
    }
  }
  return buf;
}

/** Read and parse one IDX file (gzipped or not) from disk. */
export function readIdxFile(file: string): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new UserError(`idx: cannot read ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseIdx(buf, file);
}

/** The four files of an IDX data set; `rank` is the number in the usual file name (idx3, idx1). */
const PARTS = {
  trainImages: { base: 'train-images', ranks: [3, 4] },
  trainLabels: { base: 'train-labels', ranks: [1] },
  testImages: { base: 't10k-images', ranks: [3, 4] },
  testLabels: { base: 't10k-labels', ranks: [1] },
} as const;
type Part = keyof typeof PARTS;

/**
 * File names accepted for one part, in order of preference: `train-images-idx3-ubyte`, then the dotted
 * variant `train-images.idx3-ubyte`, each first uncompressed then with `.gz` (so a folder where the files
 * were gunzipped with -k uses the uncompressed copies); idx4 names are also accepted for images.
 */
export function idxCandidateNames(part: Part): string[] {
  const { base, ranks } = PARTS[part];
  const names: string[] = [];
  for (const r of ranks) {
    for (const sep of ['-', '.']) {
      names.push(`${base}${sep}idx${r}-ubyte`, `${base}${sep}idx${r}-ubyte.gz`);
    }
  }
  return names;
}

function findPart(dir: string, part: Part): string | null {
  for (const name of idxCandidateNames(part)) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function describeCandidates(part: Part): string {
  const { base, ranks } = PARTS[part];
  return `${base}-idx${ranks[0]}-ubyte[.gz] (or ${base}.idx${ranks[0]}-ubyte[.gz])`;
}

interface Images {
  n: number;
  shape: [number, number, number];
  x: Float32Array;
}

/** Turn an IDX array into images: ubyte → value/255, float32/float64 → as is; rank 3 → [h,w,1], rank 4 → [h,w,c]. */
function toImages(a: IdxArray, file: string): Images {
  if (a.dims.length !== 3 && a.dims.length !== 4) {
    throw new UserError(
      `idx: ${file} has ${a.dims.length} dimensions (${a.dims.join('x')}); images need 3 (n x h x w) or 4 (n x h x w x c)`,
    );
  }
  const [n, h, w] = a.dims;
  const c = a.dims.length === 4 ? a.dims[3] : 1;
  if (n === 0 || h === 0 || w === 0 || c === 0) {
    throw new UserError(`idx: ${file} holds no images (dimensions ${a.dims.join('x')})`);
  }
  let x: Float32Array;
  if (a.type === 'ubyte') {
    x = new Float32Array(a.data.length);
    for (let i = 0; i < x.length; i++) x[i] = a.data[i] / 255;
  } else if (a.type === 'float32' || a.type === 'float64') {
    x = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) throw new UserError(`idx: ${file} has a non-finite value (${x[i]}) at position ${i}`);
    }
  } else {
    throw new UserError(`idx: ${file} holds ${a.type} images; expected ubyte (scaled by 1/255) or float32 (used as is)`);
  }
  return { n, shape: [h, w, c], x };
}

/** Turn an IDX array into labels: rank 1, non-negative integers. */
function toLabels(a: IdxArray, file: string): Int32Array {
  if (a.dims.length !== 1) {
    throw new UserError(`idx: ${file} has ${a.dims.length} dimensions (${a.dims.join('x')}); labels need 1`);
  }
  const y = new Int32Array(a.data.length);
  for (let i = 0; i < y.length; i++) {
    const v = a.data[i];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new UserError(`idx: ${file}: label ${v} at index ${i} is not a non-negative integer`);
    }
    y[i] = v;
  }
  return y;
}

function loadPair(imagesFile: string, labelsFile: string): { images: Images; labels: Int32Array } {
  const images = toImages(readIdxFile(imagesFile), imagesFile);
  const labels = toLabels(readIdxFile(labelsFile), labelsFile);
  if (images.n !== labels.length) {
    throw new UserError(
      `idx: ${imagesFile} has ${images.n} images but ${labelsFile} has ${labels.length} labels`,
    );
  }
  return { images, labels };
}

/**
 * Load an IDX data set from a folder: training images and labels (required) and test images and labels
 * (optional; test is null when both are absent). numClasses is `opts.classes` (--classes) when given, and
 * every label must be below it; otherwise it is the largest training label + 1 (classesInferred), and test
 * labels must be below it. The data set is named `idx:DIR` with DIR as given.
 */
export function loadIdx(dir: string, opts: { classes?: number } = {}): DataSplit {
  if (!existsSync(dir)) throw new UserError(`idx: folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UserError(`idx: ${dir} is not a folder`);
  const found = {} as Record<Part, string | null>;
  for (const part of Object.keys(PARTS) as Part[]) found[part] = findPart(dir, part);

  if (!found.trainImages || !found.trainLabels) {
    const missing = (['trainImages', 'trainLabels'] as Part[]).filter((p) => !found[p]).map(describeCandidates);
    throw new UserError(`idx: folder ${dir} has no training data: looked for ${missing.join(' and ')}`);
  }
  if (!found.testImages !== !found.testLabels) {
    const have = (found.testImages ?? found.testLabels) as string;
    const missing = describeCandidates(found.testImages ? 'testLabels' : 'testImages');
    throw new UserError(`idx: folder ${dir} has ${have} but not ${missing}; give both test files or neither`);
  }

  const name = `idx:${dir}`;
  const train = loadPair(found.trainImages, found.trainLabels);
  const given = opts.classes;
  let numClasses = 0;
  for (const v of train.labels) if (v + 1 > numClasses) numClasses = v + 1;
  if (given !== undefined) {
    const bad = train.labels.findIndex((v) => v >= given);
    if (bad >= 0) {
      throw new UserError(`idx: ${found.trainLabels}: label ${train.labels[bad]} at index ${bad} is not below --classes ${given}`);
    }
    numClasses = given;
  }
  const trainSet: Dataset = { name, shape: train.images.shape, numClasses, n: train.images.n, x: train.images.x, y: train.labels };
  if (given === undefined) trainSet.classesInferred = true;

  let testSet: Dataset | null = null;
  if (found.testImages && found.testLabels) {
    const test = loadPair(found.testImages, found.testLabels);
    if (test.images.shape.join('x') !== train.images.shape.join('x')) {
      throw new UserError(
        `idx: ${found.testImages} has images of shape ${test.images.shape.join('x')} but the training images are ${train.images.shape.join('x')}`,
      );
    }
    const bad = test.labels.findIndex((v) => v >= numClasses);
    if (bad >= 0) {
      throw new UserError(
        given !== undefined
          ? `idx: ${found.testLabels}: label ${test.labels[bad]} at index ${bad} is not below --classes ${given}`
          : `idx: ${found.testLabels}: label ${test.labels[bad]} at index ${bad} is out of range (the training labels are 0..${numClasses - 1}; --classes N sets the number of classes)`,
      );
    }
    testSet = { name, shape: test.images.shape, numClasses, n: test.images.n, x: test.images.x, y: test.labels };
  }
  return { train: trainSet, test: testSet };
}
