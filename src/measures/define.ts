/**
 * The measure registry, declared the way Observable Plot's marks declare their channels:
 *
 *   defineQuantity({ name, reads, options, needs, components, compute })   a shared intermediate result
 *   defineMeasure({ name, summary, reads, options, needs, components, slow, sweepOptIn, compute })
 *
 * A quantity or measure names the quantities it reads and the options it uses; the context gives it typed
 * access to exactly those (context.ts), computes every quantity once and times it under its own name. The
 * built-in measures (the family files) are defined with the same public defineMeasure a user calls from a
 * plugin (--plugin FILE), so a user measure is computed, listed, stored, exported and ranked like them.
 *
 * MEASURES and MEASURE_NAMES are the live registry: defineMeasure inserts into both arrays in place (in
 * output order: the built-in ones by ORDER, a user's after them), so every module that imported them, and
 * every function that reads them at call time (parseMeasureList, resolveOptions' default list,
 * computeMeasures, the experiments' measure list, the CSV export's columns, the CLI help), sees it.
 */
import { UserError } from '../errors.js';
import { componentName, type ComponentRef } from './components.js';
import { optionNamed } from './options.js';
import type { ComputeContext, MeasureDef, MeasureResult, Need, Quantity } from './types.js';

export interface QuantitySpec<T, R extends readonly Quantity<any>[], O extends string> {
  /** snake_case, unique among quantities: the name of its timing. */
  name: string;
  summary?: string;
  /** The quantities it reads (ctx.read). */
  reads?: R;
  /** The options it uses (ctx.options / ctx.option). */
  options?: readonly O[];
  /** What it needs besides its reads' needs. */
  needs?: readonly Need[];
  /** The component fields it writes (ctx.set). */
  components?: readonly ComponentRef[];
  compute(ctx: ComputeContext<R, O>): T | Promise<T>;
  dispose?(value: T): void | Promise<void>;
}

export interface MeasureSpec<R extends readonly Quantity<any>[], O extends string> {
  name: string;
  /** One line: what it is (formula). */
  summary: string;
  reads?: R;
  options?: readonly O[];
  /** What it needs besides its reads' needs ('weights', 'data', 'initial'). */
  needs?: readonly Need[];
  components?: readonly ComponentRef[];
  slow?: boolean;
  sweepOptIn?: boolean;
  compute(ctx: ComputeContext<R, O>): MeasureResult | Promise<MeasureResult>;
}

const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const NEEDS: readonly Need[] = ['weights', 'data', 'initial'];

/** Every quantity defined, by name. */
const QUANTITIES = new Map<string, Quantity<unknown>>();
/** Who writes each (non-merge) component field: one writer per field. */
const WRITERS = new Map<string, string>();

/** The checks shared by quantities and measures: reads, options, needs, components. */
function checkDeclarations(what: string, d: { reads?: unknown; options?: unknown; needs?: unknown; components?: unknown }) {
  const reads = d.reads ?? [];
  if (!Array.isArray(reads) || !reads.every((q) => q && typeof q === 'object' && (q as Quantity<unknown>).kind === 'quantity' && QUANTITIES.get((q as Quantity<unknown>).name) === q)) {
    throw new UserError(`${what}: reads must list quantities made by defineQuantity`);
  }
  const options = d.options ?? [];
  if (!Array.isArray(options) || !options.every((o) => typeof o === 'string')) throw new UserError(`${what}: options must list option names (strings)`);
  const unknown = options.filter((o) => !optionNamed(o));
  if (unknown.length) throw new UserError(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (declare a new one with defineOption first)`);
  const needs = d.needs ?? [];
  if (!Array.isArray(needs) || !needs.every((n) => NEEDS.includes(n))) {
    throw new UserError(`${what}: needs must list 'weights', 'data' or 'initial' (got ${JSON.stringify(d.needs)})`);
  }
  const components = d.components ?? [];
  if (!Array.isArray(components) || !components.every((c) => typeof c === 'string' || (c && typeof c === 'object' && typeof c.name === 'string'))) {
    throw new UserError(`${what}: components must list component names or fields made by defineComponent`);
  }
  for (const c of components as ComponentRef[]) {
    if (typeof c === 'object' && c.merge) continue;
    const writer = WRITERS.get(componentName(c));
    if (writer !== undefined) throw new UserError(`${what}: the component ${componentName(c)} is written by ${writer} already`);
  }
  const allNeeds = new Set<Need>(needs as Need[]);
  for (const q of reads as Quantity<unknown>[]) for (const n of q.needs) allNeeds.add(n);
  return {
    reads: [...(reads as Quantity<unknown>[])],
    options: [...(options as string[])],
    needs: NEEDS.filter((n) => allNeeds.has(n)),
    components: [...(components as ComponentRef[])],
  };
}

function claimComponents(who: string, components: readonly ComponentRef[]) {
  for (const c of components) if (!(typeof c === 'object' && c.merge)) WRITERS.set(componentName(c), who);
}

/** Define a shared quantity (see QuantitySpec); a UserError when the definition is not valid. */
export function defineQuantity<T, const R extends readonly Quantity<any>[] = [], const O extends string = never>(spec: QuantitySpec<T, R, O>): Quantity<T> {
  const s = spec as Partial<QuantitySpec<T, R, O>> | null;
  if (!s || typeof s !== 'object') throw new UserError('defineQuantity: expected a quantity definition { name, reads, options, compute }');
  if (typeof s.name !== 'string' || !SNAKE.test(s.name)) throw new UserError(`defineQuantity: the name ${JSON.stringify(s.name)} is not snake_case`);
  if (QUANTITIES.has(s.name)) throw new UserError(`defineQuantity: a quantity named ${s.name} exists already`);
  if (typeof s.compute !== 'function') throw new UserError(`defineQuantity ${s.name}: compute(ctx) must be a function`);
  const d = checkDeclarations(`defineQuantity ${s.name}`, s);
  const compute = s.compute;
  const q: Quantity<T> = {
    kind: 'quantity',
    name: s.name,
    summary: s.summary ?? '',
    ...d,
    compute: async (ctx) => compute(ctx as ComputeContext<R, O>),
    ...(s.dispose ? { dispose: s.dispose } : {}),
  };
  claimComponents(`the quantity ${s.name}`, d.components);
  QUANTITIES.set(q.name, q);
  return q;
}

/** Output order of the built-in measures (a user's measures come after them, in definition order). */
const ORDER = [
  'params', 'vc_dim', 'margin', 'l2', 'l1_path', 'l2_path', 'spectral', 'l1_inf', 'lipschitz', 'lipschitz_capacity_log10',
  'sharpness', 'expected_sharpness', 'kl', 'pac_bayes', 'pac_bayes_kl', 'pac_bayes_optimized', 'kl_at_sharpness', 'pac_bayes_sigma',
  'flatness', 'pac_bayes_mag_flatness', 'sharpness_mag_flatness', 'dist_from_init', 'bartlett_spectral',
];

function rank(name: string): number {
  const i = ORDER.indexOf(name);
  return i < 0 ? ORDER.length : i;
}

/** Every measure, in output order (live: defineMeasure inserts). */
export const MEASURES: MeasureDef[] = [];
export const MEASURE_NAMES: string[] = [];

/** Names a measure cannot take: the run fields of the CSV export (experiments/export.ts EXPORT_FIELDS). */
const RESERVED_NAMES = [
  'key', 'experiment', 'label', 'status', 'converged', 'stop_reason', 'epochs', 'train_size', 'labels', 'confusion', 'width',
  'm', 'true_count', 'measured_on', 'train_loss', 'train_error', 'test_loss', 'test_error', 'gen_gap', 'backend',
  'train_seconds', 'measure_seconds', 'checkpoint', 'created_at', 'finished_at', 'error',
];

/**
 * Add a measure to the registry (see MeasureSpec). The name is snake_case (a lower-case letter, then
 * lower-case letters, digits and single underscores) and not taken; `reads` lists quantities
 * (defineQuantity, or the built-in ones exported by the library: gamma, spectralNorms, pacBayesCurve …),
 * `options` option names (a new one: defineOption first), `needs` what compute uses besides its reads'
 * needs. It is then computed by default (computeMeasures, `genmeasures measure`, and `run` with --plugin
 * FILE unless sweepOptIn), named in --measures, listed in `measure --help`, exported as a column and
 * ranked in the report. Returns the registered measure; a UserError when the definition is not valid.
 */
export function defineMeasure<const R extends readonly Quantity<any>[] = [], const O extends string = never>(spec: MeasureSpec<R, O>): MeasureDef {
  const s = spec as Partial<MeasureSpec<R, O>> | null;
  if (!s || typeof s !== 'object') throw new UserError('defineMeasure: expected a measure definition { name, summary, reads, options, needs, compute }');
  const name = s.name;
  if (typeof name !== 'string' || !SNAKE.test(name)) {
    throw new UserError(`defineMeasure: the name ${JSON.stringify(name)} is not snake_case (e.g. my_measure: lower-case letters, digits and single underscores, starting with a letter)`);
  }
  if (MEASURE_NAMES.includes(name)) throw new UserError(`defineMeasure: a measure named ${name} exists already`);
  if (RESERVED_NAMES.includes(name)) throw new UserError(`defineMeasure: ${name} is the name of a run field of the export; choose another name`);
  if (typeof s.summary !== 'string' || s.summary.trim() === '') throw new UserError(`defineMeasure ${name}: a one-line summary is required`);
  if (typeof s.compute !== 'function') throw new UserError(`defineMeasure ${name}: compute(ctx) must be a function returning { value, note? }`);
  const d = checkDeclarations(`defineMeasure ${name}`, s);
  const compute = s.compute;
  const measure: MeasureDef = {
    name,
    summary: s.summary,
    slow: !!s.slow,
    sweepOptIn: !!s.sweepOptIn,
    ...d,
    compute: (ctx) => compute(ctx as ComputeContext<R, O>),
  };
  claimComponents(`the measure ${name}`, d.components);
  // in rank order: after every measure of lower or equal rank
  let i = MEASURES.length;
  while (i > 0 && rank(MEASURES[i - 1].name) > rank(name)) i--;
  MEASURES.splice(i, 0, measure);
  MEASURE_NAMES.splice(i, 0, name);
  return measure;
}

/** Every option a measure (or quantity) depends on: its own and those of the quantities it reads, transitively. */
export function dependsOnOptions(def: { reads: readonly Quantity<any>[]; options: readonly string[] }): string[] {
  const out = new Set<string>(def.options);
  for (const q of def.reads) for (const o of dependsOnOptions(q)) out.add(o);
  return [...out];
}
