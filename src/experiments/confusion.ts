/**
 * Experiment 2 (paper section 3, Fig. 3): different global minima of the same true-labelled data.
 * A fixed true-labelled training set plus a random-labelled "confusion set" of growing size (drawn from
 * the rest of the training set, nested as it grows). Every network is trained to zero training error on
 * the union; the measures are computed on the true-labelled part only (the runner measures the first
 * `trueCount` points of the prepared training set); test error is measured on held-out data.
 *
 * The paper predicts: test error rises with the confusion set, and so do the norm-based measures and the
 * PAC-Bayes bound computed on the true-labelled part.
 */
import { makeConfig } from '../train/config.js';
import { UserError } from '../errors.js';
import {
  ExperimentPlan,
  PlanOverrides,
  PresetName,
  RunSpec,
  StoredMeasureOptions,
  ascending,
  checkPlan,
  rejectOverrides,
  resolveMeasureOptions,
} from './plan.js';

export interface ConfusionSettings {
  data: string | null;
  model: string;
  /** Size of the true-labelled set. */
  trainSize: number;
  confusionSizes: number[];
  seed: number;
  maxEpochs: number;
  maxMinutes: number | null;
  measureOptions: Partial<StoredMeasureOptions>;
}

export const CONFUSION_PRESETS: Record<PresetName, ConfusionSettings> = {
  quick: {
    data: 'mnist',
    model: 'mlp:512',
    trainSize: 2000,
    confusionSizes: [0, 250, 500, 1000, 2000],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
  paper: {
    data: null,
    model: 'vgg:16,M,32,M,64,M',
    trainSize: 10000,
    confusionSizes: [0, 1000, 2000, 3000, 4000, 5000],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
};

export function confusionPlan(preset: PresetName, overrides: PlanOverrides = {}): ExperimentPlan {
  rejectOverrides('confusion', overrides, ['sizes', 'widths']);
  const s = CONFUSION_PRESETS[preset];
  const data = overrides.data ?? s.data;
  if (data === null) {
    throw new UserError('--preset paper of confusion trains on CIFAR-10: name its folder with --data cifar10:DIR (the binary version, data_batch_1.bin …)');
  }
  const trainSize = overrides.trainSize ?? s.trainSize;
  const measureOptions = resolveMeasureOptions({ ...s.measureOptions, ...overrides.measureOptions });
  const runs: RunSpec[] = ascending(overrides.confusionSizes ?? s.confusionSizes).map((confusion) => ({
    experiment: 'confusion',
    label: `true=${trainSize} confusion=${confusion}`,
    size: trainSize,
    labels: 'true',
    confusion,
    width: null,
    config: makeConfig({
      data,
      model: overrides.model ?? s.model,
      trainSize,
      labels: 'true',
      confusion,
      seed: overrides.seed ?? s.seed,
      maxEpochs: overrides.maxEpochs ?? s.maxEpochs,
      maxMinutes: overrides.maxMinutes !== undefined ? overrides.maxMinutes : s.maxMinutes,
      targetLoss: overrides.targetLoss,
    }),
    measureOptions,
  }));
  return checkPlan({
    experiment: 'confusion',
    preset,
    description: `Different global minima (paper Fig. 3): ${trainSize} true-labelled points plus a random-labelled confusion set of growing size; measures on the true-labelled part, test error on held-out data.`,
    runs,
  });
}
