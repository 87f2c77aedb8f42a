/**
 * Path norms (Neyshabur, Tomioka & Srebro 2015; paper section 2.2):
 *
 *   l1_path = (1/γ²) (Σ_paths ∏_i 2|W_i[j_i, j_{i-1}]|)² = 4^d (Σ_paths ∏_i |W_i|)² / γ²
 *   l2_path = (1/γ²) Σ_paths ∏_i 4 h_i W_i[j_i, j_{i-1}]²  = 4^d (∏_i h_i) Σ_paths ∏_i W_i² / γ²
 *
 * The path sums Σ_paths ∏|W_i|^p = 1ᵀ |W_d|^p ⋯ |W_1|^p 1 are ONE forward pass of the network with every
 * weight replaced by |w|^p, linear activations and an all-ones input — paths are never enumerated.
 * A bias is the weight from an always-on unit, so paths may start at a bias: the pass adds |b|^p at every
 * layer. Average pooling is an exact linear map (weights 1/count, raised to p like every weight); max pooling
 * is counted as the sum over its window (every window input is a path; an upper bound). The pass keeps its
 * activations scaled to max 1 and tracks the scale in log10, so deep networks do not overflow; the raw sums
 * are components (`l1_path_sum`, `l2_path_sum`, null if beyond float64) and their log10 in components.log10.
 */
import { Network, weightLayers } from '../models/network.js';
import { absPow, biasVector, convApply, denseApply, poolPathApply, unitsOf, windowGeometry, Vec } from './linear.js';
import { L1_PATH_SUM, L2_PATH_SUM, LOG10, type ComponentField } from './components.js';
import { defineMeasure, defineQuantity } from './define.js';
import { fromLog10, gamma, withPositiveMargin } from './margin.js';

export interface PathSum {
  /** Σ_paths ∏|w|^p (Infinity if beyond float64). */
  value: number;
  log10: number;
}

/** Σ over all input-to-output paths (and paths starting at a bias) of ∏ |w|^p. */
export function pathSum(net: Network, p: number): PathSum {
  let a: Vec = new Float64Array(net.inputShape[0] * net.inputShape[1] * net.inputShape[2]).fill(1);
  let logScale = 0; // true activations = a · 10^logScale
  for (const l of net.layers) {
    switch (l.kind) {
      case 'dense':
      case 'conv2d': {
        const k = absPow(l.kernel, p);
        a = l.kind === 'dense' ? denseApply(k, l.inSize, l.outSize, a) : convApply(windowGeometry(l), k, a);
        if (l.bias) {
          const b = biasVector(l, absPow(l.bias, p));
          const inv = 10 ** -logScale;
          for (let u = 0; u < a.length; u++) a[u] += b[u] * inv;
        }
        break;
      }
      case 'maxpool':
      case 'avgpool':
        a = poolPathApply(l, a, p);
        break;
      case 'relu':
      case 'flatten':
        break;
    }
    let mx = 0;
    for (let i = 0; i < a.length; i++) if (a[i] > mx) mx = a[i];
    if (mx > 0 && Number.isFinite(mx)) {
      for (let i = 0; i < a.length; i++) a[i] /= mx;
      logScale += Math.log10(mx);
    }
  }
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const log10 = s > 0 ? Math.log10(s) + logScale : -Infinity;
  return { value: 10 ** log10, log10 };
}

/** Σ_paths ∏|W_i| and Σ_paths ∏W_i²: one quantity each. */
function pathSumQuantity(p: 1 | 2, field: ComponentField<number | null>) {
  return defineQuantity({
    name: field.name,
    summary: `Σ over paths of ∏ |w|^${p}`,
    needs: ['weights'],
    components: [field, LOG10],
    compute(ctx): PathSum {
      const r = pathSum(ctx.net, p);
      ctx.set(field, Number.isFinite(r.value) ? r.value : null);
      ctx.set(LOG10, { [field.name]: Number.isFinite(r.log10) ? r.log10 : null });
      if (ctx.net.layers.some((l) => l.kind === 'maxpool')) {
        ctx.note('path norms count max-pooling as the sum over its window (every window input is a path): an upper bound');
      }
      return r;
    },
  });
}

export const l1PathSum = pathSumQuantity(1, L1_PATH_SUM);
export const l2PathSum = pathSumQuantity(2, L2_PATH_SUM);

export const measures = [
  defineMeasure({
    name: 'l1_path',
    summary: '4^d (Σ_paths ∏|W_i|)² / γ²',
    reads: [l1PathSum, gamma],
    async compute(ctx) {
      const s = await ctx.read(l1PathSum);
      const d = weightLayers(ctx.net).length;
      return withPositiveMargin(await ctx.read(gamma), (g) => fromLog10('l1_path', d * Math.log10(4) + 2 * s.log10 - 2 * Math.log10(g)));
    },
  }),
  defineMeasure({
    name: 'l2_path',
    summary: '4^d (∏ h_i) Σ_paths ∏W_i² / γ²',
    reads: [l2PathSum, gamma],
    async compute(ctx) {
      const s = await ctx.read(l2PathSum);
      const layers = weightLayers(ctx.net);
      let log = layers.length * Math.log10(4) + s.log10;
      for (const l of layers) log += Math.log10(unitsOf(l));
      return withPositiveMargin(await ctx.read(gamma), (g) => fromLog10('l2_path', log - 2 * Math.log10(g)));
    },
  }),
];
