/**
 * Measures relative to the initial weights W⁰ (needs the run's initial/model.json).
 *
 *   dist_from_init     = √(Σ_i ‖W_i − W_i⁰‖_F²)   (per layer in components.dist_from_init_layers)
 *   bartlett_spectral  = ∏_i ‖W_i‖₂² · (Σ_i (‖W_i − W_i⁰‖_{2,1} / ‖W_i‖₂)^{2/3})³ / γ²
 *                        (Bartlett, Foster & Telgarsky 2017, Theorem 1.1 with reference matrices M_i = W_i⁰,
 *                        ρ_i = 1 for ReLU, without the data-norm and log factors)
 *
 * ‖A‖_{2,1} is Bartlett et al.'s ‖(W − W⁰)ᵀ‖_{2,1}: the SUM OVER UNITS of the ℓ2 norm of the unit's incoming
 * weight differences (their ‖·‖_{p,q} is the ℓ_q norm of the ℓ_p norms of the columns, and the columns of
 * (W − W⁰)ᵀ are the rows of W − W⁰, i.e. the units' incoming weights) — groupNorm(W − W⁰, 2, 1) here.
 * As everywhere, convolutions are their unrolled operators and biases the augmented column, so a bias
 * difference counts as one more incoming weight difference. components.param_dist_from_init is the plain
 * ℓ2 distance between the parameter vectors (each convolution weight counted once).
 */
import { UserError } from '../errors.js';
import { Network, weightLayers } from '../models/network.js';
import { weightDifference } from './linear.js';
import { defineMeasure } from './define.js';
import { fromLog10, gamma, withPositiveMargin } from './margin.js';
import { frobeniusNorm, groupNorm } from './norms.js';
import { spectralNorms } from './spectral.js';

function describe(net: Network): string {
  return weightLayers(net)
    .map((l) => (l.kind === 'dense' ? `dense ${l.inSize}→${l.outSize}` : `conv ${l.kernelSize.join('x')} ${l.inShape[2]}→${l.outShape[2]}`) + (l.bias ? '+b' : ''))
    .join(', ');
}

/** Throw a UserError unless the initial network has the same weight layers (shapes and biases) as net. */
export function checkSameArchitecture(net: Network, initial: Network, where = 'the initial weights'): void {
  const a = weightLayers(net);
  const b = weightLayers(initial);
  const same =
    a.length === b.length &&
    a.every((l, i) => {
      const m = b[i];
      if (l.kind !== m.kind || l.kernel.length !== m.kernel.length || !!l.bias !== !!m.bias) return false;
      if (l.kind === 'conv2d' && m.kind === 'conv2d') return l.inShape.join() === m.inShape.join() && l.kernelSize.join() === m.kernelSize.join() && l.strides.join() === m.strides.join() && l.padding === m.padding;
      return true;
    });
  if (!same) throw new UserError(`${where} do not match the model: [${describe(initial)}] vs [${describe(net)}]`);
}

/** ‖W_i − W_i⁰‖_F per weight layer (unrolled, augmented). */
export function layerDistances(net: Network, initial: Network): number[] {
  const b = weightLayers(initial);
  return weightLayers(net).map((l, i) => frobeniusNorm(l, weightDifference(l, b[i])));
}

/** Plain ℓ2 distance between the parameter vectors. */
export function parameterDistance(net: Network, initial: Network): number {
  const b = weightLayers(initial);
  let s = 0;
  weightLayers(net).forEach((l, i) => {
    const d = weightDifference(l, b[i]);
    for (let j = 0; j < d.kernel.length; j++) s += d.kernel[j] * d.kernel[j];
    if (d.bias) for (let j = 0; j < d.bias.length; j++) s += d.bias[j] * d.bias[j];
  });
  return Math.sqrt(s);
}

/** ‖(W_i − W_i⁰)ᵀ‖_{2,1} per weight layer: Σ over units of ‖incoming weight differences‖₂. */
export function bartlettGroupNorms(net: Network, initial: Network): number[] {
  const b = weightLayers(initial);
  return weightLayers(net).map((l, i) => groupNorm(l, 2, 1, weightDifference(l, b[i])));
}

/** log10 of ∏ s_i² (Σ (a_i/s_i)^{2/3})³ / γ² */
export function logBartlett(spectral: number[], group21: number[], gamma: number): number {
  let sum = 0;
  let logProd = 0;
  spectral.forEach((s, i) => {
    logProd += 2 * Math.log10(s);
    sum += (group21[i] / s) ** (2 / 3);
  });
  return logProd + 3 * Math.log10(sum) - 2 * Math.log10(gamma);
}

export const measures = [
  defineMeasure({
    name: 'dist_from_init',
    summary: '√Σ ‖W_i − W_i⁰‖_F² (Frobenius distance from the initial weights)',
    needs: ['weights', 'initial'],
    components: ['dist_from_init_layers', 'param_dist_from_init'],
    compute(ctx) {
      const per = layerDistances(ctx.net, ctx.initial!);
      ctx.set('dist_from_init_layers', per);
      ctx.set('param_dist_from_init', parameterDistance(ctx.net, ctx.initial!));
      return { value: Math.sqrt(per.reduce((a, d) => a + d * d, 0)) };
    },
  }),
  defineMeasure({
    name: 'bartlett_spectral',
    summary: '∏‖W_i‖₂² (Σ (‖(W_i−W_i⁰)ᵀ‖_{2,1}/‖W_i‖₂)^{2/3})³ / γ²',
    reads: [spectralNorms, gamma],
    needs: ['initial'],
    components: ['bartlett_l21_norms'],
    async compute(ctx) {
      const spectral = await ctx.read(spectralNorms);
      const group = bartlettGroupNorms(ctx.net, ctx.initial!);
      ctx.set('bartlett_l21_norms', group);
      return withPositiveMargin(await ctx.read(gamma), (g) => fromLog10('bartlett_spectral', logBartlett(spectral, group, g)));
    },
  }),
];
