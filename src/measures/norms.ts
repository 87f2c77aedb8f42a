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
import { fromLog10, withPositiveMargin } from './margin.js';
import type { MeasureContext, MeasureDef } from './types.js';

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

export function widthsOf(ctx: MeasureContext): number[] {
  const widths = weightLayers(ctx.net).map(unitsOf);
  ctx.components.widths = widths;
  return widths;
}

export function froNormsOf(ctx: MeasureContext): Promise<number[]> {
  return ctx.memo('fro_norms', () => {
    const norms = weightLayers(ctx.net).map((l) => frobeniusNorm(l));
    ctx.components.fro_norms = norms;
    return norms;
  });
}

/** log10 of (1/γ²) ∏ c·n_i² */
export function logProductOverMargin(norms: number[], factor: number, gamma: number): number {
  let log = -2 * Math.log10(gamma);
  for (const n of norms) log += Math.log10(factor) + 2 * Math.log10(n);
  return log;
}

export const measures: MeasureDef[] = [
  {
    name: 'l2',
    summary: '(1/γ²) ∏ 4‖W_i‖_F²',
    needs: ['weights', 'data'],
    async compute(ctx) {
      widthsOf(ctx);
      const norms = await froNormsOf(ctx);
      return withPositiveMargin(ctx, (gamma) => fromLog10(ctx, 'l2', logProductOverMargin(norms, 4, gamma)));
    },
  },
  {
    name: 'l1_inf',
    summary: '(1/γ²) ∏ 4‖W_i‖_{1,∞}², ‖W‖_{1,∞} = max over units of the ℓ1 norm of its incoming weights',
    needs: ['weights', 'data'],
    async compute(ctx) {
      const norms = weightLayers(ctx.net).map((l) => groupNorm(l, 1, Infinity));
      ctx.components.l1_inf_norms = norms;
      return withPositiveMargin(ctx, (gamma) => fromLog10(ctx, 'l1_inf', logProductOverMargin(norms, 4, gamma)));
    },
  },
];
