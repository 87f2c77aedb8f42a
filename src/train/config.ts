/**
 * The full configuration of one training run: with the backend, it determines every number of the run.
 * Defaults are the paper's released code (docs/definitions.md, "Training").
 */
import { UserError } from '../errors.js';

export interface RunConfig {
  /** Data spec: mnist, idx:DIR, cifar10:DIR, synthetic. */
  data: string;
  /** Model spec: mlp:1024, mlp:512,512, vgg:16,16,M,32,32,M. */
  model: string;
  /** Size of the (seeded, nested) training subset; null = the whole training set. */
  trainSize: number | null;
  /** 'true' labels or 'random' labels (drawn once with the seed). */
  labels: 'true' | 'random';
  /** Number of extra random-labelled points (the paper's confusion set) added to the training set. */
  confusion: number;
  bias: boolean;
  seed: number;
  lr: number;
  momentum: number;
  batchSize: number;
  /** Stop when the epoch-average training cross-entropy is below this. */
  targetLoss: number;
  maxEpochs: number;
  /** Wall-clock cap in minutes; null = none. */
  maxMinutes: number | null;
  /**
   * Number of classes (outputs of the network), --classes; absent = the data set's (the largest training
   * label + 1 for IDX files). Absent, not null, when not given: the configuration is hashed into run and
   * checkpoint keys (experiments/plan.ts), which must not change for the configurations without it.
   */
  classes?: number;
}

export const DEFAULT_CONFIG: RunConfig = {
  data: 'mnist',
  model: 'mlp:1024',
  trainSize: null,
  labels: 'true',
  confusion: 0,
  bias: false,
  seed: 1,
  lr: 0.01,
  momentum: 0.9,
  batchSize: 64,
  targetLoss: 0.01,
  maxEpochs: 1000,
  maxMinutes: null,
};

/** Fill defaults and check a (possibly partial, possibly read from JSON) configuration. */
export function makeConfig(partial: Partial<RunConfig>): RunConfig {
  const c: RunConfig = { ...DEFAULT_CONFIG, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  if (c.labels !== 'true' && c.labels !== 'random') throw new UserError(`--labels: "${c.labels}" is not one of true, random`);
  const positive = (v: number, name: string) => {
    if (!(Number.isFinite(v) && v > 0)) throw new UserError(`--${name}: ${v} must be a positive number`);
  };
  positive(c.lr, 'lr');
  positive(c.batchSize, 'batch-size');
  positive(c.maxEpochs, 'max-epochs');
  if (!(c.momentum >= 0 && c.momentum < 1)) throw new UserError(`--momentum: ${c.momentum} must be in [0, 1)`);
  if (!(c.targetLoss >= 0)) throw new UserError(`--target-loss: ${c.targetLoss} must be ≥ 0`);
  if (c.maxMinutes !== null) positive(c.maxMinutes, 'max-minutes');
  if (c.trainSize !== null && !(Number.isInteger(c.trainSize) && c.trainSize > 0)) {
    throw new UserError(`--train-size: ${c.trainSize} must be a positive whole number`);
  }
  if (!(Number.isInteger(c.confusion) && c.confusion >= 0)) throw new UserError(`--confusion: ${c.confusion} must be a whole number ≥ 0`);
  if (c.classes === undefined || c.classes === null) delete c.classes;
  else if (!(Number.isInteger(c.classes) && c.classes >= 2)) throw new UserError(`--classes: ${c.classes} must be a whole number ≥ 2`);
  return c;
}
