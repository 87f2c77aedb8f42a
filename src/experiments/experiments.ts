/** The three experiments by name: `buildPlan('width', 'quick', overrides)` (overrides.seeds: configurations × seeds). */
import { UserError } from '../errors.js';
import { confusionPlan } from './confusion.js';
import { EXPERIMENT_NAMES, ExperimentName, ExperimentPlan, PRESET_NAMES, PlanOverrides, PresetName, withSeeds } from './plan.js';
import { randomLabelsPlan } from './randomLabels.js';
import { widthPlan } from './width.js';

export const EXPERIMENTS: Record<ExperimentName, (preset: PresetName, overrides?: PlanOverrides) => ExperimentPlan> = {
  'random-labels': randomLabelsPlan,
  confusion: confusionPlan,
  width: widthPlan,
};

export function isExperimentName(name: string): name is ExperimentName {
  return (EXPERIMENT_NAMES as readonly string[]).includes(name);
}

export function buildPlan(experiment: string, preset: string, overrides: PlanOverrides = {}): ExperimentPlan {
  if (!isExperimentName(experiment)) throw new UserError(`unknown experiment "${experiment}" (experiments: ${EXPERIMENT_NAMES.join(', ')})`);
  if (!(PRESET_NAMES as readonly string[]).includes(preset)) throw new UserError(`--preset: "${preset}" is not one of ${PRESET_NAMES.join(', ')}`);
  const { seeds, ...rest } = overrides;
  if (seeds === undefined) return EXPERIMENTS[experiment](preset as PresetName, rest);
  if (rest.seed !== undefined) throw new UserError('--seed and --seeds exclude each other (give the one seed as --seeds S)');
  // configurations × seeds: the plan built once per seed, each run's config.seed set
  return withSeeds((seed) => EXPERIMENTS[experiment](preset as PresetName, { ...rest, seed }), seeds);
}
