/**
 * The shapes shared by the paper's experiments: an experiment is a small pure function
 * `(preset, overrides) → ExperimentPlan`, and a plan is a plain, declarative list of run specifications —
 * the full configuration of every network of the sweep (training configuration + measure options) and the
 * values it sweeps (training-set size, labels, confusion-set size, width). Nothing here trains or measures;
 * the runner (runner.ts) executes a plan and the store (store.ts) keeps the results.
 *
 * A run's identity is its key: the SHA-256 of the canonical JSON of {experiment, config, measureOptions
 * without `measures`} (runKey). The list of measures is what to compute, not who the run is: a run
 * measured with ['l2'] and then asked for ['l2', 'margin'] keeps its key, and only margin is computed
 * (the runner adds the missing measures to the stored row). The training part alone (the RunConfig) has
 * its own key, trainKey, which names the saved checkpoint: two runs that differ only in measure options
 * train once.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { MEASURES, MEASURE_NAMES, resolveOptions } from '../measures/index.js';
import { storedOptions } from '../measures/options.js';
import { parseModelSpec } from '../models/spec.js';
import type { RunConfig } from '../train/config.js';

export const EXPERIMENT_NAMES = ['random-labels', 'confusion', 'width'] as const;
export type ExperimentName = (typeof EXPERIMENT_NAMES)[number];

export const PRESET_NAMES = ['quick', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * The measure options a run is measured with: every option explicit (defaults filled in), JSON-only
 * (no networks), so that they can be hashed and stored. `workers` is not among them: experiment workers
 * always measure in-process (workers: 1), one run per core.
 */
export interface StoredMeasureOptions {
  measures: string[];
  marginEps: number;
  alpha: number;
  samples: number;
  seed: number;
  delta: number;
  alphaGrid: number[];
  sharpnessPoints: number;
  sharpnessSteps: number;
  sigmaSteps: number;
  sigmaMax: number;
  accuracyDrop: number;
  accuracyTol: number;
  /**
   * kl_at_sharpness's target; present only when it differs from the default (DEFAULTS.sharpnessTarget), so
   * that runs at the default keep the keys they had before the option existed.
   */
  sharpnessTarget?: number;
  /** A plugin's keyed options (defineOption), each only when it differs from its default. */
  [pluginOption: string]: unknown;
}

/** One network of a sweep: what it trains, how it is measured, and the values the experiment sweeps. */
export interface RunSpec {
  experiment: ExperimentName;
  /** Short human label of the swept values, e.g. "size=1000 labels=random". */
  label: string;
  /** Training-set size (the true-labelled part for confusion; null = the whole training set). */
  size: number | null;
  labels: 'true' | 'random';
  /** Size of the random-labelled confusion set (0 outside the confusion experiment). */
  confusion: number;
  /** Hidden units of the one-hidden-layer MLP (width experiment only; null elsewhere). */
  width: number | null;
  config: RunConfig;
  measureOptions: StoredMeasureOptions;
}

export interface ExperimentPlan {
  experiment: ExperimentName;
  preset: PresetName;
  /** One paragraph: what the sweep trains and what the paper predicts. */
  description: string;
  runs: RunSpec[];
}

/** Changes to a preset (from the command line or the library). Unset fields keep the preset's value. */
export interface PlanOverrides {
  data?: string;
  model?: string;
  seed?: number;
  /**
   * Run every configuration once per seed (buildPlan: the plan is configurations × seeds). With one seed it
   * is the same as `seed`; exclusive with it.
   */
  seeds?: number[];
  /** random-labels: the training-set sizes. */
  sizes?: number[];
  /** confusion: the confusion-set sizes; */
  confusionSizes?: number[];
  /** width: the hidden-layer widths. */
  widths?: number[];
  /** confusion and width: the (true-labelled) training-set size. */
  trainSize?: number;
  maxEpochs?: number;
  maxMinutes?: number | null;
  targetLoss?: number;
  /** Measure options over the preset's (e.g. a reduced measure set for tests). */
  measureOptions?: Partial<StoredMeasureOptions>;
}

/** Fill every measure option (the measures module's defaults) and check it. */
export function resolveMeasureOptions(partial: Partial<StoredMeasureOptions> = {}): StoredMeasureOptions {
  // the measures' own defaults and checks; only the options that change the numbers are stored. A sweep's
  // default list leaves out the measures marked sweepOptIn (too costly for every run; name them to add them)
  const requested = partial.measures ?? MEASURES.filter((m) => !m.sweepOptIn).map((m) => m.name);
  const r = resolveOptions({ ...partial, measures: requested });
  return {
    // in output order, so that the same set always hashes the same
    measures: MEASURE_NAMES.filter((n) => r.measures.includes(n)),
    // the keyed options, as their declarations say (measures/options.ts): the first twelve always, a later
    // one (sharpnessTarget, a plugin's) only off its default, so that default runs keep their keys
    ...storedOptions(r),
  } as StoredMeasureOptions;
}

/** JSON with object keys sorted at every level (arrays keep their order): the same value, the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The key of a run: SHA-256 of the canonical JSON of its configuration, the measure list left out (the
 * measures to compute are not part of a run's identity; every other measure option is). Accepts stored
 * measure options too (store.ts recomputes old keys with it).
 */
export function runKey(spec: { experiment: string; config: unknown; measureOptions: Partial<StoredMeasureOptions> | Record<string, unknown> }): string {
  const { measures: _list, ...options } = spec.measureOptions as Record<string, unknown>;
  return sha256(canonicalJson({ experiment: spec.experiment, config: spec.config, measureOptions: options }));
}

/** The key of a training configuration: the name of its checkpoint folder. */
export function trainKey(config: RunConfig): string {
  return sha256(canonicalJson(config));
}

/** "8,32,128" or "2K,8K" → numbers (K = ×1000). */
export function parseSizeList(text: string, option: string, min = 1): number[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const m = /^(\d+(?:\.\d+)?)([kK]?)$/.exec(s);
    const v = m ? Number(m[1]) * (m[2] ? 1000 : 1) : NaN;
    if (!Number.isInteger(v) || v < min) throw new UserError(`${option}: "${s}" is not a whole number ≥ ${min}`);
    return v;
  });
  if (values.length === 0) throw new UserError(`${option}: no values given`);
  if (new Set(values).size !== values.length) throw new UserError(`${option}: "${text}" repeats a value`);
  return values;
}

/** "1,2,3" → [1, 2, 3]: distinct integers ≥ 0 (the --seeds list). */
export function parseSeedList(text: string, option = '--seeds'): number[] {
  const values = text.split(',').map((s) => s.trim()).map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UserError(`${option}: "${s}" is not a whole number ≥ 0 (give a comma list such as 1,2,3)`);
    return Number(s);
  });
  if (new Set(values).size !== values.length) throw new UserError(`${option}: "${text}" repeats a seed`);
  return values;
}

/**
 * A plan run once per seed: configurations × seeds, each configuration's seeds next to each other. Every
 * run's config.seed is its seed; with more than one seed its label ends in " seed=S". With one seed the
 * plan is the one-seed plan itself (same runs, same keys, same labels).
 */
export function withSeeds(build: (seed: number) => ExperimentPlan, seeds: number[]): ExperimentPlan {
  if (seeds.length === 0) throw new UserError('--seeds: no seeds given');
  const plans = seeds.map(build);
  if (seeds.length === 1) return plans[0];
  const first = plans[0];
  const runs: RunSpec[] = [];
  first.runs.forEach((_, i) => {
    plans.forEach((p, j) => {
      const r = p.runs[i];
      runs.push({ ...r, label: `${r.label} seed=${seeds[j]}` });
    });
  });
  return checkPlan({ ...first, description: `${first.description} Every configuration runs with each of the seeds ${seeds.join(', ')}.`, runs });
}

/** Reject overrides that do not apply to an experiment (so that a typo is not silently ignored). */
export function rejectOverrides(experiment: ExperimentName, overrides: PlanOverrides, names: (keyof PlanOverrides)[]): void {
  const option: Record<string, string> = {
    sizes: '--sizes',
    confusionSizes: '--confusion-sizes',
    widths: '--widths',
    trainSize: '--train-size',
    model: '--model',
  };
  for (const n of names) {
    if (overrides[n] !== undefined) {
      const hint = experiment === 'width' && n === 'model' ? ' (it trains mlp:W for each width W; choose the widths with --widths)' : '';
      throw new UserError(`${option[n] ?? n} does not apply to the ${experiment} experiment${hint}`);
    }
  }
}

/** Sorted ascending, as the figures read them. */
export function ascending(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Check that a plan's model specs parse and that no two runs have the same key (a sweep must not list a network twice). */
export function checkPlan(plan: ExperimentPlan): ExperimentPlan {
  const seen = new Map<string, string>();
  for (const r of plan.runs) {
    parseModelSpec(r.config.model); // a bad spec is a user error now, not in a worker
    const k = runKey(r);
    const other = seen.get(k);
    if (other !== undefined) throw new UserError(`the ${plan.experiment} plan lists the same run twice (${other} and ${r.label})`);
    seen.set(k, r.label);
  }
  return plan;
}
