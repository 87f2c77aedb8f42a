/**
 * The shapes shared by every measure: a measure is `{ name, summary, needs, compute(ctx) }`; `compute`
 * returns a number, or null with a note saying why. Intermediate results shared by several measures
 * (the margin γ, the spectral norms, the expected-sharpness curve …) are memoised in the context.
 */
import type { Dataset } from '../data/types.js';
import type { Network } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import type { Evaluator } from './evaluator.js';

export type Need = 'weights' | 'data' | 'initial';

export interface MeasureResult {
  value: number | null;
  /** Required when value is null: why. */
  note?: string;
}

export interface MeasureDef {
  name: string;
  /** One line: what it is (formula). */
  summary: string;
  needs: Need[];
  /** Whether the measure is slow (Monte-Carlo or gradient ascent); the CLI shows a progress bar for those. */
  slow?: boolean;
  /**
   * Too costly for a sweep's default list (e.g. sharpness_mag_flatness: a gradient ascent per bisection
   * step): `run` computes it only when named in --measures; `measure` computes it by default.
   */
  sweepOptIn?: boolean;
  compute(ctx: MeasureContext): MeasureResult | Promise<MeasureResult>;
}

export interface MeasureOptions {
  /** Names of the measures to compute (default: all). */
  measures?: string[];
  /** ε of the margin quantile γ (default 0.05). */
  marginEps?: number;
  /** α of the sharpness box (default 5e-4). */
  alpha?: number;
  /** K, Monte-Carlo samples per α or σ (default 10). */
  samples?: number;
  /** Seed of every random choice (default 1). */
  seed?: number;
  /** δ of the PAC-Bayes bound (default 0.05). */
  delta?: number;
  /** The α grid of the PAC-Bayes bound (default 16 log-spaced values 1e-4 … 1e-1). */
  alphaGrid?: number[];
  /** kl_at_sharpness: the expected sharpness at which the α-curve's kl is read (default 0.05; in (0, 1)). */
  sharpnessTarget?: number;
  /** Sharpness: at most this many training points (a fixed seeded subset; default 5000). */
  sharpnessPoints?: number;
  /** Sharpness: gradient-ascent steps (default 20). */
  sharpnessSteps?: number;
  /** pac_bayes_sigma: bisection steps (default 15) on [0, sigmaMax] (default 2). */
  sigmaSteps?: number;
  sigmaMax?: number;
  /** pac_bayes_sigma: the allowed training-accuracy drop (default 0.1) and its tolerance (default 0.01). */
  accuracyDrop?: number;
  accuracyTol?: number;
  /** The initial weights (same architecture), for dist_from_init and bartlett_spectral. */
  initial?: Network | null;
  /** Why there are no initial weights (the note of the init measures when `initial` is absent). */
  initialMissing?: string;
}

export type ResolvedOptions = Required<Omit<MeasureOptions, 'initial' | 'initialMissing' | 'measures'>> & {
  measures: string[];
  initial: Network | null;
  initialMissing: string;
};

export interface PacBayesPoint {
  alpha: number;
  kl: number;
  expected_sharpness: number;
  /** Monte-Carlo standard error of expected_sharpness (K samples). */
  std_error: number;
  /** The PAC-Bayes bound at this α (with the union bound over the grid). */
  bound: number;
}

export interface MeasureReport {
  measures: Record<string, number | null>;
  components: Record<string, unknown>;
  pac_bayes_curve: PacBayesPoint[];
  notes: string[];
  timings_ms: Record<string, number>;
}

export type ProgressFactory = (label: string, total: number) => Progress;

export interface MeasureContext {
  net: Network;
  /** The training set the measures are computed on (null: weight-only measures). */
  data: Dataset | null;
  initial: Network | null;
  options: ResolvedOptions;
  components: Record<string, unknown>;
  curve: PacBayesPoint[];
  /** Add a note (duplicates are dropped). */
  note(text: string): void;
  /** Compute once, share: the first call runs fn, later calls get its (promised) result. */
  memo<T>(key: string, fn: () => T | Promise<T>): Promise<T>;
  /** The evaluator for the data-heavy measures (created on first use, closed by computeMeasures). */
  evaluator(): Promise<Evaluator>;
  progress(label: string, total: number): Progress;
}
