/**
 * Norm-based capacities (Neyshabur, Tomioka & Srebro 2015; paper section 2.2), per layer then combined
 * by a product:
 *
 *   l2      = (1/γ²) ∏_i 4 ‖W_i‖_F²
 *   l1_inf  = (1/γ²) ∏_i 4 ‖W_i‖_{1,∞}²,   ‖W‖_{1,∞} = max over units of the ℓ1 norm of its incoming weights
 *
 * and the general group norm ℓ_{p,q}: the ℓ_q norm over units of the ℓ_p norm of each unit's incoming
 * weights (so ‖W‖_F = ℓ_{2,2}, ‖W‖_{1,∞} = ℓ_{1,∞}, and Bartlett et al.'s ‖Wᵀ‖_{2,1} = ℓ_{2,1} here).
 * Convolutions are their unrolled operators (every output position is a unit, only taps inside the input
 * count), biases the weights from an always-on unit ([W_i | b_i]).
 */
import { weightLayers, type WeightLayer } from '../models/network.js';
import { Matrix, Weights, isMatrix, matrixRowNorms, unitNorms, unitsOf, vectorNorm } from './linear.js';
import { FRO_NORMS, WIDTHS } from './components.js';
import { defineMeasure, defineQuantity } from './define.js';
import { fromLog10, gamma, withPositiveMargin } from './margin.js';

/**
 * ℓ_{p,q} group norm (p, q ∈ [1, ∞]): ‖(‖w_1‖_p, …, ‖w_h‖_p)‖_q over the units' incoming weight vectors w_u.
 * `W` is a plain matrix in the paper's orientation (rows = units) or a weight layer (with its bias, as the
 * augmented [W | b]; `w` replaces the layer's numbers, e.g. by W − W⁰).
 */
export function groupNorm(W: Matrix | WeightLayer, p: number, q: number, w?: Weights): number {
  const perUnit = isMatrix(W) ? matrixRowNorms(W, p) : unitNorms(W, p, w);
  return vectorNorm(perUnit, q);
}

/** ‖W_i‖_F of the (augmented, unrolled) layer. */
export function frobeniusNorm(l: WeightLayer, w?: Weights): number {
  return groupNorm(l, 2, 2, w);
}

/** h_i: the number of units of each weight layer (always in the report: the figures read it). */
export const widths = defineQuantity({
  name: 'widths',
  summary: 'h_i: the units of each weight layer',
  needs: ['weights'],
  components: [WIDTHS],
  compute(ctx) {
    const w = weightLayers(ctx.net).map(unitsOf);
    ctx.set(WIDTHS, w);
    return w;
  },
});

/** ‖W_i‖_F of every weight layer. */
export const froNorms = defineQuantity({
  name: 'fro_norms',
  summary: '‖W_i‖_F of every weight layer',
  needs: ['weights'],
  components: [FRO_NORMS],
  compute(ctx) {
    const norms = weightLayers(ctx.net).map((l) => frobeniusNorm(l));
    ctx.set(FRO_NORMS, norms);
    return norms;
  },
});

/** log10 of (1/γ²) ∏ c·n_i² */
export function logProductOverMargin(norms: number[], factor: number, gamma: number): number {
  let log = -2 * Math.log10(gamma);
  for (const n of norms) log += Math.log10(factor) + 2 * Math.log10(n);
  return log;
}

export const measures = [
  defineMeasure({
    name: 'l2',
    summary: '(1/γ²) ∏ 4‖W_i‖_F²',
    reads: [froNorms, gamma],
    async compute(ctx) {
      const norms = await ctx.read(froNorms);
      return withPositiveMargin(await ctx.read(gamma), (g) => fromLog10('l2', logProductOverMargin(norms, 4, g)));
    },
  }),
  defineMeasure({
    name: 'l1_inf',
    summary: '(1/γ²) ∏ 4‖W_i‖_{1,∞}², ‖W‖_{1,∞} = max over units of the ℓ1 norm of its incoming weights',
    reads: [gamma],
    needs: ['weights'],
    components: ['l1_inf_norms'],
    async compute(ctx) {
      const norms = weightLayers(ctx.net).map((l) => groupNorm(l, 1, Infinity));
      ctx.set('l1_inf_norms', norms);
      return withPositiveMargin(await ctx.read(gamma), (g) => fromLog10('l1_inf', logProductOverMargin(norms, 4, g)));
    },
  }),
];
