/**
 * Experiment 3 (paper section 3, Fig. 4): increasing network size. One-hidden-layer MLPs (mlp:W) of
 * growing width W, all on the same MNIST training set (same seed: same subset and batch order).
 *
 * The paper predicts: test error keeps falling as the width grows, even after the training error has
 * reached zero; the norm-based measures follow it for small networks, but l2 and l1_path eventually stop
 * falling, and with their width factors (∏h_i) l2_path and spectral grow with the width.
 */
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

export interface WidthSettings {
  data: string;
  /** Training-set size (null = the whole training set of the data). */
  trainSize: number | null;
  widths: number[];
  seed: number;
  maxEpochs: number;
  maxMinutes: number | null;
  measureOptions: Partial<StoredMeasureOptions>;
}

export const WIDTH_PRESETS: Record<PresetName, WidthSettings> = {
  quick: {
    data: 'mnist',
    trainSize: 4000,
    widths: [8, 32, 128, 512, 2048, 4096],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
  paper: {
    data: 'mnist',
    trainSize: null,
    widths: [8, 32, 128, 512, 2048, 8192],
    seed: 1,
    maxEpochs: 1000,
    maxMinutes: null,
    measureOptions: {},
  },
};

export function widthPlan(preset: PresetName, overrides: PlanOverrides = {}): ExperimentPlan {
  rejectOverrides('width', overrides, ['model', 'sizes', 'confusionSizes']);
  const s = WIDTH_PRESETS[preset];
  const trainSize = overrides.trainSize ?? s.trainSize;
  const measureOptions = resolveMeasureOptions({ ...s.measureOptions, ...overrides.measureOptions });
  const runs: RunSpec[] = ascending(overrides.widths ?? s.widths).map((width) => ({
    experiment: 'width',
    label: `width=${width}`,
    size: trainSize,
    labels: 'true',
    confusion: 0,
    width,
    config: makeConfig({
      data: overrides.data ?? s.data,
      model: `mlp:${width}`,
      trainSize,
      labels: 'true',
      seed: overrides.seed ?? s.seed,
      maxEpochs: overrides.maxEpochs ?? s.maxEpochs,
      maxMinutes: overrides.maxMinutes !== undefined ? overrides.maxMinutes : s.maxMinutes,
      targetLoss: overrides.targetLoss,
    }),
    measureOptions,
  }));
  return checkPlan({
    experiment: 'width',
    preset,
    description: `Increasing network size (paper Fig. 4): one-hidden-layer MLPs of widths ${runs.map((r) => r.width).join(', ')} on ${trainSize ?? 'all'} training points.`,
    runs,
  });
}
