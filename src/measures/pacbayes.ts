/**
 * Expected sharpness and the PAC-Bayes bound (McAllester 1999; paper eqs. 4–5).
 *
 *   perturbation        ν_i ~ N(0, σ_i²), σ_i = α(10|w_i| + 1) (the paper's choice)
 *   expected_sharpness  = E_ν[L̂(w+ν)] − L̂(w),  L̂ = 0/1 training error, Monte-Carlo over K samples
 *   kl                  = Σ_i w_i² / (2σ_i²)     (posterior N(w, σ²), prior N(0, σ²), same σ_i)
 *   pac_bayes           = L̂(w) + expected_sharpness + 4 √((kl + ln|G| + ln(2m/δ)) / m)
 *
 * over a grid G of α (default 16 log-spaced values 1e-4 … 1e-1; --alpha-grid LO:HI:N, parseAlphaGrid); ln|G| is
 * the union bound over the grid. When α* is the grid's smallest or largest value a note says so
 * (components.pac_bayes_alpha_at_edge = 'low' | 'high', else null): the bound may be smaller beyond it.
 * `pac_bayes` is the smallest bound over the grid, and `expected_sharpness` and `kl` are reported at that
 * same α* (so the three numbers satisfy the formula; α* is components.pac_bayes_alpha); the whole curve
 * (α, kl, expected_sharpness, its std error, bound) is the report's pac_bayes_curve (the paper's
 * bi-criteria plots). m is the number of training points the 0/1 errors are computed on (all given points).
 *
 *   pac_bayes_sigma = the largest isotropic σ (ν_i ~ N(0, σ²)) whose perturbation lowers the training
 *                     accuracy by at most 0.1: bisection on [0, 2], at most 15 steps, K samples per step,
 *                     stopping early when the drop is within 0.1 ± 0.01
 *   flatness        = 1 / pac_bayes_sigma²
 *
 *   kl_at_sharpness = the KL at which the α-curve's expected sharpness crosses the target t
 *                     (--sharpness-target, default 0.05): the first grid point from the smallest α upward with
 *                     ES ≥ t, and the point before it (ES < t); log KL is interpolated linearly in ES between
 *                     them. The Monte-Carlo curve need not be monotone: the FIRST crossing is used (a note says
 *                     when the curve falls below t again further up). Null with a note when no grid point
 *                     reaches t, or when the smallest α already has ES > t (no point below t to interpolate from).
 *   pac_bayes_kl    = min over the α grid of the PAC-Bayes-kl bound (Langford–Seeger; Maurer 2004)
 *                        kl(L̂_Q ‖ L_Q) ≤ (KL(Q‖P) + ln(2√m/δ)) / m,
 *                     inverted numerically for L_Q, with the Monte-Carlo estimate q̂ of L̂_Q (the mean 0/1
 *                     training error of the K sampled networks) made rigorous by the sample-convergence bound
 *                     L̂_Q ≤ ū = kl⁻¹(q̂, ln(2/δ′)/K) (Langford & Caruana 2002, as Dziugaite & Roy 2017 use it).
 *                     δ is split in two halves, each shared over the |G| values of the grid (union bound):
 *                        ū = kl⁻¹(q̂, (ln|G| + ln(2/(δ/2))) / K),
 *                        pac_bayes_kl = kl⁻¹(ū, (KL + ln|G| + ln(2√m/(δ/2))) / m)
 *                     (pacBayesKlBound). kl⁻¹(q, c) = the largest p ≥ q with kl(q‖p) ≤ c (klInverseUpper).
 *                     Maurer's inequality needs m ≥ 8 (a note says when m is smaller).
 *
 * The K samples are the same standard normals z_k for every α and σ (common random numbers; see
 * evaluator.ts), so the curve is smooth in α and the bisection sees a monotone drop.
 */
import { parameterArrays } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { PAC_BAYES_ALPHA, PAC_BAYES_ALPHA_AT_EDGE } from './components.js';
import { defineMeasure, defineQuantity } from './define.js';
import { evaluator, type Evaluator } from './evaluator.js';
import type { PacBayesPoint } from './types.js';

export { alphaGrid, parseAlphaGrid, MAX_ALPHA_GRID } from './alphagrid.js';

/** An α for a note: 3 significant digits, exponent form below 1e-3 or from 1e4 ("1e-4", "0.1"). */
function formatAlpha(a: number): string {
  const x = Number(a.toPrecision(3));
  return x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential().replace('e+', 'e') : String(x);
}

/**
 * Whether α* is the smallest ('low') or largest ('high') value of the grid, and the note that says so;
 * null for an α* inside the grid (or a grid of one value).
 */
export function alphaEdge(grid: number[], alpha: number): { edge: 'low' | 'high'; note: string } | null {
  if (grid.length < 2) return null;
  const lo = Math.min(...grid);
  const hi = Math.max(...grid);
  const edge = alpha === hi ? 'high' : alpha === lo ? 'low' : null;
  if (!edge) return null;
  return {
    edge,
    note:
      `pac_bayes: α* = ${formatAlpha(alpha)} is the ${edge === 'high' ? 'largest' : 'smallest'} value of the α grid (${formatAlpha(lo)} … ${formatAlpha(hi)}, ${grid.length} values): ` +
      `the bound may be smaller beyond it, and expected_sharpness/kl are read at the grid's edge; widen the grid with --alpha-grid LO:HI:N`,
  };
}

/** Σ w_i² / (2σ_i²) with σ_i = α(10|w_i| + 1). */
export function klPaper(weights: ArrayLike<number>[], alpha: number): number {
  let s = 0;
  for (const w of weights) {
    for (let i = 0; i < w.length; i++) {
      const sigma = alpha * (10 * Math.abs(w[i]) + 1);
      s += (w[i] * w[i]) / (2 * sigma * sigma);
    }
  }
  return s;
}

/** Σ w_i² / (2σ²) for an isotropic σ. */
export function klIsotropic(weights: ArrayLike<number>[], sigma: number): number {
  let s = 0;
  for (const w of weights) for (let i = 0; i < w.length; i++) s += w[i] * w[i];
  return s / (2 * sigma * sigma);
}

/** L̂ + ES + 4√((kl + ln(gridSize) + ln(2m/δ)) / m). */
export function pacBayesBound(trainError: number, expectedSharpness: number, kl: number, m: number, delta: number, gridSize = 1): number {
  return trainError + expectedSharpness + 4 * Math.sqrt((kl + Math.log(gridSize) + Math.log((2 * m) / delta)) / m);
}

/**
 * kl(q‖p) = q ln(q/p) + (1 − q) ln((1 − q)/(1 − p)), the KL divergence between Bernoulli(q) and
 * Bernoulli(p), with 0·ln 0 = 0 (so kl(0‖p) = −ln(1 − p), kl(1‖p) = −ln p); +∞ when p is 0 or 1 and q is not.
 */
export function klBernoulli(q: number, p: number): number {
  // written with d = p − q and log1p, so that it keeps its precision (≈ d²/(2q(1−q))) when p is close to q
  const d = p - q;
  const a = q === 0 ? 0 : -q * Math.log1p(d / q);
  const b = q === 1 ? 0 : -(1 - q) * Math.log1p(-d / (1 - q));
  return Math.max(0, a + b);
}

/**
 * kl⁻¹(q, c): the largest p in [q, 1] with kl(q‖p) ≤ c, by bisection to 1e-12 (the upper end of the last
 * interval is returned, so the result is never below the true value by more than rounding); 1 when
 * kl(q‖1) ≤ c (q = 1, or c = ∞). kl(q‖·) increases on [q, 1], so the answer increases in q and in c.
 */
export function klInverseUpper(q: number, c: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`klInverseUpper: q must be in [0, 1] (got ${q})`);
  if (!(c >= 0)) throw new RangeError(`klInverseUpper: c must be ≥ 0 (got ${c})`);
  if (q === 1 || klBernoulli(q, 1) <= c) return 1;
  let lo = q; // kl(q‖lo) ≤ c
  let hi = 1; // kl(q‖hi) > c
  while (hi - lo > 1e-12) {
    const mid = (lo + hi) / 2;
    if (mid <= lo || mid >= hi) break;
    if (klBernoulli(q, mid) <= c) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface PacBayesKlInput {
  /** q̂: the mean 0/1 training error of the sampled networks (the Monte-Carlo estimate of L̂_Q). */
  empiricalQError: number;
  /** K: the number of sampled networks, each evaluated on all m training points. */
  samples: number;
  /** KL(Q‖P). */
  kl: number;
  /** m: the number of training points. */
  m: number;
  /** δ in (0, 1): half for the sample-convergence bound, half for the PAC-Bayes-kl bound. */
  delta: number;
  /** |G|: the number of posteriors the minimum is taken over (union bound; default 1). */
  gridSize?: number;
}

export interface PacBayesKlResult {
  /** ū = kl⁻¹(q̂, (ln|G| + ln(2/(δ/2)))/K): an upper bound on L̂_Q with probability ≥ 1 − δ/2. */
  sampleBound: number;
  /** kl⁻¹(ū, (KL + ln|G| + ln(2√m/(δ/2)))/m): an upper bound on L_Q with probability ≥ 1 − δ. */
  bound: number;
}

/**
 * The PAC-Bayes-kl bound (Maurer 2004) on the Q-error, with the Monte-Carlo estimate made rigorous by a
 * sample-convergence bound (Dziugaite & Roy 2017): with δ/2 for each step, both union-bounded over |G|,
 *   ū = kl⁻¹(q̂, (ln|G| + ln(4/δ)) / K),   L_Q ≤ kl⁻¹(ū, (KL + ln|G| + ln(4√m/δ)) / m).
 */
export function pacBayesKlBound(o: PacBayesKlInput): PacBayesKlResult {
  const g = o.gridSize ?? 1;
  const half = o.delta / 2;
  const q = Math.min(1, Math.max(0, o.empiricalQError));
  const sampleBound = klInverseUpper(q, (Math.log(g) + Math.log(2 / half)) / o.samples);
  const bound = klInverseUpper(sampleBound, (o.kl + Math.log(g) + Math.log((2 * Math.sqrt(o.m)) / half)) / o.m);
  return { sampleBound, bound };
}

/**
 * The KL at which the curve's expected sharpness first reaches `target`, walking from the smallest α up:
 * the first point with ES ≥ target and the point before it (ES < target), log KL interpolated linearly in
 * ES between them (KL itself when ES = target exactly). `reason` says why there is none: the curve stays
 * below the target ('below'), or its smallest α is already above it ('above'). `recrossings` counts later
 * points that fall below the target again (a Monte-Carlo curve need not be monotone).
 */
export function klAtSharpness(
  points: Pick<PacBayesPoint, 'alpha' | 'kl' | 'expected_sharpness'>[],
  target: number,
): { kl: number; lo: number; hi: number; recrossings: number } | { kl: null; reason: 'below' | 'above' } {
  const pts = [...points].sort((a, b) => a.alpha - b.alpha);
  const i = pts.findIndex((p) => p.expected_sharpness >= target);
  if (i < 0) return { kl: null, reason: 'below' };
  const recrossings = pts.slice(i + 1).filter((p) => p.expected_sharpness < target).length;
  const b = pts[i];
  if (b.expected_sharpness === target) return { kl: b.kl, lo: b.alpha, hi: b.alpha, recrossings };
  if (i === 0) return { kl: null, reason: 'above' };
  const a = pts[i - 1];
  const t = (target - a.expected_sharpness) / (b.expected_sharpness - a.expected_sharpness);
  const kl = a.kl > 0 && b.kl > 0 ? Math.exp((1 - t) * Math.log(a.kl) + t * Math.log(b.kl)) : (1 - t) * a.kl + t * b.kl;
  return { kl, lo: a.alpha, hi: b.alpha, recrossings };
}

/** Mean and standard error of the mean (sample std / √K; 0 when K = 1). */
export function meanAndStdError(xs: number[]): { mean: number; stdError: number } {
  const k = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / k;
  if (k < 2) return { mean, stdError: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (k - 1);
  return { mean, stdError: Math.sqrt(v / k) };
}

export interface CurveOptions {
  grid: number[];
  samples: number;
  m: number;
  delta: number;
}

export interface Curve {
  trainError: number;
  points: PacBayesPoint[];
  /** per α: q̂, the mean 0/1 training error of the K perturbed networks (trainError + expected_sharpness) */
  qErrors: number[];
  /** index of the α with the smallest bound */
  best: number;
}

export async function pacBayesCurve(ev: Evaluator, weights: Float32Array[], opts: CurveOptions, progress?: Progress): Promise<Curve> {
  const trainError = await ev.error(null);
  // sample-major: all α of sample k in one request, so the work for z_k is shared (see evaluator.ts)
  const errs: number[][] = opts.grid.map(() => []);
  for (let k = 0; k < opts.samples; k++) {
    const e = await ev.errors(opts.grid.map((alpha) => ({ kind: 'paper' as const, alpha, sample: k })), false);
    e.forEach((v, i) => errs[i].push(v));
    progress?.update((k + 1) * opts.grid.length, `sample ${k + 1}/${opts.samples}`);
  }
  const points: PacBayesPoint[] = [];
  const qErrors: number[] = [];
  for (const [i, alpha] of opts.grid.entries()) {
    const { mean, stdError } = meanAndStdError(errs[i]);
    qErrors.push(mean);
    const kl = klPaper(weights, alpha);
    const es = mean - trainError;
    points.push({ alpha, kl, expected_sharpness: es, std_error: stdError, bound: pacBayesBound(trainError, es, kl, opts.m, opts.delta, opts.grid.length) });
  }
  let best = 0;
  for (let i = 1; i < points.length; i++) if (points[i].bound < points[best].bound) best = i;
  return { trainError, points, qErrors, best };
}

export interface SigmaOptions {
  samples: number;
  maxSigma: number;
  steps: number;
  drop: number;
  tol: number;
}

export interface SigmaResult {
  /** the σ found (0 if even the smallest σ tried lowers the accuracy too much) */
  sigma: number;
  /** the accuracy drop measured at sigma */
  drop: number;
  steps: number;
  withinTolerance: boolean;
}

export interface BisectOptions {
  /** the interval is [0, max] */
  max: number;
  steps: number;
  /** the target accuracy drop and its tolerance */
  drop: number;
  tol: number;
}

export interface BisectResult {
  /** the scale found (0 if even the smallest scale tried lowers the accuracy too much) */
  scale: number;
  /** the accuracy drop measured at scale (0 at scale 0) */
  drop: number;
  steps: number;
  withinTolerance: boolean;
}

/**
 * The search of pac_bayes_sigma for any "accuracy drop at scale s" function: bisection on [0, max], at
 * most `steps` steps; stop at the first midpoint whose drop is within drop ± tol, else return the largest
 * midpoint whose drop was ≤ drop (0 if none).
 */
export async function bisectScale(dropAt: (scale: number) => Promise<number>, opts: BisectOptions, progress?: Progress, label = 's'): Promise<BisectResult> {
  let lo = 0;
  let hi = opts.max;
  let loDrop = 0;
  for (let step = 1; step <= opts.steps; step++) {
    const mid = (lo + hi) / 2;
    const d = await dropAt(mid);
    progress?.update(step, `${label} = ${mid.toPrecision(4)}, drop ${d.toFixed(3)}`);
    if (Math.abs(d - opts.drop) <= opts.tol) return { scale: mid, drop: d, steps: step, withinTolerance: true };
    if (d <= opts.drop) {
      lo = mid;
      loDrop = d;
    } else hi = mid;
  }
  return { scale: lo, drop: loDrop, steps: opts.steps, withinTolerance: false };
}

export async function pacBayesSigma(ev: Evaluator, opts: SigmaOptions, progress?: Progress): Promise<SigmaResult> {
  const base = await ev.error(null);
  const dropAt = async (sigma: number) => {
    const e = await ev.errors(Array.from({ length: opts.samples }, (_, k) => ({ kind: 'iso' as const, sigma, sample: k })), true);
    return e.reduce((a, b) => a + b, 0) / opts.samples - base;
  };
  const r = await bisectScale(dropAt, { max: opts.maxSigma, steps: opts.steps, drop: opts.drop, tol: opts.tol }, progress, 'σ');
  return { sigma: r.scale, drop: r.drop, steps: r.steps, withinTolerance: r.withinTolerance };
}

/** The α-curve of the bound (the paper's bi-criteria plot), with m, the number of points it is computed on. */
export const alphaCurve = defineQuantity({
  name: 'pac_bayes_curve',
  summary: 'expected sharpness, kl and the bound at every α of the grid (K samples each)',
  reads: [evaluator],
  options: ['alphaGrid', 'samples', 'delta'],
  components: [
    'train_error01', PAC_BAYES_ALPHA, 'pac_bayes_delta', 'pac_bayes_m', 'samples', 'expected_sharpness_std_error', PAC_BAYES_ALPHA_AT_EDGE,
  ],
  async compute(ctx): Promise<Curve & { m: number }> {
    const ev = await ctx.read(evaluator);
    const { alphaGrid: grid, samples, delta } = ctx.options;
    const progress = ctx.progress('expected sharpness', grid.length * samples);
    const c = await pacBayesCurve(ev, parameterArrays(ctx.net), { grid, samples, m: ev.nFull, delta }, progress);
    progress.done();
    const best = c.points[c.best];
    ctx.set('train_error01', c.trainError);
    ctx.set(PAC_BAYES_ALPHA, best.alpha);
    ctx.set('pac_bayes_delta', delta);
    ctx.set('pac_bayes_m', ev.nFull);
    ctx.set('samples', samples);
    ctx.set('expected_sharpness_std_error', best.std_error);
    const edge = alphaEdge(grid, best.alpha);
    ctx.set(PAC_BAYES_ALPHA_AT_EDGE, edge ? edge.edge : null);
    ctx.note(
      `expected_sharpness, kl and pac_bayes are at α* = ${best.alpha.toPrecision(3)}, the α of the ${grid.length}-value grid with the smallest bound (δ = ${delta}, m = ${ev.nFull}); expected_sharpness is a Monte-Carlo mean over K = ${samples} samples of the 0/1 training error, std error ${best.std_error.toPrecision(3)}`,
    );
    if (edge) ctx.note(edge.note);
    return { ...c, m: ev.nFull };
  },
});

/** The σ search of pac_bayes_sigma (and flatness). */
export const sigmaSearch = defineQuantity({
  name: 'sigma_search',
  summary: 'the largest isotropic σ lowering the training accuracy by ≤ accuracyDrop (bisection)',
  reads: [evaluator],
  options: ['samples', 'sigmaMax', 'sigmaSteps', 'accuracyDrop', 'accuracyTol'],
  components: ['pac_bayes_sigma_drop', 'pac_bayes_sigma_steps'],
  async compute(ctx): Promise<SigmaResult> {
    const ev = await ctx.read(evaluator);
    const o = ctx.options;
    const progress = ctx.progress('pac-bayes σ', o.sigmaSteps);
    const r = await pacBayesSigma(ev, { samples: o.samples, maxSigma: o.sigmaMax, steps: o.sigmaSteps, drop: o.accuracyDrop, tol: o.accuracyTol }, progress);
    progress.done();
    ctx.set('pac_bayes_sigma_drop', r.drop);
    ctx.set('pac_bayes_sigma_steps', r.steps);
    ctx.note(
      r.withinTolerance
        ? `pac_bayes_sigma: accuracy drop ${r.drop.toFixed(4)} (target ${o.accuracyDrop} ± ${o.accuracyTol}) after ${r.steps} bisection steps, K = ${o.samples}`
        : `pac_bayes_sigma: the drop never came within ${o.accuracyDrop} ± ${o.accuracyTol} in ${r.steps} bisection steps; the largest σ tried whose drop was ≤ ${o.accuracyDrop} is reported (drop ${r.drop.toFixed(4)}), K = ${o.samples}`,
    );
    return r;
  },
});

const SIGMA_OPTIONS = ['sigmaMax', 'sigmaSteps', 'accuracyDrop'] as const;
const sigmaTooSmall = (o: { sigmaMax: number; sigmaSteps: number; accuracyDrop: number }) =>
  `even σ = ${(o.sigmaMax / 2 ** o.sigmaSteps).toPrecision(3)} lowers the training accuracy by more than ${o.accuracyDrop}`;

export const measures = [
  defineMeasure({
    name: 'expected_sharpness',
    summary: 'E_ν[L̂₀₁(w+ν)] − L̂₀₁(w), ν ~ N(0, (α(10|w|+1))²), at the α* of pac_bayes',
    reads: [alphaCurve],
    slow: true,
    async compute(ctx) {
      const c = await ctx.read(alphaCurve);
      return { value: c.points[c.best].expected_sharpness };
    },
  }),
  defineMeasure({
    name: 'kl',
    summary: 'Σ w²/(2σ²), σ = α*(10|w|+1)',
    reads: [alphaCurve],
    slow: true,
    async compute(ctx) {
      const c = await ctx.read(alphaCurve);
      return { value: c.points[c.best].kl };
    },
  }),
  defineMeasure({
    name: 'pac_bayes',
    summary: 'min over the α grid of L̂₀₁ + expected_sharpness + 4√((kl + ln|G| + ln(2m/δ))/m)',
    reads: [alphaCurve],
    slow: true,
    async compute(ctx) {
      const c = await ctx.read(alphaCurve);
      return { value: c.points[c.best].bound };
    },
  }),
  defineMeasure({
    name: 'pac_bayes_kl',
    summary: 'min over the α grid of kl⁻¹(ū, (kl + ln|G| + ln(4√m/δ))/m), ū = kl⁻¹(q̂, (ln|G| + ln(4/δ))/K) bounding the Monte-Carlo Q-error q̂',
    reads: [alphaCurve],
    options: ['samples', 'delta'],
    components: ['pac_bayes_kl_alpha', 'pac_bayes_kl_alpha_at_edge', 'pac_bayes_kl_q_error', 'pac_bayes_kl_sample_bound'],
    slow: true,
    async compute(ctx) {
      const c = await ctx.read(alphaCurve);
      const m = c.m;
      const { samples, delta } = ctx.options;
      const g = c.points.length;
      let best = -1;
      let bestR: PacBayesKlResult | null = null;
      c.points.forEach((p, i) => {
        const r = pacBayesKlBound({ empiricalQError: c.qErrors[i], samples, kl: p.kl, m, delta, gridSize: g });
        // ties (e.g. a bound vacuous, 1, at every α) go to the α with the smaller √-form bound, pac_bayes's α*
        if (!bestR || r.bound < bestR.bound || (r.bound === bestR.bound && p.bound < c.points[best].bound)) [best, bestR] = [i, r];
      });
      const r = bestR!;
      const alpha = c.points[best].alpha;
      const edge = alphaEdge(c.points.map((p) => p.alpha), alpha);
      ctx.set('pac_bayes_kl_alpha', alpha);
      ctx.set('pac_bayes_kl_alpha_at_edge', edge ? edge.edge : null);
      ctx.set('pac_bayes_kl_q_error', c.qErrors[best]);
      ctx.set('pac_bayes_kl_sample_bound', r.sampleBound);
      ctx.note(
        `pac_bayes_kl: the PAC-Bayes-kl bound kl⁻¹(ū, (kl + ln|G| + ln(2√m/(δ/2)))/m) at α = ${formatAlpha(alpha)}, the α of the ${g}-value grid with the smallest bound` +
          `${edge ? ` (the grid's ${edge.edge === 'high' ? 'largest' : 'smallest'} value: it may be smaller beyond it)` : ''}; ` +
          `ū = kl⁻¹(q̂, (ln|G| + ln(2/(δ/2)))/K) = ${r.sampleBound.toPrecision(4)} bounds the Q-error of the posterior from its Monte-Carlo estimate q̂ = ${c.qErrors[best].toPrecision(4)} over K = ${samples} sampled networks (sample-convergence bound, Dziugaite & Roy 2017); ` +
          `δ = ${delta} is split in halves between the two steps, each union-bounded over the grid` +
          (r.bound >= 1 ? `; the bound is vacuous (1) at every α of the grid` : '') +
          (m < 8 ? `; Maurer's inequality is proved for m ≥ 8 only (m = ${m})` : ''),
      );
      return { value: r.bound };
    },
  }),
  defineMeasure({
    name: 'kl_at_sharpness',
    summary: 'the kl of the α-curve where its expected sharpness first reaches the target (default 0.05), log kl interpolated linearly in expected sharpness',
    reads: [alphaCurve],
    options: ['sharpnessTarget'],
    components: ['kl_at_sharpness_target', 'kl_at_sharpness_alphas'],
    slow: true,
    async compute(ctx) {
      const c = await ctx.read(alphaCurve);
      const t = ctx.options.sharpnessTarget;
      ctx.set('kl_at_sharpness_target', t);
      const r = klAtSharpness(c.points, t);
      if (r.kl === null) {
        ctx.set('kl_at_sharpness_alphas', null);
        const sorted = [...c.points].sort((a, b) => a.alpha - b.alpha);
        const top = sorted.reduce((a, b) => (b.expected_sharpness > a.expected_sharpness ? b : a));
        return {
          value: null,
          note:
            r.reason === 'below'
              ? `the α-curve's expected sharpness never reaches the target ${t} (largest ${top.expected_sharpness.toPrecision(3)}, at α = ${formatAlpha(top.alpha)}); widen the grid upward with --alpha-grid, or lower --sharpness-target`
              : `the α-curve's expected sharpness is already ${sorted[0].expected_sharpness.toPrecision(3)} > ${t} at the grid's smallest α (${formatAlpha(sorted[0].alpha)}): no grid point below the target to interpolate from; widen the grid downward with --alpha-grid`,
        };
      }
      ctx.set('kl_at_sharpness_alphas', [r.lo, r.hi]);
      ctx.note(
        `kl_at_sharpness: the kl where the α-curve's expected sharpness first reaches ${t} (from the smallest α upward), ` +
          (r.lo === r.hi ? `at α = ${formatAlpha(r.lo)}` : `log kl interpolated linearly in expected sharpness between α = ${formatAlpha(r.lo)} and ${formatAlpha(r.hi)}`) +
          (r.recrossings > 0 ? `; the Monte-Carlo curve falls below ${t} again at ${r.recrossings} larger α of the grid` : ''),
      );
      return { value: r.kl };
    },
  }),
  defineMeasure({
    name: 'pac_bayes_sigma',
    summary: 'largest isotropic σ lowering training accuracy by ≤ 0.1 (bisection)',
    reads: [sigmaSearch],
    options: SIGMA_OPTIONS,
    slow: true,
    async compute(ctx) {
      const r = await ctx.read(sigmaSearch);
      return r.sigma > 0 ? { value: r.sigma } : { value: null, note: `pac_bayes_sigma: ${sigmaTooSmall(ctx.options)}` };
    },
  }),
  defineMeasure({
    name: 'flatness',
    summary: '1 / pac_bayes_sigma²',
    reads: [sigmaSearch],
    options: SIGMA_OPTIONS,
    slow: true,
    async compute(ctx) {
      const r = await ctx.read(sigmaSearch);
      return r.sigma > 0 ? { value: 1 / (r.sigma * r.sigma) } : { value: null, note: `flatness: ${sigmaTooSmall(ctx.options)} (σ = 0 would give an infinite flatness)` };
    },
  }),
];
