/**
 * The data a run trains on, derived from its configuration alone, so that measuring a run later sees
 * exactly the same points, labels and preprocessing:
 *   1. load the data set (inputs scaled to [0, 1]);
 *   2. the seeded, nested training subset (--train-size);
 *   3. random labels, drawn once with the seed (--labels random);
 *   4. the confusion set: extra random-labelled points from the rest of the training set (--confusion);
 *   5. per-channel normalisation with the statistics of the resulting training set, applied to the test set too.
 */
import path from 'node:path';
import fs from 'node:fs';
import { UserError } from '../errors.js';
import { emptyClasses, loadData } from '../data/index.js';
import { channelStats, complement, normalize, randomLabels, subsetIndices, take, withConfusion } from '../data/transforms.js';
import { ChannelStats, Dataset } from '../data/types.js';
import { readJsonOrFail } from '../util/fsx.js';
import { RunConfig, makeConfig } from './config.js';

export interface PreparedData {
  /** The training set, normalised, with the labels used in training. */
  train: Dataset;
  /** The first trueCount training points carry their true labels (unless labels = random); the rest is the confusion set. */
  trueCount: number;
  /** The held-out test set with true labels, normalised with the training statistics; null if the data has none. */
  test: Dataset | null;
  stats: ChannelStats;
}

/**
 * `checkClasses` (default true): refuse labels inferred from the data (IDX) whose range 0..max leaves
 * classes without a training example, unless --classes says how many classes there are (a stray label
 * of 200 would otherwise train a 201-class network). Measuring a recorded run passes false.
 */
export function prepareData(config: RunConfig, opts: { checkClasses?: boolean } = {}): PreparedData {
  // the data depends on its spec only, not on the run seed
  const split = loadData(config.data, config.classes !== undefined ? { classes: config.classes } : {});
  const full = split.train;
  if (opts.checkClasses ?? true) checkClassRange(full, config.data);
  let trueSet: Dataset = full;
  let indices: Int32Array | null = null;
  if (config.trainSize !== null) {
    if (config.trainSize > full.n) {
      throw new UserError(`--train-size ${config.trainSize} is larger than the training set (${full.n} examples in ${full.name})`);
    }
    indices = subsetIndices(full.n, config.trainSize, config.seed);
    trueSet = take(full, indices);
  }
  if (config.labels === 'random') trueSet = randomLabels(trueSet, config.seed);
  let train = trueSet;
  const trueCount = trueSet.n;
  if (config.confusion > 0) {
    const pool = indices ? complement(full, indices) : null;
    if (!pool || pool.n === 0) throw new UserError('--confusion needs a --train-size smaller than the training set (the confusion points come from the rest)');
    train = withConfusion(trueSet, pool, config.confusion, config.seed, '--confusion').data;
  }
  const stats = channelStats(train);
  return {
    train: normalize(train, stats),
    trueCount,
    test: split.test ? normalize(split.test, stats) : null,
    stats,
  };
}

/** The number of classes a network is trained for must be at least 2, and inferred classes must all occur. */
export function checkClassRange(full: Dataset, spec: string): void {
  if (full.numClasses < 2) {
    throw new UserError(`--data ${spec}: every training label is ${full.numClasses - 1}, so there is one class; a classifier needs at least 2 (--classes N sets the number of classes)`);
  }
  if (!full.classesInferred) return;
  const empty = emptyClasses(full);
  if (empty.length === 0) return;
  const k = full.numClasses;
  const shown = empty.length <= 5 ? empty.join(', ') : `${empty.slice(0, 5).join(', ')}, …`;
  throw new UserError(
    `--data ${spec}: the training labels run from 0 to ${k - 1}, but ${empty.length} of these ${k} classes have no training point (${shown}); pass --classes ${k} to train a ${k}-class network anyway`,
  );
}

/** Resolve a run's run.json from a path to the file or to its folder. */
export function resolveRunJson(p: string): string {
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return path.join(p, 'run.json');
  return p;
}

/**
 * The exact training data of a recorded run (points, labels, normalisation). The normalisation
 * statistics are recomputed and checked against the recorded ones.
 */
export function loadRunData(runJsonPath: string): PreparedData & { config: RunConfig; run: any } {
  const file = resolveRunJson(runJsonPath);
  const run = readJsonOrFail(file, '--data');
  if (!run || typeof run !== 'object' || !run.config) throw new UserError(`--data: ${file} is not a genmeasures run.json (no "config")`);
  const config = makeConfig(run.config);
  const prepared = prepareData(config, { checkClasses: false }); // the run's network fixed its classes
  const recorded: ChannelStats | undefined = run.data?.normalization;
  if (recorded) {
    const same = recorded.mean.every((m, i) => Math.abs(m - prepared.stats.mean[i]) <= 1e-6 * Math.max(1, Math.abs(m)))
      && recorded.std.every((s, i) => Math.abs(s - prepared.stats.std[i]) <= 1e-6 * Math.max(1, Math.abs(s)));
    if (!same) throw new UserError(`--data: the data named in ${file} (${config.data}) is not the data the run was trained on (normalisation statistics differ)`);
  }
  return { ...prepared, config, run };
}
