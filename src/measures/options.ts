/**
 * Measure options, declared once. Every option is a `defineOption({ name, flag, type, default, … })`, and
 * that one declaration gives:
 *
 *   - its CLI flag on `genmeasures measure` (and `run`, unless it is measure-only): cliFlags / fromFlags;
 *   - its value in the resolved options, with its default and its check (resolveOptionValues);
 *   - whether, and how, it enters a run's stored (and hashed) options (storedOptions);
 *   - its column `measure_options.<name>` in the export (exportedOptionNames).
 *
 * Run keys: a keyed option is stored with a run only when it differs from its default, so declaring a new
 * option never changes the key of a run recorded before it existed (the run was measured at what is now
 * the default). The twelve options that existed before options were declared are stored always
 * (`storedAlways`): runs were keyed with them at their defaults, and their keys must not change.
 */
import { UserError } from '../errors.js';
import { alphaGrid, parseAlphaGrid } from './alphagrid.js';

export type OptionType = 'number' | 'int' | 'string';
/** The commands whose flags include an option. */
export type OptionCommand = 'measure' | 'run';

export interface OptionSpec<N extends string, T> {
  /** camelCase: the key in MeasureOptions, in the stored options and in the export column. */
  name: N;
  /** kebab-case, without the dashes: the CLI flag. */
  flag: string;
  /** How the CLI reads the text: a number, a whole number, or a string given to `parse`. */
  type: OptionType;
  /** The flag's value placeholder in the help (default: N, INT or TEXT). */
  value?: string;
  /** The default value, or a function that makes it (a fresh array each time). */
  default: T | (() => T);
  /** The default as the help shows it (string options; default: String(default)). */
  defaultText?: string;
  /** Inclusive bounds, for the CLI flag and the library check. */
  min?: number;
  max?: number;
  /** string options: the CLI text → the value (throw a UserError naming the flag when it is bad). */
  parse?: (text: string) => T;
  /** The library check beyond type and bounds: the problem in words, or null when the value is fine. */
  check?: (value: T) => string | null;
  help: string;
  /** Whether the option enters a run's key (stored with the run when it differs from its default). */
  keyed: boolean;
  /** Stored (and hashed) even at its default: only the options whose runs were keyed that way already. */
  storedAlways?: boolean;
  /** The commands that get its flag (default: measure and run). */
  commands?: OptionCommand[];
}

export interface OptionDef<N extends string = string, T = unknown> extends Readonly<Required<Pick<OptionSpec<N, T>, 'name' | 'flag' | 'type' | 'help' | 'keyed'>>> {
  readonly spec: OptionSpec<N, T>;
  readonly storedAlways: boolean;
  readonly commands: readonly OptionCommand[];
  /** A fresh default value. */
  defaultValue(): T;
}

export type OptionValue<O> = O extends OptionDef<string, infer T> ? T : never;

/** Every declared option, in declaration order (the built-in ones first). Live: defineOption appends. */
export const OPTIONS: OptionDef[] = [];

const CAMEL = /^[a-z][a-zA-Z0-9]*$/;
const KEBAB = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** Names an option cannot take: what computeMeasures takes besides the options. */
const RESERVED_OPTION_NAMES = ['measures', 'initial', 'initialMissing'];

/**
 * Declare a measure option (see OptionSpec). The name is camelCase and new, the flag kebab-case and new;
 * a keyed option of a plugin enters the run key only when set off its default. A UserError when the
 * declaration is not valid.
 */
export function defineOption<const N extends string, T>(spec: OptionSpec<N, T>): OptionDef<N, T> {
  const s = spec as Partial<OptionSpec<N, T>> | null;
  if (!s || typeof s !== 'object') throw new UserError('defineOption: expected an option definition { name, flag, type, default, help, keyed }');
  const name = s.name;
  if (typeof name !== 'string' || !CAMEL.test(name)) throw new UserError(`defineOption: the name ${JSON.stringify(name)} is not camelCase (e.g. myOption)`);
  if (RESERVED_OPTION_NAMES.includes(name) || OPTIONS.some((o) => o.name === name)) throw new UserError(`defineOption: an option named ${name} exists already`);
  if (typeof s.flag !== 'string' || !KEBAB.test(s.flag)) throw new UserError(`defineOption ${name}: the flag ${JSON.stringify(s.flag)} is not kebab-case (e.g. my-option, without the dashes)`);
  const taken = OPTIONS.find((o) => o.flag === s.flag);
  if (taken || ['measures', 'plugin', 'help'].includes(s.flag)) throw new UserError(`defineOption ${name}: the flag --${s.flag} is taken${taken ? ` (by ${taken.name})` : ''}`);
  if (s.type !== 'number' && s.type !== 'int' && s.type !== 'string') throw new UserError(`defineOption ${name}: type must be 'number', 'int' or 'string' (got ${JSON.stringify(s.type)})`);
  if (s.type === 'string' && typeof s.parse !== 'function') throw new UserError(`defineOption ${name}: a 'string' option needs parse(text)`);
  if (typeof s.help !== 'string' || s.help.trim() === '') throw new UserError(`defineOption ${name}: a one-line help is required`);
  if (typeof s.keyed !== 'boolean') throw new UserError(`defineOption ${name}: keyed must be true (the option changes the numbers: it enters the run key) or false`);
  if (!('default' in s)) throw new UserError(`defineOption ${name}: a default is required`);
  const commands = s.commands ?? ['measure', 'run'];
  const make = () => (typeof s.default === 'function' ? (s.default as () => T)() : structuredClone(s.default as T));
  const def: OptionDef<N, T> = {
    spec,
    name: name as N,
    flag: s.flag,
    type: s.type,
    help: s.help,
    keyed: s.keyed,
    storedAlways: !!s.storedAlways,
    commands,
    defaultValue: make,
  };
  const problem = checkValue(def, make());
  if (problem) throw new UserError(`defineOption ${name}: the default does not pass its own check (${problem})`);
  OPTIONS.push(def as unknown as OptionDef);
  return def;
}

/** The problem with a value of an option, or null: its own check first (in its own words), then its type and bounds. */
function checkValue<T>(o: OptionDef<string, T>, v: T): string | null {
  const s = o.spec;
  const own = s.check ? s.check(v) : null;
  if (own) return own;
  if (s.type === 'string') return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a finite number (got ${String(v)})`;
  if (s.type === 'int' && !Number.isInteger(v)) return `must be a whole number (got ${v})`;
  if (s.min !== undefined && v < s.min) return `must be ≥ ${s.min} (got ${v})`;
  if (s.max !== undefined && v > s.max) return `must be ≤ ${s.max} (got ${v})`;
  return null;
}

export function optionNamed(name: string): OptionDef | undefined {
  return OPTIONS.find((o) => o.name === name);
}

/**
 * Every option's value: the given one, or the default; each checked (a UserError naming the option). An
 * unknown key is a UserError too (a typo, or the option of a plugin that is not loaded).
 */
export function resolveOptionValues(given: Record<string, unknown>, ignore: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(given)) {
    if (given[k] !== undefined && !ignore.includes(k) && !optionNamed(k)) {
      throw new UserError(`unknown measure option ${k} (options: ${OPTIONS.map((o) => o.name).join(', ')}; an option of a plugin needs --plugin)`);
    }
  }
  for (const o of OPTIONS) {
    const v = given[o.name] === undefined ? o.defaultValue() : given[o.name];
    const problem = checkValue(o, v);
    if (problem) throw new UserError(`${o.name}: ${problem}`);
    out[o.name] = v;
  }
  return out;
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The options a run is stored (and keyed) with: every keyed option stored always, and every other keyed
 * option whose value is not its default (see the file's comment: new options do not re-key old runs).
 */
export function storedOptions(resolved: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    if (!o.keyed) continue;
    const v = resolved[o.name];
    if (o.storedAlways || !sameValue(v, o.defaultValue())) out[o.name] = v;
  }
  return out;
}

/** The export's measure option columns: every keyed option (a run stored without one was measured at its default). */
export function exportedOptionNames(): string[] {
  return OPTIONS.filter((o) => o.keyed).map((o) => o.name);
}

/** A stored option's value for the export: the stored value, or the default of a keyed option stored only off it. */
export function exportedOptionValue(stored: Record<string, unknown>, name: string): unknown {
  if (name in stored) return stored[name];
  const o = optionNamed(name);
  return o && o.keyed && !o.storedAlways ? o.defaultValue() : undefined;
}

// ---- the CLI ------------------------------------------------------------------------------------------

/** An entry of a command's option table (cli/args.ts OptionDef, without importing the CLI here). */
export interface FlagDef {
  type: 'number' | 'int' | 'string';
  value: string;
  help: string;
  default?: number | string;
  min?: number;
  max?: number;
}

function defaultText(o: OptionDef): string {
  if (o.spec.defaultText !== undefined) return o.spec.defaultText;
  const d = o.defaultValue();
  return Array.isArray(d) ? d.join(',') : String(d);
}

/**
 * The flags of the options of a command. `withDefaults`: the default goes into the table (the parser
 * fills it in); otherwise it is only shown in the help, and an unset flag leaves the option unset (run:
 * the preset's value, then the default). `taken`: the command's own flags; an option whose flag is one of
 * them is a UserError (a plugin's option cannot shadow a flag of the command).
 */
export function cliFlags(command: OptionCommand, opts: { withDefaults: boolean; taken: string[] }): Record<string, FlagDef> {
  const out: Record<string, FlagDef> = {};
  for (const o of OPTIONS) {
    if (!o.commands.includes(command)) continue;
    if (opts.taken.includes(o.flag)) throw new UserError(`the option ${o.name} has the flag --${o.flag}, which genmeasures ${command} uses already; give it another flag`);
    const s = o.spec;
    const numeric = s.type !== 'string';
    const placeholder = s.value ?? (s.type === 'int' ? 'N' : s.type === 'number' ? 'X' : 'TEXT');
    const show = numeric && opts.withDefaults ? '' : ` [default: ${defaultText(o)}]`;
    out[o.flag] = {
      type: s.type,
      value: placeholder,
      help: s.help + show,
      ...(numeric && opts.withDefaults ? { default: o.defaultValue() as number } : {}),
      ...(s.min !== undefined ? { min: s.min } : {}),
      ...(s.max !== undefined ? { max: s.max } : {}),
    };
  }
  return out;
}

/** The option values of parsed flags (flags left unset are left out; string options through their parse). */
export function fromFlags(command: OptionCommand, parsed: Record<string, string | number | boolean | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    if (!o.commands.includes(command)) continue;
    const raw = parsed[o.flag];
    if (raw === undefined) continue;
    out[o.name] = o.type === 'string' ? o.spec.parse!(String(raw)) : Number(raw);
  }
  return out;
}

// ---- the built-in options -----------------------------------------------------------------------------

const inOpenUnit = (what: string) => (v: number) => (v > 0 && v < 1 ? null : `${what} must be in (0, 1) (got ${v})`);

export const marginEps = defineOption({
  name: 'marginEps', flag: 'margin-eps', type: 'number', value: 'EPS', default: 0.05, min: 1e-12, max: 1,
  check: (v: number) => (v > 0 && v <= 1 ? null : `margin ε must be in (0, 1] (got ${v})`),
  help: 'γ is the ⌈ε·m⌉-th smallest training margin', keyed: true, storedAlways: true,
});
export const alpha = defineOption({
  name: 'alpha', flag: 'alpha', type: 'number', value: 'A', default: 5e-4, min: 1e-12,
  check: (v: number) => (v > 0 ? null : `α must be positive (got ${v})`),
  help: 'sharpness box: |ν_i| ≤ α(|w_i| + 1)', keyed: true, storedAlways: true,
});
export const samples = defineOption({
  name: 'samples', flag: 'samples', type: 'int', value: 'K', default: 10, min: 1,
  check: (v: number) => (v >= 1 ? null : `the number of samples must be a whole number ≥ 1 (got ${v})`),
  help: 'Monte-Carlo samples per α (expected sharpness) and per σ (pac_bayes_sigma)', keyed: true, storedAlways: true,
});
export const seed = defineOption({
  name: 'seed', flag: 'seed', type: 'int', value: 'S', default: 1,
  help: 'seed of every random choice (subsets, perturbations)', keyed: true, storedAlways: true,
  // run's --seed is the training seed; a sweep measures every run with the default measure seed
  commands: ['measure'],
});
export const delta = defineOption({
  name: 'delta', flag: 'delta', type: 'number', value: 'D', default: 0.05, min: 1e-12, max: 0.999999,
  check: (v: number) => (v > 0 && v < 1 ? null : `δ must be in (0, 1) (got ${v})`),
  help: 'δ of the PAC-Bayes bound', keyed: true, storedAlways: true,
});
export const alphaGridOption = defineOption({
  name: 'alphaGrid', flag: 'alpha-grid', type: 'string', value: 'LO:HI:N', default: () => alphaGrid(), defaultText: '1e-4:0.1:16',
  parse: parseAlphaGrid,
  check: (v: number[]) => (Array.isArray(v) && v.length >= 1 && v.every((a) => a > 0 && Number.isFinite(a)) ? null : 'the α grid must hold positive numbers'),
  help: 'the α grid of the PAC-Bayes bound: N log-spaced values from LO to HI, or a list a,b,c of increasing values', keyed: true, storedAlways: true,
});
export const sharpnessTarget = defineOption({
  name: 'sharpnessTarget', flag: 'sharpness-target', type: 'number', value: 'T', default: 0.05, min: 1e-12, max: 0.999999,
  check: inOpenUnit('the sharpness target'),
  help: 'kl_at_sharpness: the expected sharpness (in (0, 1)) at which the α-curve\'s kl is read', keyed: true,
});
export const sharpnessPoints = defineOption({
  name: 'sharpnessPoints', flag: 'sharpness-points', type: 'int', value: 'N', default: 5000, min: 1,
  check: (v: number) => (v >= 1 ? null : `sharpness points must be a whole number ≥ 1 (got ${v})`),
  help: 'sharpness uses at most N training points (a fixed seeded subset)', keyed: true, storedAlways: true,
});
export const sharpnessSteps = defineOption({
  name: 'sharpnessSteps', flag: 'sharpness-steps', type: 'int', value: 'N', default: 20, min: 0,
  check: (v: number) => (v >= 0 ? null : `sharpness steps must be a whole number ≥ 0 (got ${v})`),
  help: 'projected gradient-ascent steps of sharpness (and of sharpness_mag_flatness per α′)', keyed: true, storedAlways: true,
});
export const sigmaSteps = defineOption({
  name: 'sigmaSteps', flag: 'sigma-steps', type: 'int', value: 'N', default: 15, min: 1,
  check: (v: number) => (v >= 1 ? null : `σ bisection steps must be a whole number ≥ 1 (got ${v})`),
  help: 'bisection steps of the σ search of pac_bayes_sigma (and of the α′ searches of the magnitude-aware flatness)', keyed: true, storedAlways: true,
});
export const sigmaMax = defineOption({
  name: 'sigmaMax', flag: 'sigma-max', type: 'number', value: 'S', default: 2, min: 1e-12,
  help: 'pac_bayes_sigma: the σ search bisects [0, S]', keyed: true, storedAlways: true,
});
export const accuracyDrop = defineOption({
  name: 'accuracyDrop', flag: 'accuracy-drop', type: 'number', value: 'D', default: 0.1, min: 1e-12, max: 1,
  help: 'the training-accuracy drop the σ and α′ searches look for', keyed: true, storedAlways: true,
});
export const accuracyTol = defineOption({
  name: 'accuracyTol', flag: 'accuracy-tol', type: 'number', value: 'T', default: 0.01, min: 0, max: 1,
  help: 'the σ and α′ searches stop when the drop is within --accuracy-drop ± T', keyed: true, storedAlways: true,
});

/** The built-in options, as declared above. */
export const BUILTIN_OPTIONS = [marginEps, alpha, samples, seed, delta, alphaGridOption, sharpnessTarget, sharpnessPoints, sharpnessSteps, sigmaSteps, sigmaMax, accuracyDrop, accuracyTol] as const;

/** The values of the built-in options, typed from their declarations. */
export type BuiltinOptionValues = { [O in (typeof BUILTIN_OPTIONS)[number] as O['name']]: OptionValue<O> };

/** The built-in defaults by name (DEFAULTS.marginEps …; the α grid's default is alphaGrid()). */
export const DEFAULTS = Object.fromEntries(BUILTIN_OPTIONS.filter((o) => o.type !== 'string').map((o) => [o.name, o.defaultValue()])) as Omit<BuiltinOptionValues, 'alphaGrid'>;

/**
 * A command's option table with the measure options' flags inserted after its `measures` flag (or at the
 * end): the flags come from the declarations, the command lists only its own.
 */
export function withMeasureFlags<F>(command: OptionCommand, own: Record<string, F>, opts: { withDefaults: boolean }): Record<string, F | FlagDef> {
  const flags = cliFlags(command, { withDefaults: opts.withDefaults, taken: Object.keys(own) });
  const out: Record<string, F | FlagDef> = {};
  let inserted = false;
  for (const [k, v] of Object.entries(own)) {
    out[k] = v;
    if (k === 'measures') {
      Object.assign(out, flags);
      inserted = true;
    }
  }
  return inserted ? out : Object.assign(out, flags);
}
