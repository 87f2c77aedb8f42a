/**
 * The margin and the evaluation of the network on its training set.
 *
 *   margin of a point = f_w(x)[y] − max_{j≠y} f_w(x)[j]
 *   γ (`margin`)      = the k-th smallest training margin, k = ⌈ε·m⌉ (SPEC; the paper uses the 5th percentile)
 *
 * Margin-normalised measures are undefined when γ ≤ 0: they are null with SPEC's reason.
 * Also here: helpers every margin-normalised measure uses (withPositiveMargin, fromLog10).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/types.js';
import { forward, parameterTensors } from '../models/forward.js';
import type { Network } from '../models/network.js';
import type { MeasureContext, MeasureDef, MeasureResult } from './types.js';

export interface Evaluation {
  /** Margin of every point, in data order. */
  margins: Float64Array;
  /** Mean cross-entropy. */
  loss: number;
  /** Fraction misclassified (0/1 error; ties count as errors). */
  error: number;
  m: number;
}

/** Rows per forward batch so that about `budget` activation values are alive at once. */
export function batchRows(net: Network, budget = 4e7): number {
  let per = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  for (const l of net.layers) {
    if (l.kind === 'dense') per += l.outSize;
    else if (l.kind === 'conv2d' || l.kind === 'maxpool' || l.kind === 'avgpool') per += l.outShape[0] * l.outShape[1] * l.outShape[2];
  }
  return Math.max(1, Math.min(5000, Math.floor(budget / per)));
}

/** Logits of the network (float32, [m, classes] row-major) for examples [start, end) of flat inputs x. */
export function logitsOf(net: Network, params: tf.Tensor[], x: Float32Array, start: number, end: number): Float32Array {
  const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  const out = new Float32Array((end - start) * net.numClasses);
  const rows = batchRows(net);
  for (let s = start; s < end; s += rows) {
    const e = Math.min(end, s + rows);
    // (tf.tidy returns the tensor: returning a typed array would make tidy walk its elements)
    const t = tf.tidy(() => forward(net, params, tf.tensor2d(x.subarray(s * size, e * size), [e - s, size])));
    out.set(t.dataSync() as Float32Array, (s - start) * net.numClasses);
    t.dispose();
  }
  return out;
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
export function evaluateNetwork(net: Network, data: Dataset): Evaluation {
  const params = parameterTensors(net);
  try {
    const logits = logitsOf(net, params, data.x, 0, data.n);
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
  } finally {
    for (const p of params) p.dispose();
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

/** The evaluation of the network on ctx.data (memoised). */
export function evaluationOf(ctx: MeasureContext): Promise<Evaluation> {
  return ctx.memo('evaluation', () => {
    const ev = evaluateNetwork(ctx.net, ctx.data!);
    ctx.components.m = ev.m;
    ctx.components.train_loss = ev.loss;
    ctx.components.train_error = ev.error;
    return ev;
  });
}

/** γ of ctx.data at ε = options.marginEps (memoised). */
export function gammaOf(ctx: MeasureContext): Promise<number> {
  return ctx.memo('gamma', async () => {
    const ev = await evaluationOf(ctx);
    const { gamma, k } = marginQuantile(ev.margins, ctx.options.marginEps);
    ctx.components.margin_eps = ctx.options.marginEps;
    ctx.components.margin_k = k;
    return gamma;
  });
}

export const MARGIN_NOT_POSITIVE = 'margin not positive: the network misclassifies more than ε of the training set';

/** Run f(γ) when γ > 0; else null with SPEC's reason. */
export async function withPositiveMargin(ctx: MeasureContext, f: (gamma: number) => MeasureResult | Promise<MeasureResult>): Promise<MeasureResult> {
  const gamma = await gammaOf(ctx);
  if (!(gamma > 0)) {
    return { value: null, note: `${MARGIN_NOT_POSITIVE} (γ = ${gamma.toPrecision(4)} at ε = ${ctx.options.marginEps})` };
  }
  return f(gamma);
}

/**
 * A measure computed as its log10 (products of many norms overflow easily): records components.log10[name]
 * and returns 10^log10, or null with a note if that is beyond the float64 range.
 */
export function fromLog10(ctx: MeasureContext, name: string, log10: number): MeasureResult {
  const logs = (ctx.components.log10 ??= {}) as Record<string, number | null>;
  logs[name] = Number.isFinite(log10) ? log10 : null;
  if (log10 === -Infinity) return { value: 0 };
  if (!Number.isFinite(log10)) return { value: null, note: `${name} is not finite (a norm is infinite or NaN)` };
  const v = 10 ** log10;
  if (!Number.isFinite(v)) return { value: null, note: `${name} = 10^${log10.toFixed(2)} is beyond the float64 range; its log10 is in components.log10.${name}` };
  return { value: v };
}

export const measures: MeasureDef[] = [
  {
    name: 'margin',
    summary: 'γ: the ⌈ε·m⌉-th smallest training margin f(x)[y] − max_{j≠y} f(x)[j]',
    needs: ['weights', 'data'],
    async compute(ctx) {
      return { value: await gammaOf(ctx) };
    },
  },
];
