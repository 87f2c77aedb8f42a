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
 * The K samples are the same standard normals z_k for every α and σ (common random numbers; see
 * evaluator.ts), so the curve is smooth in α and the bisection sees a monotone drop.
 */
import { UserError } from '../errors.js';
import { parameterArrays } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import type { Evaluator } from './evaluator.js';
import type { MeasureContext, MeasureDef, PacBayesPoint } from './types.js';

/** n log-spaced values from lo to hi (default: the grid 1e-4 … 1e-1, 16 values). */
export function alphaGrid(n = 16, lo = 1e-4, hi = 1e-1): number[] {
  if (n === 1) return [lo];
  return Array.from({ length: n }, (_, i) => 10 ** (Math.log10(lo) + ((Math.log10(hi) - Math.log10(lo)) * i) / (n - 1)));
}

/** The most values an α grid may have (every value costs K evaluations of the training error). */
export const MAX_ALPHA_GRID = 1000;

/**
 * The α grid of a "LO:HI:N" text (N log-spaced values from LO to HI; 0 < LO < HI, N a whole number
 * 2 … 1000) or of a comma list "a,b,c" (at least 2 positive, increasing numbers). A bad text is a
 * UserError starting "--alpha-grid: ".
 */
export function parseAlphaGrid(text: string): number[] {
  const bad = (why: string): never => {
    throw new UserError(`--alpha-grid: ${why} (expected LO:HI:N, e.g. 1e-4:0.1:16, or a list of increasing α, e.g. 1e-3,1e-2,0.1)`);
  };
  const num = (v: string) => {
    const x = Number(v.trim());
    if (v.trim() === '' || !Number.isFinite(x)) bad(`"${v.trim()}" is not a number`);
    return x;
  };
  const t = text.trim();
  if (t.includes(':')) {
    const parts = t.split(':');
    if (parts.length !== 3) bad(`"${t}" is not LO:HI:N`);
    const [lo, hi, n] = parts.map(num);
    if (!(lo > 0 && hi > 0)) bad(`LO and HI must be positive (got ${lo} and ${hi})`);
    if (!(lo < hi)) bad(`LO must be smaller than HI (got ${lo}:${hi})`);
    if (!Number.isInteger(n) || n < 2 || n > MAX_ALPHA_GRID) bad(`N must be a whole number from 2 to ${MAX_ALPHA_GRID} (got ${parts[2].trim()})`);
    return alphaGrid(n, lo, hi);
  }
  const values = t.split(',').map(num);
  if (values.length < 2) bad(`"${t}" is one value; the grid needs at least 2`);
  if (values.length > MAX_ALPHA_GRID) bad(`${values.length} values; at most ${MAX_ALPHA_GRID}`);
  if (values.some((a) => !(a > 0))) bad(`every α must be positive (got ${t})`);
  if (values.some((a, i) => i > 0 && !(a > values[i - 1]))) bad(`the values must increase (got ${t})`);
  return values;
}

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
  for (const [i, alpha] of opts.grid.entries()) {
    const { mean, stdError } = meanAndStdError(errs[i]);
    const kl = klPaper(weights, alpha);
    const es = mean - trainError;
    points.push({ alpha, kl, expected_sharpness: es, std_error: stdError, bound: pacBayesBound(trainError, es, kl, opts.m, opts.delta, opts.grid.length) });
  }
  let best = 0;
  for (let i = 1; i < points.length; i++) if (points[i].bound < points[best].bound) best = i;
  return { trainError, points, best };
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

export async function pacBayesSigma(ev: Evaluator, opts: SigmaOptions, progress?: Progress): Promise<SigmaResult> {
  const base = await ev.error(null);
  const dropAt = async (sigma: number) => {
    const e = await ev.errors(Array.from({ length: opts.samples }, (_, k) => ({ kind: 'iso' as const, sigma, sample: k })), true);
    return e.reduce((a, b) => a + b, 0) / opts.samples - base;
  };
  let lo = 0;
  let hi = opts.maxSigma;
  let loDrop = 0;
  for (let step = 1; step <= opts.steps; step++) {
    const mid = (lo + hi) / 2;
    const d = await dropAt(mid);
    progress?.update(step, `σ = ${mid.toPrecision(4)}, drop ${d.toFixed(3)}`);
    if (Math.abs(d - opts.drop) <= opts.tol) return { sigma: mid, drop: d, steps: step, withinTolerance: true };
    if (d <= opts.drop) {
      lo = mid;
      loDrop = d;
    } else hi = mid;
  }
  return { sigma: lo, drop: loDrop, steps: opts.steps, withinTolerance: false };
}

function curveOf(ctx: MeasureContext): Promise<Curve> {
  return ctx.memo('pac_bayes_curve', async () => {
    const ev = await ctx.evaluator();
    const { alphaGrid: grid, samples, delta } = ctx.options;
    const progress = ctx.progress('expected sharpness', grid.length * samples);
    const c = await pacBayesCurve(ev, parameterArrays(ctx.net), { grid, samples, m: ev.nFull, delta }, progress);
    progress.done();
    ctx.curve.splice(0, ctx.curve.length, ...c.points);
    const best = c.points[c.best];
    ctx.components.train_error01 = c.trainError;
    ctx.components.pac_bayes_alpha = best.alpha;
    ctx.components.pac_bayes_delta = delta;
    ctx.components.pac_bayes_m = ev.nFull;
    ctx.components.samples = samples;
    ctx.components.expected_sharpness_std_error = best.std_error;
    const edge = alphaEdge(grid, best.alpha);
    ctx.components.pac_bayes_alpha_at_edge = edge ? edge.edge : null;
    ctx.note(
      `expected_sharpness, kl and pac_bayes are at α* = ${best.alpha.toPrecision(3)}, the α of the ${grid.length}-value grid with the smallest bound (δ = ${delta}, m = ${ev.nFull}); expected_sharpness is a Monte-Carlo mean over K = ${samples} samples of the 0/1 training error, std error ${best.std_error.toPrecision(3)}`,
    );
    if (edge) ctx.note(edge.note);
    return c;
  });
}

function sigmaOf(ctx: MeasureContext): Promise<SigmaResult> {
  return ctx.memo('pac_bayes_sigma', async () => {
    const ev = await ctx.evaluator();
    const o = ctx.options;
    const progress = ctx.progress('pac-bayes σ', o.sigmaSteps);
    const r = await pacBayesSigma(ev, { samples: o.samples, maxSigma: o.sigmaMax, steps: o.sigmaSteps, drop: o.accuracyDrop, tol: o.accuracyTol }, progress);
    progress.done();
    ctx.components.pac_bayes_sigma_drop = r.drop;
    ctx.components.pac_bayes_sigma_steps = r.steps;
    ctx.note(
      r.withinTolerance
        ? `pac_bayes_sigma: accuracy drop ${r.drop.toFixed(4)} (target ${o.accuracyDrop} ± ${o.accuracyTol}) after ${r.steps} bisection steps, K = ${o.samples}`
        : `pac_bayes_sigma: the drop never came within ${o.accuracyDrop} ± ${o.accuracyTol} in ${r.steps} bisection steps; the largest σ tried whose drop was ≤ ${o.accuracyDrop} is reported (drop ${r.drop.toFixed(4)}), K = ${o.samples}`,
    );
    return r;
  });
}

const sigmaTooSmall = (ctx: MeasureContext) =>
  `even σ = ${(ctx.options.sigmaMax / 2 ** ctx.options.sigmaSteps).toPrecision(3)} lowers the training accuracy by more than ${ctx.options.accuracyDrop}`;

export const measures: MeasureDef[] = [
  {
    name: 'expected_sharpness',
    summary: 'E_ν[L̂₀₁(w+ν)] − L̂₀₁(w), ν ~ N(0, (α(10|w|+1))²), at the α* of pac_bayes',
    needs: ['weights', 'data'],
    slow: true,
    async compute(ctx) {
      const c = await curveOf(ctx);
      return { value: c.points[c.best].expected_sharpness };
    },
  },
  {
    name: 'kl',
    summary: 'Σ w²/(2σ²), σ = α*(10|w|+1)',
    needs: ['weights', 'data'],
    slow: true,
    async compute(ctx) {
      const c = await curveOf(ctx);
      return { value: c.points[c.best].kl };
    },
  },
  {
    name: 'pac_bayes',
    summary: 'min over the α grid of L̂₀₁ + expected_sharpness + 4√((kl + ln|G| + ln(2m/δ))/m)',
    needs: ['weights', 'data'],
    slow: true,
    async compute(ctx) {
      const c = await curveOf(ctx);
      return { value: c.points[c.best].bound };
    },
  },
  {
    name: 'pac_bayes_sigma',
    summary: 'largest isotropic σ lowering training accuracy by ≤ 0.1 (bisection)',
    needs: ['weights', 'data'],
    slow: true,
    async compute(ctx) {
      const r = await sigmaOf(ctx);
      return r.sigma > 0 ? { value: r.sigma } : { value: null, note: `pac_bayes_sigma: ${sigmaTooSmall(ctx)}` };
    },
  },
  {
    name: 'flatness',
    summary: '1 / pac_bayes_sigma²',
    needs: ['weights', 'data'],
    slow: true,
    async compute(ctx) {
      const r = await sigmaOf(ctx);
      return r.sigma > 0 ? { value: 1 / (r.sigma * r.sigma) } : { value: null, note: `flatness: ${sigmaTooSmall(ctx)} (σ = 0 would give an infinite flatness)` };
    },
  },
];
