/**
 * The complexity measures of Neyshabur et al. (NIPS 2017), as defined in docs/definitions.md, as a registry: every measure is a
 * `MeasureDef { name, summary, needs, compute(ctx) }` defined in its family's file; adding one is adding
 * it to that file's `measures` list (or a new file's list, imported below).
 *
 *   computeMeasures(net, data, options?, progress?) → MeasureReport
 *
 * The engine (engine/runtime.ts) runs the data-heavy work with the process's threads and device. Every value is a number or null,
 * and every null has a note saying why. timings_ms[name] is the wall time spent computing that measure;
 * intermediate results shared by several measures (γ, spectral norms, the PAC-Bayes curve, the σ bisection)
 * are charged to the first measure that needs them.
 */
import { UserError } from '../errors.js';
import { subsetIndices, take } from '../data/transforms.js';
import type { Dataset } from '../data/types.js';
import { Network, weightLayers } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { createEvaluator, type Evaluator } from './evaluator.js';
import { checkSameArchitecture } from './init.js';
import { alphaGrid } from './pacbayes.js';
import * as init from './init.js';
import * as lipschitz from './lipschitz.js';
import * as magflatness from './magflatness.js';
import * as margin from './margin.js';
import * as norms from './norms.js';
import * as optimized from './optimized.js';
import * as pacbayes from './pacbayes.js';
import * as paths from './paths.js';
import * as sharpness from './sharpness.js';
import * as spectral from './spectral.js';
import type { MeasureContext, MeasureDef, MeasureOptions, MeasureReport, PacBayesPoint, ProgressFactory, ResolvedOptions } from './types.js';

export * from './types.js';
export { groupNorm, frobeniusNorm } from './norms.js';
export { pathSum } from './paths.js';
export { layerSpectralNorm, operatorNorm, largestEigenvalue } from './spectral.js';
export { evaluateNetwork, marginQuantile } from './margin.js';
export { diameterEstimate } from './lipschitz.js';
export { alphaGrid, parseAlphaGrid, klPaper, klIsotropic, pacBayesBound } from './pacbayes.js';
export { layerDistances, bartlettGroupNorms, checkSameArchitecture } from './init.js';
export { layerOperator, unitNorms, denseMatrix } from './linear.js';

/** Output order of the measures. */
const ORDER = [
  'params',
  'vc_dim',
  'margin',
  'l2',
  'l1_path',
  'l2_path',
  'spectral',
  'l1_inf',
  'lipschitz',
  'lipschitz_capacity_log10',
  'sharpness',
  'expected_sharpness',
  'kl',
  'pac_bayes',
  'pac_bayes_kl',
  'pac_bayes_optimized',
  'kl_at_sharpness',
  'pac_bayes_sigma',
  'flatness',
  'pac_bayes_mag_flatness',
  'sharpness_mag_flatness',
  'dist_from_init',
  'bartlett_spectral',
];

const ALL: MeasureDef[] = [margin, norms, paths, spectral, lipschitz, sharpness, pacbayes, optimized, magflatness, init].flatMap((m) => m.measures);

/** Every measure, in output order. */
export const MEASURES: MeasureDef[] = [...ALL].sort((a, b) => rank(a.name) - rank(b.name));
export const MEASURE_NAMES: string[] = MEASURES.map((m) => m.name);

function rank(name: string): number {
  const i = ORDER.indexOf(name);
  return i < 0 ? ORDER.length : i;
}

// ---- defineMeasure: measures from the user's code --------------------------------------------------
// MEASURES and MEASURE_NAMES are the live registry: defineMeasure appends to both arrays in place (a
// user measure ranks after the built-in ones), so every module that imported them, and every function
// that reads them at call time (parseMeasureList, resolveOptions' default list, computeMeasures, the
// experiments' measure list, the CSV export's columns), sees it.

/** Names a measure cannot take: the run fields of the CSV export (experiments/export.ts EXPORT_FIELDS). */
const RESERVED_NAMES = [
  'key', 'experiment', 'label', 'status', 'converged', 'stop_reason', 'epochs', 'train_size', 'labels', 'confusion', 'width',
  'm', 'true_count', 'measured_on', 'train_loss', 'train_error', 'test_loss', 'test_error', 'gen_gap', 'backend',
  'train_seconds', 'measure_seconds', 'checkpoint', 'created_at', 'finished_at', 'error',
];

/**
 * Add a measure to the registry: `{ name, summary, needs, compute(ctx) }` (see MeasureDef). The name is
 * snake_case (a lower-case letter, then lower-case letters, digits and single underscores) and not
 * taken; `needs` lists what compute uses ('weights', 'data', 'initial': without them the value is null
 * with a note). It is then computed by default (computeMeasures, `genmeasures measure` and `run` with
 * --plugin FILE), named in --measures, exported as a column and ranked in the report. A UserError
 * when the definition is not valid.
 */
export function defineMeasure(def: MeasureDef): void {
  const d = def as Partial<MeasureDef> | null;
  if (!d || typeof d !== 'object') throw new UserError('defineMeasure: expected a measure definition { name, summary, needs, compute }');
  const name = d.name;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name)) {
    throw new UserError(`defineMeasure: the name ${JSON.stringify(name)} is not snake_case (e.g. my_measure: lower-case letters, digits and single underscores, starting with a letter)`);
  }
  if (MEASURE_NAMES.includes(name)) throw new UserError(`defineMeasure: a measure named ${name} exists already`);
  if (RESERVED_NAMES.includes(name)) throw new UserError(`defineMeasure: ${name} is the name of a run field of the export; choose another name`);
  if (typeof d.summary !== 'string' || d.summary.trim() === '') throw new UserError(`defineMeasure ${name}: a one-line summary is required`);
  const needs = d.needs ?? [];
  if (!Array.isArray(needs) || !needs.every((n) => n === 'weights' || n === 'data' || n === 'initial')) {
    throw new UserError(`defineMeasure ${name}: needs must list 'weights', 'data' or 'initial' (got ${JSON.stringify(d.needs)})`);
  }
  if (typeof d.compute !== 'function') throw new UserError(`defineMeasure ${name}: compute(ctx) must be a function returning { value, note? }`);
  const measure: MeasureDef = { ...(d as MeasureDef), needs: [...needs] };
  // in rank order: after every measure of lower or equal rank (user measures go last, in definition order)
  let i = MEASURES.length;
  while (i > 0 && rank(MEASURES[i - 1].name) > rank(name)) i--;
  MEASURES.splice(i, 0, measure);
  MEASURE_NAMES.splice(i, 0, name);
}
// ---- end defineMeasure -------------------------------------------------------------------------------

export const DEFAULTS = {
  marginEps: 0.05,
  alpha: 5e-4,
  samples: 10,
  seed: 1,
  delta: 0.05,
  sharpnessTarget: 0.05,
  sharpnessPoints: 5000,
  sharpnessSteps: 20,
  sigmaSteps: 15,
  sigmaMax: 2,
  accuracyDrop: 0.1,
  accuracyTol: 0.01,
};

/** Parse a comma-separated list of measure names; unknown names are a UserError listing the valid ones. */
export function parseMeasureList(list: string | string[]): string[] {
  const names = (Array.isArray(list) ? list : list.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !MEASURE_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new UserError(`unknown measure${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (valid: ${MEASURE_NAMES.join(', ')})`);
  }
  if (names.length === 0) throw new UserError(`no measures named (valid: ${MEASURE_NAMES.join(', ')})`);
  return [...new Set(names)];
}

function check(ok: boolean, msg: string) {
  if (!ok) throw new UserError(msg);
}

export function resolveOptions(o: MeasureOptions = {}): ResolvedOptions {
  const r: ResolvedOptions = {
    measures: o.measures ? parseMeasureList(o.measures) : [...MEASURE_NAMES],
    marginEps: o.marginEps ?? DEFAULTS.marginEps,
    alpha: o.alpha ?? DEFAULTS.alpha,
    samples: o.samples ?? DEFAULTS.samples,
    seed: o.seed ?? DEFAULTS.seed,
    delta: o.delta ?? DEFAULTS.delta,
    alphaGrid: o.alphaGrid ?? alphaGrid(),
    sharpnessTarget: o.sharpnessTarget ?? DEFAULTS.sharpnessTarget,
    sharpnessPoints: o.sharpnessPoints ?? DEFAULTS.sharpnessPoints,
    sharpnessSteps: o.sharpnessSteps ?? DEFAULTS.sharpnessSteps,
    sigmaSteps: o.sigmaSteps ?? DEFAULTS.sigmaSteps,
    sigmaMax: o.sigmaMax ?? DEFAULTS.sigmaMax,
    accuracyDrop: o.accuracyDrop ?? DEFAULTS.accuracyDrop,
    accuracyTol: o.accuracyTol ?? DEFAULTS.accuracyTol,
    initial: o.initial ?? null,
    initialMissing: o.initialMissing ?? 'no initial weights were given',
  };
  check(r.marginEps > 0 && r.marginEps <= 1, `margin ε must be in (0, 1] (got ${r.marginEps})`);
  check(r.alpha > 0 && Number.isFinite(r.alpha), `α must be positive (got ${r.alpha})`);
  check(Number.isInteger(r.samples) && r.samples >= 1, `the number of samples must be a whole number ≥ 1 (got ${r.samples})`);
  check(r.delta > 0 && r.delta < 1, `δ must be in (0, 1) (got ${r.delta})`);
  check(r.alphaGrid.length >= 1 && r.alphaGrid.every((a) => a > 0 && Number.isFinite(a)), 'the α grid must hold positive numbers');
  check(r.sharpnessTarget > 0 && r.sharpnessTarget < 1, `the sharpness target must be in (0, 1) (got ${r.sharpnessTarget})`);
  check(Number.isInteger(r.sharpnessPoints) && r.sharpnessPoints >= 1, `sharpness points must be a whole number ≥ 1 (got ${r.sharpnessPoints})`);
  check(Number.isInteger(r.sharpnessSteps) && r.sharpnessSteps >= 0, `sharpness steps must be a whole number ≥ 0 (got ${r.sharpnessSteps})`);
  check(Number.isInteger(r.sigmaSteps) && r.sigmaSteps >= 1, `σ bisection steps must be a whole number ≥ 1 (got ${r.sigmaSteps})`);
  return r;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Throw a one-line UserError when the data cannot be fed to the network: a different input shape (an
 * input of the same size is accepted when the network flattens first) or a label that is not one of the
 * network's outputs. The data's own number of classes does not matter: data whose highest classes are
 * absent from the points measured, or a data set with more classes whose points all carry labels the
 * model has, is measured.
 */
export function checkDataMatchesNetwork(net: Network, data: Dataset): void {
  const ns = net.inputShape;
  const ds = data.shape;
  const first = net.layers.find((l) => l.kind !== 'flatten');
  const flattensFirst = !first || first.kind === 'dense';
  const shapeOk = ns.join('x') === ds.join('x') || (flattensFirst && prod(ns) === prod(ds));
  const describe = `the data (${data.name}: ${ds.join('x')} inputs, ${data.numClasses} classes) does not match the model (${ns.join('x')} inputs, ${net.numClasses} classes)`;
  if (!shapeOk) throw new UserError(describe);
  const y = data.y;
  for (let i = 0; i < data.n; i++) {
    if (!(y[i] >= 0 && y[i] < net.numClasses)) {
      throw new UserError(`${describe}: point ${i} has label ${y[i]}, and the model's outputs are classes 0..${net.numClasses - 1}`);
    }
  }
}

const quietProgress: Progress = { update() {}, log() {}, done() {} };

/**
 * Compute the selected measures of `net` on the training set `data` (null: only the measures that need no
 * data are numbers; the rest are null with a note).
 */
/** A TypeError naming what `computeMeasures` was given, when it is not a Network (e.g. a TF.js LayersModel). */
function assertNetwork(net: unknown): asserts net is Network {
  const n = net as Partial<Network> | null;
  const ok = !!n && Array.isArray(n.layers) && Array.isArray(n.inputShape) && n.inputShape.length === 3 && Number.isInteger(n.numClasses);
  if (ok) return;
  const what = n && typeof n === 'object' ? (n.constructor?.name ?? 'an object') : typeof net;
  const hint = n && typeof n === 'object' && 'predict' in n ? ' (a TF.js LayersModel? save it with model.save(…) and load the model.json with loadNetwork)' : '';
  throw new TypeError(`computeMeasures: expected a Network {inputShape, numClasses, layers} (loadNetwork, buildNetwork, loadAnyNetwork), got ${what}${hint}`);
}

export async function computeMeasures(net: Network, data: Dataset | null, options: MeasureOptions = {}, progress?: ProgressFactory): Promise<MeasureReport> {
  assertNetwork(net);
  const o = resolveOptions(options);
  if (data) checkDataMatchesNetwork(net, data);
  if (data && data.n === 0) throw new UserError(`the data (${data.name}) has no examples`);
  if (o.initial) checkSameArchitecture(net, o.initial);
  const notes: string[] = [];
  const components: Record<string, unknown> = {};
  const curve: PacBayesPoint[] = [];
  const memos = new Map<string, Promise<unknown>>();
  let evaluator: Promise<Evaluator> | null = null;
  const ctx: MeasureContext = {
    net,
    data,
    initial: o.initial,
    options: o,
    components,
    curve,
    note(text) {
      if (!notes.includes(text)) notes.push(text);
    },
    memo<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
      let p = memos.get(key) as Promise<T> | undefined;
      if (!p) {
        p = Promise.resolve().then(fn);
        memos.set(key, p);
      }
      return p;
    },
    evaluator() {
      evaluator ??= (async () => {
        const d = data!;
        const full = { x: d.x, y: d.y, n: d.n };
        const sharp = d.n <= o.sharpnessPoints ? full : (() => {
          const s = take(d, subsetIndices(d.n, o.sharpnessPoints, o.seed, 'sharpness points'));
          return { x: s.x, y: s.y, n: s.n };
        })();
        return createEvaluator(net, full, sharp, o.seed);
      })();
      return evaluator;
    },
    progress(label, total) {
      return progress ? progress(label, total) : quietProgress;
    },
  };

  const widths = weightLayers(net).map((l) => (l.kind === 'dense' ? l.outSize : l.outShape[0] * l.outShape[1] * l.outShape[2]));
  components.widths = widths;
  if (weightLayers(net).some((l) => l.bias)) {
    ctx.note('biases are weights from an always-on unit: norms use the augmented [W_i | b_i], path sums include paths that start at a bias, and the perturbations of sharpness and PAC-Bayes perturb them too');
  }
  if (weightLayers(net).some((l) => l.kind === 'conv2d')) {
    ctx.note('convolutions are measured as the linear operators they are on their input shape (h_i = height × width × channels of the output)');
  }

  const measures: Record<string, number | null> = {};
  const timings: Record<string, number> = {};
  try {
    for (const def of MEASURES) {
      if (!o.measures.includes(def.name)) continue;
      const t0 = performance.now();
      let result;
      if (def.needs.includes('data') && !data) result = { value: null, note: 'needs the training data' };
      else if (def.needs.includes('initial') && !o.initial) result = { value: null, note: o.initialMissing };
      else result = await def.compute(ctx);
      timings[def.name] = Math.round(performance.now() - t0);
      let { value, note } = result;
      if (value !== null && !Number.isFinite(value)) {
        note = `the value is not finite (${value})`;
        value = null;
      }
      if (value === null) ctx.note(`${def.name} is null: ${note ?? 'no reason given'}`);
      measures[def.name] = value;
    }
  } finally {
    const pending = evaluator as Promise<Evaluator> | null; // assigned inside ctx.evaluator()
    if (pending) await pending.then((ev) => ev.close(), () => undefined);
  }
  return { measures, components, pac_bayes_curve: curve, notes, timings_ms: timings };
}
