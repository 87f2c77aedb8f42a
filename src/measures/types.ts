/**
 * The shapes shared by the measures. A measure (define.ts, defineMeasure) declares the quantities it reads,
 * the options it uses and the component fields it writes, and computes a number, or null with a note saying
 * why. Quantities (defineQuantity) are the intermediate results several measures share (γ, the evaluation
 * of the training set, the spectral norms, the α-curve, the σ search …): each is declared once with what it
 * reads, computed at most once per computeMeasures call, cached and timed under its own name.
 */
import type { Dataset } from '../data/types.js';
import type { Network } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import type { ComponentField, ComponentRef } from './components.js';
import type { BuiltinOptionValues, OptionDef } from './options.js';

export type Need = 'weights' | 'data' | 'initial';

export interface MeasureResult {
  value: number | null;
  /** Required when value is null: why. */
  note?: string;
  /**
   * log10 of the value, for a measure computed as a product of many norms (it can overflow float64): kept
   * in components.log10[name] (null when it is not finite).
   */
  log10?: number | null;
}

/** A shared intermediate result (defineQuantity): `T` is the type of its value. */
export interface Quantity<T> {
  readonly kind: 'quantity';
  readonly name: string;
  readonly summary: string;
  readonly reads: readonly Quantity<any>[];
  readonly options: readonly string[];
  /** What it needs, its reads' needs included. */
  readonly needs: readonly Need[];
  readonly components: readonly ComponentRef[];
  compute(ctx: ComputeContext<any, any>): Promise<T>;
  /** Release what the value holds (the evaluator's sessions) at the end of computeMeasures. */
  dispose?(value: T): void | Promise<void>;
}

export type QuantityValue<Q> = Q extends Quantity<infer T> ? T : never;

/** The declared options of a quantity or measure, typed for the built-in ones. */
export type OptionsView<O extends string> = { readonly [K in O]: K extends keyof BuiltinOptionValues ? BuiltinOptionValues[K] : unknown };

/**
 * What a quantity's or a measure's compute gets: the network, the data, and access to exactly what it
 * declared — `read` the quantities of its `reads` (typed by each quantity's value), `options` and `option`
 * its `options`, `set` its `components`. Anything undeclared throws (a bug in the declaration).
 */
export interface ComputeContext<R extends readonly Quantity<any>[] = readonly Quantity<any>[], O extends string = string> {
  readonly net: Network;
  /** The training set the measures are computed on (null: weight-only measures). */
  readonly data: Dataset | null;
  readonly initial: Network | null;
  readonly options: OptionsView<O>;
  /** The value of a quantity it reads: computed on first use, then shared. */
  read<Q extends R[number]>(q: Q): Promise<QuantityValue<Q>>;
  /** The value of an option it declared, typed by the option's definition (a plugin's defineOption). */
  option<T>(o: OptionDef<string, T>): T;
  /** Write a component field it declared (a merge field such as log10 is merged into). */
  set<T>(field: ComponentField<T>, value: T): void;
  set(name: string, value: unknown): void;
  /** Add a note (duplicates are dropped). */
  note(text: string): void;
  progress(label: string, total: number): Progress;
}

/** The context of a measure (compute(ctx)): the same as a quantity's. */
export type MeasureContext<R extends readonly Quantity<any>[] = readonly Quantity<any>[], O extends string = string> = ComputeContext<R, O>;

/** A registered measure (defineMeasure). */
export interface MeasureDef {
  readonly name: string;
  /** One line: what it is (formula). */
  readonly summary: string;
  /** What it needs, its reads' needs included: without them the value is null with a note. */
  readonly needs: readonly Need[];
  /** Whether the measure is slow (Monte-Carlo or gradient ascent); the CLI shows a progress bar for those. */
  readonly slow: boolean;
  /**
   * Too costly for a sweep's default list (e.g. sharpness_mag_flatness: a gradient ascent per bisection
   * step): `run` computes it only when named in --measures; `measure` computes it by default.
   */
  readonly sweepOptIn: boolean;
  readonly reads: readonly Quantity<any>[];
  readonly options: readonly string[];
  readonly components: readonly ComponentRef[];
  compute(ctx: ComputeContext<any, any>): MeasureResult | Promise<MeasureResult>;
}

/** The options of computeMeasures: the declared options (options.ts; a plugin's too), and these. */
export type MeasureOptions = Partial<BuiltinOptionValues> & {
  /** Names of the measures to compute (default: all). */
  measures?: string[];
  /** The initial weights (same architecture), for dist_from_init, bartlett_spectral, pac_bayes_optimized. */
  initial?: Network | null;
  /** Why there are no initial weights (the note of the init measures when `initial` is absent). */
  initialMissing?: string;
  /** The options a plugin declared (defineOption), by name. */
  [pluginOption: string]: unknown;
};

export type ResolvedOptions = BuiltinOptionValues & {
  measures: string[];
  initial: Network | null;
  initialMissing: string;
  [pluginOption: string]: unknown;
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
  /**
   * Wall time of each measure computed: its compute, including the quantities it was the first to read
   * (a quantity read again later costs nothing), so the times add up to the whole.
   */
  timings_ms: Record<string, number>;
  /** Wall time of each quantity computed, under its own name (including the quantities it read first). */
  quantity_timings_ms?: Record<string, number>;
}

export type ProgressFactory = (label: string, total: number) => Progress;
