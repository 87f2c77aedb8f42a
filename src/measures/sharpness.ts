/**
 * Sharpness (Keskar et al. 2017; paper eq. 3):
 *
 *   ζ_α = (max_{|ν_i| ≤ α(|w_i|+1)} L̂(w+ν) − L̂(w)) / (1 + L̂(w)),   L̂ = training cross-entropy
 *
 * The maximum is found by projected sign-gradient ascent (docs/definitions.md): ν starts at a seeded uniform point of the
 * box, each step moves every coordinate by η_t·r_i in the direction of its gradient's sign and clips back
 * into the box (r_i = α(|w_i|+1)); η_t decays geometrically from 2 (the first step reaches the corner the
 * linearised loss prefers) to 0.05 over the steps. The largest loss seen at any visited point (the start
 * included) is the maximum, so ζ_α is never below the loss increase at the random start. L̂ is computed on
 * the whole training set when it has at most `sharpnessPoints` (default 5,000) points, otherwise on a fixed
 * seeded subset of that many (the notes say which); L̂(w) and the maximum use the same points.
 */
import { parameterArrays } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { Rng, deriveSeed } from '../util/random.js';
import { evaluator, type Evaluator } from './evaluator.js';
import { defineMeasure } from './define.js';

export interface SharpnessOptions {
  alpha: number;
  steps: number;
  seed: number;
}

export interface SharpnessResult {
  value: number;
  /** L̂(w) */
  loss: number;
  /** the largest L̂(w + ν) found */
  maxLoss: number;
  /** L̂ at the random start */
  startLoss: number;
}

/** Step size (in units of the box radius) of step t of T. */
export function stepSize(t: number, steps: number): number {
  if (steps <= 1) return 2;
  return 2 * (0.025 ** (t / (steps - 1)));
}

/** One projected sign-gradient step in place: ν ← clip(ν + η·r⊙sign(g), −r, r). */
export function projectedSignStep(nu: Float32Array[], radius: Float32Array[], grads: Float32Array[], eta: number): void {
  for (let j = 0; j < nu.length; j++) {
    const v = nu[j];
    const r = radius[j];
    const g = grads[j];
    for (let i = 0; i < v.length; i++) {
      const s = g[i] > 0 ? 1 : g[i] < 0 ? -1 : 0;
      let x = v[i] + eta * r[i] * s;
      if (x > r[i]) x = r[i];
      else if (x < -r[i]) x = -r[i];
      v[i] = x;
    }
  }
}

export async function sharpness(ev: Evaluator, weights: Float32Array[], opts: SharpnessOptions, progress?: Progress): Promise<SharpnessResult> {
  const { alpha, steps, seed } = opts;
  const radius = weights.map((w) => {
    const r = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) r[i] = alpha * (Math.abs(w[i]) + 1);
    return r;
  });
  const rng = new Rng(deriveSeed(seed, 'sharpness'));
  const nu = radius.map((r) => {
    const v = new Float32Array(r.length);
    for (let i = 0; i < r.length; i++) v[i] = (2 * rng.uniform() - 1) * r[i];
    return v;
  });
  const base = await ev.lossGrad(null, false);
  let maxLoss = -Infinity;
  let startLoss = NaN;
  for (let t = 0; t < steps; t++) {
    const { loss, grads } = await ev.lossGrad(nu, true);
    if (t === 0) startLoss = loss;
    if (loss > maxLoss) maxLoss = loss;
    projectedSignStep(nu, radius, grads!, stepSize(t, steps));
    progress?.update(t + 1, `loss ${loss.toPrecision(5)}`);
  }
  const last = await ev.lossGrad(nu, false);
  if (steps === 0) startLoss = last.loss;
  if (last.loss > maxLoss) maxLoss = last.loss;
  progress?.update(steps + 1);
  return { value: (maxLoss - base.loss) / (1 + base.loss), loss: base.loss, maxLoss, startLoss };
}

export const measures = [
  defineMeasure({
    name: 'sharpness',
    summary: 'ζ_α = (max_{|ν|≤α(|w|+1)} L̂(w+ν) − L̂(w)) / (1 + L̂(w)), cross-entropy',
    reads: [evaluator],
    options: ['alpha', 'sharpnessSteps', 'seed'],
    components: ['sharpness_alpha', 'sharpness_points', 'sharpness_steps', 'sharpness_loss', 'sharpness_max_loss'],
    slow: true,
    async compute(ctx) {
      const ev = await ctx.read(evaluator);
      const { alpha, sharpnessSteps: steps, seed } = ctx.options;
      const progress = ctx.progress('sharpness', steps + 1);
      const r = await sharpness(ev, parameterArrays(ctx.net), { alpha, steps, seed }, progress);
      progress.done();
      const m = ctx.data!.n;
      ctx.set('sharpness_alpha', alpha);
      ctx.set('sharpness_points', ev.nSharp);
      ctx.set('sharpness_steps', steps);
      ctx.set('sharpness_loss', r.loss);
      ctx.set('sharpness_max_loss', r.maxLoss);
      ctx.note(
        ev.nSharp === m
          ? `sharpness: cross-entropy on all ${m} points (the whole set measured), ${steps} projected sign-gradient steps, α = ${alpha}`
          : `sharpness: cross-entropy on a fixed seeded subset of ${ev.nSharp} of the ${m} points (seed ${seed}), ${steps} projected sign-gradient steps, α = ${alpha}`,
      );
      return { value: r.value };
    },
  }),
];
