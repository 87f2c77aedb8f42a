/**
 * The margin and the evaluation of the network on its training set.
 *
 *   margin of a point = f_w(x)[y] − max_{j≠y} f_w(x)[j]
 *   γ (`margin`)      = the k-th smallest training margin, k = ⌈ε·m⌉ (docs/definitions.md; the paper uses the 5th percentile)
 *
 * Margin-normalised measures are undefined when γ ≤ 0: they are null with the reason docs/definitions.md gives.
 * Also here: helpers every margin-normalised measure uses (withPositiveMargin, fromLog10).
 */
import type { Dataset } from '../data/types.js';
import { logits as engineLogits } from '../engine/programs.js';
import { parameterArrays, type Network } from '../models/network.js';
import { defineMeasure, defineQuantity } from './define.js';
import type { MeasureResult } from './types.js';

export interface Evaluation {
  /** Margin of every point, in data order. */
  margins: Float64Array;
  /** Mean cross-entropy. */
  loss: number;
  /** Fraction misclassified (0/1 error; ties count as errors). */
  error: number;
  m: number;
}

export { batchRows } from '../engine/programs.js';

/** Logits of the network (float32, [m, classes] row-major) for examples [start, end) of flat inputs x. */
export function logitsOf(net: Network, params: Float32Array[], x: Float32Array, start: number, end: number): Promise<Float32Array> {
  return engineLogits(net, params, x, start, end);
}

/** Margin, cross-entropy and 0/1 error of one row of logits (float64 arithmetic). */
export function rowStats(logits: ArrayLike<number>, off: number, c: number, y: number): { margin: number; ce: number; wrong: boolean } {
  let other = -Infinity;
  let mx = -Infinity;
  for (let j = 0; j < c; j++) {
    const v = logits[off + j];
    if (v > mx) mx = v;
    if (j !== y && v > other) other = v;
  }
  let se = 0;
  for (let j = 0; j < c; j++) se += Math.exp(logits[off + j] - mx);
  const fy = logits[off + y];
  return { margin: fy - other, ce: mx + Math.log(se) - fy, wrong: !(fy > other) };
}

/** Margins, cross-entropy and 0/1 error of the network (its own weights) on a data set. */
export async function evaluateNetwork(net: Network, data: Dataset): Promise<Evaluation> {
  {
    const logits = await logitsOf(net, parameterArrays(net), data.x, 0, data.n);
    const c = net.numClasses;
    const margins = new Float64Array(data.n);
    let loss = 0;
    let wrong = 0;
    for (let i = 0; i < data.n; i++) {
      const r = rowStats(logits, i * c, c, data.y[i]);
      margins[i] = r.margin;
      loss += r.ce;
      if (r.wrong) wrong++;
    }
    return { margins, loss: loss / Math.max(1, data.n), error: wrong / Math.max(1, data.n), m: data.n };
  }
}

/**
 * γ = the k-th smallest margin, k = ⌈ε·m⌉ (at least 1; ε·m is rounded to 1e-9 first so that e.g.
 * ε = 0.07, m = 100 gives k = 7, not 8).
 */
export function marginQuantile(margins: ArrayLike<number>, eps: number): { gamma: number; k: number } {
  const m = margins.length;
  if (m === 0) throw new RangeError('marginQuantile: no margins');
  const k = Math.min(m, Math.max(1, Math.ceil(eps * m - 1e-9)));
  const sorted = Float64Array.from(margins).sort();
  return { gamma: sorted[k - 1], k };
}

/** The evaluation of the network on the training set: every margin, the cross-entropy, the 0/1 error. */
export const evaluation = defineQuantity({
  name: 'evaluation',
  summary: 'margins, cross-entropy and 0/1 error of the network on the training set',
  needs: ['weights', 'data'],
  components: ['m', 'train_loss', 'train_error'],
  async compute(ctx) {
    const ev = await evaluateNetwork(ctx.net, ctx.data!);
    ctx.set('m', ev.m);
    ctx.set('train_loss', ev.loss);
    ctx.set('train_error', ev.error);
    return ev;
  },
});

export interface Gamma {
  /** γ: the k-th smallest training margin */
  gamma: number;
  k: number;
  /** the ε it was read at */
  eps: number;
}

/** γ of the training set at ε = marginEps. */
export const gamma = defineQuantity({
  name: 'gamma',
  summary: 'γ: the ⌈ε·m⌉-th smallest training margin',
  reads: [evaluation],
  options: ['marginEps'],
  components: ['margin_eps', 'margin_k'],
  async compute(ctx): Promise<Gamma> {
    const ev = await ctx.read(evaluation);
    const eps = ctx.options.marginEps;
    const { gamma, k } = marginQuantile(ev.margins, eps);
    ctx.set('margin_eps', eps);
    ctx.set('margin_k', k);
    return { gamma, k, eps };
  },
});

export const MARGIN_NOT_POSITIVE = 'margin not positive: the network misclassifies more than ε of the training set';

/** Run f(γ) when γ > 0; else null with the documented reason. */
export function withPositiveMargin(g: Gamma, f: (gamma: number) => MeasureResult): MeasureResult {
  if (!(g.gamma > 0)) {
    return { value: null, note: `${MARGIN_NOT_POSITIVE} (γ = ${g.gamma.toPrecision(4)} at ε = ${g.eps})` };
  }
  return f(g.gamma);
}

/**
 * A measure computed as its log10 (products of many norms overflow easily): 10^log10 with the log10 (kept
 * in components.log10[name] by computeMeasures), or null with a note if that is beyond the float64 range.
 */
export function fromLog10(name: string, log10: number): MeasureResult {
  const log = Number.isFinite(log10) ? log10 : null;
  if (log10 === -Infinity) return { value: 0, log10: log };
  if (!Number.isFinite(log10)) return { value: null, note: `${name} is not finite (a norm is infinite or NaN)`, log10: log };
  const v = 10 ** log10;
  if (!Number.isFinite(v)) return { value: null, note: `${name} = 10^${log10.toFixed(2)} is beyond the float64 range; its log10 is in components.log10.${name}`, log10: log };
  return { value: v, log10: log };
}

export const measures = [
  defineMeasure({
    name: 'margin',
    summary: 'γ: the ⌈ε·m⌉-th smallest training margin f(x)[y] − max_{j≠y} f(x)[j]',
    reads: [gamma],
    needs: ['weights'],
    async compute(ctx) {
      return { value: (await ctx.read(gamma)).gamma };
    },
  }),
];
