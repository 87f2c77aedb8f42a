/**
 * Magnitude-aware flatness (Jiang et al. 2020, "Fantastic generalization measures and where to find them":
 * the strongest predictors of their study, and baselines of the PGDL competition).
 *
 *   pac_bayes_mag_flatness = 1 / α′²,  α′ the largest scale whose perturbation ν_i ~ N(0, α′²w_i² + ε²)
 *                            (ε = 1e-3, MAG_EPSILON) lowers the training accuracy by at most 0.1
 *   sharpness_mag_flatness = 1 / α′²,  α′ the largest scale such that the worst perturbation found in the box
 *                            |ν_i| ≤ α′|w_i| + ε lowers the training accuracy by at most 0.1
 *
 * Both use the search of pac_bayes_sigma (pacbayes.ts), written here as the generic bisectScale: bisection on
 * α′ ∈ [0, MAG_ALPHA_MAX = 2] (α′ is relative to |w_i|: α′ = 2 is noise twice the size of each weight, far
 * past where trained networks break), at most `sigmaSteps` (15) steps, stopping early when the accuracy drop
 * is within accuracyDrop ± accuracyTol (0.1 ± 0.01); otherwise the largest α′ tried whose drop was ≤ 0.1.
 * The drop is the 0/1 training error (all given points) at the perturbed weights minus that at w.
 *
 * pac_bayes_mag_flatness: the drop is the mean over K = `samples` perturbations w + √(α′²w² + ε²) ⊙ z_k with
 * the seeded z_k of evaluator.ts (the same z_k for every α′: common random numbers). This noise is not linear
 * in α′, so the evaluator computes it by the full forward (no first-layer shortcut).
 *
 * sharpness_mag_flatness: the drop at α′ is that at w + ν*, ν* the perturbation found by projected
 * sign-gradient ascent of the training cross-entropy (the sharpness.ts machinery, on the same sharpness
 * points) in the box r_i = α′|w_i| + ε: ν starts at the seeded uniform point u ⊙ r of the box (u ∈ [−1, 1]
 * from Rng(deriveSeed(seed, 'mag sharpness')), the same u for every α′), each of `sharpnessSteps` (20)
 * steps moves ν_i by η_t·r_i·sign(∂L̂/∂ν_i) and clips to the box (η_t as in sharpness.ts, 2 → 0.05); ν* is
 * the visited point (start and end included) of the largest cross-entropy. Its 0/1 error is computed by the
 * evaluator's errorAt (full forward at w + ν*). One ascent per bisection step, so this costs about
 * sigmaSteps × (sharpnessSteps + 1) loss-and-gradient passes.
 *
 * Both are null (with a note) when α′ = 0, i.e. even the smallest α′ tried lowers the accuracy too much.
 */
import { parameterArrays } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { Rng, deriveSeed } from '../util/random.js';
import { defineMeasure } from './define.js';
import { MAG_EPSILON, evaluator, type Evaluator } from './evaluator.js';
import { projectedSignStep, stepSize } from './sharpness.js';
import { bisectScale, type BisectOptions, type BisectResult } from './pacbayes.js';
import type { ComputeContext } from './types.js';

/** The upper end of the α′ bisection interval. */
export const MAG_ALPHA_MAX = 2;

export { bisectScale, type BisectOptions, type BisectResult } from './pacbayes.js';

export interface MagOptions extends BisectOptions {
  /** K, perturbation samples per α′ (pac_bayes_mag_flatness) */
  samples: number;
}

/** α′ of pac_bayes_mag_flatness: the bisection on the mean drop of K magnitude-aware perturbations. */
export async function pacBayesMagAlpha(ev: Evaluator, opts: MagOptions, progress?: Progress): Promise<BisectResult> {
  const base = await ev.error(null);
  const dropAt = async (alpha: number) => {
    const e = await ev.errors(Array.from({ length: opts.samples }, (_, k) => ({ kind: 'mag' as const, alpha, sample: k })), false);
    return e.reduce((a, b) => a + b, 0) / opts.samples - base;
  };
  return bisectScale(dropAt, opts, progress, 'α′');
}

/** The box radii r_i = α′|w_i| + ε. */
export function magRadius(weights: ArrayLike<number>[], alpha: number): Float32Array[] {
  return weights.map((w) => {
    const r = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) r[i] = alpha * Math.abs(w[i]) + MAG_EPSILON;
    return r;
  });
}

/** The seeded uniform start u ∈ [−1, 1] (one array per parameter array) of the ascent. */
export function ascentStart(weights: ArrayLike<number>[], seed: number): Float64Array[] {
  const rng = new Rng(deriveSeed(seed, 'mag sharpness'));
  return weights.map((w) => {
    const u = new Float64Array(w.length);
    for (let i = 0; i < u.length; i++) u[i] = 2 * rng.uniform() - 1;
    return u;
  });
}

/**
 * Projected sign-gradient ascent of the cross-entropy (ev.lossGrad) in the box |ν_i| ≤ radius_i, from
 * u ⊙ radius (u from ascentStart), `steps` steps: the visited ν of the largest loss, and that loss.
 */
export async function ascend(ev: Evaluator, radius: Float32Array[], steps: number, start: Float64Array[]): Promise<{ nu: Float32Array[]; loss: number }> {
  const nu = radius.map((r, j) => Float32Array.from(r, (x, i) => start[j][i] * x));
  let best = { nu: nu.map((v) => v.slice()), loss: -Infinity };
  for (let t = 0; t < steps; t++) {
    const { loss, grads } = await ev.lossGrad(nu, true);
    if (loss > best.loss || t === 0) best = { nu: nu.map((v) => v.slice()), loss };
    projectedSignStep(nu, radius, grads!, stepSize(t, steps));
  }
  const last = await ev.lossGrad(nu, false);
  if (last.loss > best.loss || steps === 0) best = { nu, loss: last.loss };
  return best;
}

export interface MagSharpnessOptions extends BisectOptions {
  /** ascent steps per α′ */
  ascentSteps: number;
  seed: number;
}

/** α′ of sharpness_mag_flatness: the bisection on the drop at the worst perturbation the ascent finds. */
export async function sharpnessMagAlpha(ev: Evaluator, weights: Float32Array[], opts: MagSharpnessOptions, progress?: Progress): Promise<BisectResult> {
  const errorAt = ev.errorAt?.bind(ev);
  if (!errorAt) throw new Error('sharpness_mag_flatness: the evaluator cannot compute the error at a given perturbation (errorAt)');
  const base = await ev.error(null);
  const start = ascentStart(weights, opts.seed);
  const dropAt = async (alpha: number) => {
    const { nu } = await ascend(ev, magRadius(weights, alpha), opts.ascentSteps, start);
    return (await errorAt(nu)) - base;
  };
  return bisectScale(dropAt, opts, progress, 'α′');
}

/** The options of the two searches, as the measures declare them. */
const SEARCH_OPTIONS = ['samples', 'sigmaSteps', 'accuracyDrop', 'accuracyTol', 'sharpnessSteps', 'seed'] as const;
type SearchOptions = { sigmaSteps: number; accuracyDrop: number; accuracyTol: number };

const tooSmall = (o: SearchOptions) =>
  `even α′ = ${(MAG_ALPHA_MAX / 2 ** o.sigmaSteps).toPrecision(3)} lowers the training accuracy by more than ${o.accuracyDrop} (α′ = 0 would give an infinite flatness)`;

function report(ctx: ComputeContext<any, any>, o: SearchOptions, name: string, r: BisectResult, how: string): void {
  ctx.set(`${name}_alpha`, r.scale);
  ctx.set(`${name}_drop`, r.drop);
  ctx.set(`${name}_steps`, r.steps);
  ctx.note(
    r.withinTolerance
      ? `${name}: α′ = ${r.scale.toPrecision(4)}, accuracy drop ${r.drop.toFixed(4)} (target ${o.accuracyDrop} ± ${o.accuracyTol}) after ${r.steps} bisection steps on [0, ${MAG_ALPHA_MAX}], ${how}`
      : `${name}: the drop never came within ${o.accuracyDrop} ± ${o.accuracyTol} in ${r.steps} bisection steps on [0, ${MAG_ALPHA_MAX}]; the largest α′ tried whose drop was ≤ ${o.accuracyDrop} is used (α′ = ${r.scale.toPrecision(4)}, drop ${r.drop.toFixed(4)}), ${how}`,
  );
}

const written = (name: string) => ['alpha', 'drop', 'steps'].map((c) => `${name}_${c}`);

export const measures = [
  defineMeasure({
    name: 'pac_bayes_mag_flatness',
    summary: "1/α′², α′ largest with ν ~ N(0, α′²w² + ε²) (ε = 1e-3) lowering training accuracy by ≤ 0.1 (bisection)",
    reads: [evaluator],
    options: SEARCH_OPTIONS,
    components: written('pac_bayes_mag'),
    slow: true,
    sweepOptIn: true,
    async compute(ctx) {
      const ev = await ctx.read(evaluator);
      const o = ctx.options;
      const progress = ctx.progress('pac-bayes mag α′', o.sigmaSteps);
      const r = await pacBayesMagAlpha(ev, { samples: o.samples, max: MAG_ALPHA_MAX, steps: o.sigmaSteps, drop: o.accuracyDrop, tol: o.accuracyTol }, progress);
      progress.done();
      report(ctx, o, 'pac_bayes_mag', r, `K = ${o.samples} samples of ν ~ N(0, α′²w² + ε²), ε = ${MAG_EPSILON}`);
      return r.scale > 0 ? { value: 1 / (r.scale * r.scale) } : { value: null, note: `pac_bayes_mag_flatness: ${tooSmall(o)}` };
    },
  }),
  defineMeasure({
    name: 'sharpness_mag_flatness',
    summary: '1/α′², α′ largest with the worst ν in |ν| ≤ α′|w| + ε (sign-gradient ascent of the cross-entropy) lowering training accuracy by ≤ 0.1',
    reads: [evaluator],
    options: SEARCH_OPTIONS,
    components: written('sharpness_mag'),
    slow: true,
    sweepOptIn: true,
    async compute(ctx) {
      const ev = await ctx.read(evaluator);
      const o = ctx.options;
      const progress = ctx.progress('sharpness mag α′', o.sigmaSteps);
      const r = await sharpnessMagAlpha(
        ev,
        parameterArrays(ctx.net),
        { max: MAG_ALPHA_MAX, steps: o.sigmaSteps, drop: o.accuracyDrop, tol: o.accuracyTol, ascentSteps: o.sharpnessSteps, seed: o.seed },
        progress,
      );
      progress.done();
      const pts = ev.nSharp === ctx.data!.n ? `all ${ev.nSharp} points` : `a fixed seeded subset of ${ev.nSharp} of the ${ctx.data!.n} points`;
      report(ctx, o, 'sharpness_mag', r, `${o.sharpnessSteps} projected sign-gradient steps of the cross-entropy on ${pts} per α′, box |ν| ≤ α′|w| + ${MAG_EPSILON}`);
      return r.scale > 0 ? { value: 1 / (r.scale * r.scale) } : { value: null, note: `sharpness_mag_flatness: ${tooSmall(o)}` };
    },
  }),
];
