/**
 * The complexity measures of Neyshabur et al. (NIPS 2017), as defined in docs/definitions.md, as an open
 * registry (define.ts): every measure is a defineMeasure in its family's file, reading shared quantities
 * (defineQuantity) and declared options (options.ts, defineOption); a user adds one the same way.
 *
 *   computeMeasures(net, data, options?, progress?) → MeasureReport
 *
 * The engine (engine/runtime.ts) runs the data-heavy work with the process's threads and device. Every value is a number or null,
 * and every null has a note saying why. timings_ms[name] is the wall time spent computing that measure
 * (the quantities it is the first to read included: γ, the spectral norms, the α-curve and the σ search are
 * charged to the first measure that needs them); quantity_timings_ms[name] is each quantity's own time.
 */
import { UserError } from '../errors.js';
import type { Dataset } from '../data/types.js';
import { Network, weightLayers } from '../models/network.js';
import { LOG10 } from './components.js';
import { Session } from './context.js';
import { MEASURES, MEASURE_NAMES } from './define.js';
import { checkSameArchitecture } from './init.js';
import { resolveOptionValues } from './options.js';
import { alphaCurve } from './pacbayes.js';
import { widths } from './norms.js';
// the families: importing them defines their quantities and measures
import './margin.js';
import './norms.js';
import './paths.js';
import './spectral.js';
import './lipschitz.js';
import './sharpness.js';
import './pacbayes.js';
import './optimized.js';
import './magflatness.js';
import './init.js';
import type { MeasureOptions, MeasureReport, ProgressFactory, ResolvedOptions } from './types.js';

export * from './types.js';
export { MEASURES, MEASURE_NAMES, defineMeasure, defineQuantity, dependsOnOptions, type MeasureSpec, type QuantitySpec } from './define.js';
export { OPTIONS, DEFAULTS, defineOption, type OptionDef, type OptionSpec, type BuiltinOptionValues } from './options.js';
export { defineComponent, WIDTHS, SPECTRAL_NORMS, FRO_NORMS, L1_PATH_SUM, L2_PATH_SUM, LOG10, PAC_BAYES_ALPHA, PAC_BAYES_ALPHA_AT_EDGE, type ComponentField } from './components.js';
// the built-in quantities, for a user measure's reads
export { evaluation, gamma, type Gamma } from './margin.js';
export { widths, froNorms } from './norms.js';
export { l1PathSum, l2PathSum } from './paths.js';
export { spectralNorms } from './spectral.js';
export { logLipschitz, diameter } from './lipschitz.js';
export { evaluator } from './evaluator.js';
export { alphaCurve, sigmaSearch } from './pacbayes.js';
export { groupNorm, frobeniusNorm } from './norms.js';
export { pathSum } from './paths.js';
export { layerSpectralNorm, operatorNorm, largestEigenvalue } from './spectral.js';
export { evaluateNetwork, marginQuantile } from './margin.js';
export { diameterEstimate } from './lipschitz.js';
export { alphaGrid, parseAlphaGrid, klPaper, klIsotropic, pacBayesBound } from './pacbayes.js';
export { layerDistances, bartlettGroupNorms, checkSameArchitecture } from './init.js';
export { layerOperator, unitNorms, denseMatrix } from './linear.js';

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

/** Every option filled in (its default) and checked, a plugin's too; an unknown option is a UserError. */
export function resolveOptions(o: MeasureOptions = {}): ResolvedOptions {
  const values = resolveOptionValues(o, ['measures', 'initial', 'initialMissing']);
  return {
    ...values,
    measures: o.measures ? parseMeasureList(o.measures) : [...MEASURE_NAMES],
    initial: o.initial ?? null,
    initialMissing: o.initialMissing ?? 'no initial weights were given',
  } as ResolvedOptions;
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
  const session = new Session(net, data, o, progress);
  // the widths are always in the report: the figures read them
  await session.quantity(widths);
  if (weightLayers(net).some((l) => l.bias)) {
    session.note('biases are weights from an always-on unit: norms use the augmented [W_i | b_i], path sums include paths that start at a bias, and the perturbations of sharpness and PAC-Bayes perturb them too');
  }
  if (weightLayers(net).some((l) => l.kind === 'conv2d')) {
    session.note('convolutions are measured as the linear operators they are on their input shape (h_i = height × width × channels of the output)');
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
      else result = await def.compute(session.context(`measure ${def.name}`, def));
      timings[def.name] = Math.round(performance.now() - t0);
      let { value, note } = result;
      if (result.log10 !== undefined) {
        const log10 = result.log10;
        session.components[LOG10.name] = { ...(LOG10.read(session.components) ?? {}), [def.name]: log10 !== null && Number.isFinite(log10) ? log10 : null };
      }
      if (value !== null && !Number.isFinite(value)) {
        note = `the value is not finite (${value})`;
        value = null;
      }
      if (value === null) session.note(`${def.name} is null: ${note ?? 'no reason given'}`);
      measures[def.name] = value;
    }
  } finally {
    await session.dispose();
  }
  const curve = session.computed(alphaCurve);
  return {
    measures,
    components: session.components,
    pac_bayes_curve: curve ? (await curve).points : [],
    notes: session.notes,
    timings_ms: timings,
    quantity_timings_ms: session.quantityTimings,
  };
}
