/**
 * Experiment 1 (paper section 3, Fig. 1 and Fig. 2): true versus random labels over training-set size.
 * For each size, one network on true labels and one on random labels, with the same seed, so that both
 * see the same (nested) subset: the 2000-point subset contains the 1000-point one.
 *
 * The paper predicts: the random-label networks fit their training set too (training error 0) but do not
 * generalize, and the measures that explain generalization (norms and margins, sharpness with the norm,
 * PAC-Bayes) are larger for them than for the true-label networks, by a gap that grows with the size.
 */
import { UserError } from '../errors.js';
import { makeConfig } from '../train/config.js';
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

export interface RandomLabelsSettings {
  /** null: the user must name the data (--data); the paper's experiment uses CIFAR-10. */
  data: string | null;
  model: string;
  sizes: number[];
  seed: number;
  maxEpochs: number;
  maxMinutes: number | null;
  measureOptions: Partial<StoredMeasureOptions>;
}

export const RANDOM_LABELS_PRESETS: Record<PresetName, RandomLabelsSettings> = {
  quick: {
    data: 'mnist',
    model: 'mlp:512',
    sizes: [500, 1000, 2000, 4000, 8000],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
  paper: {
    data: null,
    model: 'vgg:16,M,32,M,64,M',
    sizes: [5000, 10000, 20000, 30000, 40000, 50000],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
};

export function randomLabelsPlan(preset: PresetName, overrides: PlanOverrides = {}): ExperimentPlan {
  rejectOverrides('random-labels', overrides, ['confusionSizes', 'widths', 'trainSize']);
  const s = RANDOM_LABELS_PRESETS[preset];
  const data = overrides.data ?? s.data;
  if (data === null) {
    throw new UserError('--preset paper of random-labels trains on CIFAR-10: name its folder with --data cifar10:DIR (the binary version, data_batch_1.bin …)');
  }
  const measureOptions = resolveMeasureOptions({ ...s.measureOptions, ...overrides.measureOptions });
  const runs: RunSpec[] = [];
  for (const size of ascending(overrides.sizes ?? s.sizes)) {
    for (const labels of ['true', 'random'] as const) {
      const config = makeConfig({
        data,
        model: overrides.model ?? s.model,
        trainSize: size,
        labels,
        seed: overrides.seed ?? s.seed,
        maxEpochs: overrides.maxEpochs ?? s.maxEpochs,
        maxMinutes: overrides.maxMinutes !== undefined ? overrides.maxMinutes : s.maxMinutes,
        targetLoss: overrides.targetLoss,
      });
      runs.push({ experiment: 'random-labels', label: `size=${size} labels=${labels}`, size, labels, confusion: 0, width: null, config, measureOptions });
    }
  }
  return checkPlan({
    experiment: 'random-labels',
    preset,
    description:
      'True versus random labels over training-set size (paper Fig. 1, 2): for each size, one network on true labels and one on random labels (same seed, nested subsets).',
    runs,
  });
}
