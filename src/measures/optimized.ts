/**
 * An optimised PAC-Bayes bound (Dziugaite & Roy 2017, "Computing nonvacuous generalization bounds for deep
 * (stochastic) neural networks with many more parameters than training data").
 *
 *   prior      P = N(w⁰, λI), w⁰ the initial weights, λ from the grid λ_j = 0.1·2^(−j/2), j = 0 … J−1 (J = 40)
 *   posterior  Q = N(μ, diag(s²)), s_i = exp(ρ_i), μ starting at the trained weights w
 *   KL(Q‖P)    = ½ Σ_i [ s_i²/λ + (μ_i − w⁰_i)²/λ − 1 + ln(λ/s_i²) ]                       (klDiag)
 *
 * Optimisation (Adam, OPT_STEPS = 1000 steps, learning rate OPT_LR = 0.01 on ρ and OPT_LR_MEAN = 2e-4 on μ,
 * mini-batches of OPT_BATCH = 500 seeded training points): each step draws one ε ~ N(0, I) (seeded) and
 * descends the surrogate
 *   F(ρ, μ) = CE(μ + s⊙ε; batch) / ln 2 + √((KL + ln(2√m/δ) + ln J) / (2(m − 1))),
 * CE the mean cross-entropy (CE/ln 2 ≥ the 0/1 error: a misclassified point has p_y ≤ ½), with λ set to the
 * KL-minimising λ* = (Σs² + Σ(μ − w⁰)²)/P at every step. Its gradient is the reparameterisation one, g the
 * weight gradient of CE at μ + s⊙ε:
 *   ∂F/∂ρ_i = g_i · ε_i · s_i / ln 2 + ∂√/∂KL · (s_i²/λ − 1),   ∂F/∂μ_i = g_i / ln 2 + ∂√/∂KL · (μ_i − w⁰_i)/λ.
 * ρ starts at ln s₀ for every weight, s₀ = OPT_S_INIT_FACTOR (4) × RMS(w − w⁰).
 *
 * Certification (rigorous, given the final μ and s): λ is rounded to the grid value of least KL (paid for by
 * ln J in the bound: a union bound over the grid); n = OPT_SAMPLES (300) networks μ + s⊙z_k, z_k ~ N(0, I)
 * from Rng(deriveSeed(seed, 'optimized certify:k')), each evaluated on all m training points (0/1 error, a
 * tie counts as an error); q̂ = their mean error,
 *   ū     = kl⁻¹(q̂, ln(2/(δ/2)) / n)                        (sample convergence, Langford & Caruana 2002)
 *   bound = kl⁻¹(ū, (KL + ln J + ln(2√m/(δ/2))) / m)         (PAC-Bayes-kl, Maurer 2004)
 * holds with probability ≥ 1 − δ for the stochastic network Q. The optimisation may use the training data
 * freely: only the prior (w⁰ and the λ grid) must not depend on it.
 */
import { logits as engineLogits, lossGrad as engineLossGrad, inputSize } from '../engine/programs.js';
import type { Dataset } from '../data/types.js';
import { Network, parameterArrays } from '../models/network.js';
import type { Progress } from '../util/progress.js';
import { Rng, deriveSeed } from '../util/random.js';
import { klInverseUpper } from './pacbayes.js';
import { defineMeasure } from './define.js';

/** Adam steps on ρ. */
export const OPT_STEPS = 1000;
/** Adam learning rate on ρ = ln s. */
export const OPT_LR = 0.01;
/** Mini-batch size of the surrogate's loss. */
export const OPT_BATCH = 500;
/** Monte-Carlo networks of the certification. */
export const OPT_SAMPLES = 300;
/** Adam learning rate of the posterior mean (0: the mean is the trained w). */
export const OPT_LR_MEAN = 2e-4;
/** The initial s of every weight: this factor × RMS(w − w⁰) (at least 1e-4). */
export const OPT_S_INIT_FACTOR = 4;
/** The λ grid: λ_j = OPT_LAMBDA_MAX · 2^(−j/2), j = 0 … OPT_LAMBDA_COUNT − 1. */
export const OPT_LAMBDA_MAX = 0.1;
export const OPT_LAMBDA_COUNT = 40;

export function lambdaGrid(count = OPT_LAMBDA_COUNT, max = OPT_LAMBDA_MAX): number[] {
  return Array.from({ length: count }, (_, j) => max * 2 ** (-j / 2));
}

/** KL(N(w, diag s²) ‖ N(w⁰, λI)) = ½ Σ [s²/λ + (w − w⁰)²/λ − 1 + ln(λ/s²)], s = exp(ρ). */
export function klDiag(w: ArrayLike<number>[], w0: ArrayLike<number>[], rho: ArrayLike<number>[], lambda: number): number {
  let t = 0;
  const logL = Math.log(lambda);
  for (let j = 0; j < w.length; j++) {
    for (let i = 0; i < w[j].length; i++) {
      const d = w[j][i] - w0[j][i];
      const s2 = Math.exp(2 * rho[j][i]);
      t += (s2 + d * d) / lambda - 1 + logL - 2 * rho[j][i];
    }
  }
  return t / 2;
}

/** ∂KL/∂ρ_i = s_i²/λ − 1. */
export function klDiagGrad(rho: ArrayLike<number>[], lambda: number): Float64Array[] {
  return rho.map((r) => Float64Array.from(r as ArrayLike<number>, (x) => Math.exp(2 * x) / lambda - 1));
}

/** The λ minimising the KL for given s: (Σs² + Σ(w − w⁰)²) / P. */
export function bestLambda(w: ArrayLike<number>[], w0: ArrayLike<number>[], rho: ArrayLike<number>[]): number {
  let t = 0;
  let p = 0;
  for (let j = 0; j < w.length; j++) {
    for (let i = 0; i < w[j].length; i++) {
      const d = w[j][i] - w0[j][i];
      t += Math.exp(2 * rho[j][i]) + d * d;
      p++;
    }
  }
  return t / p;
}

/** The grid value of least KL. */
export function gridLambda(w: ArrayLike<number>[], w0: ArrayLike<number>[], rho: ArrayLike<number>[], grid: number[]): { lambda: number; kl: number } {
  let best = { lambda: grid[0], kl: Infinity };
  for (const l of grid) {
    const kl = klDiag(w, w0, rho, l);
    if (kl < best.kl) best = { lambda: l, kl };
  }
  return best;
}

/** The square-root (McAllester-form) complexity term of the surrogate. */
export function sqrtTerm(kl: number, m: number, delta: number, gridSize: number): number {
  return Math.sqrt(Math.max(0, kl + Math.log((2 * Math.sqrt(m)) / delta) + Math.log(gridSize)) / (2 * (m - 1)));
}

/** The certified bound from q̂ (the mean 0/1 error of n sampled networks) and the KL at the grid λ. */
export function certifiedBound(qHat: number, n: number, kl: number, m: number, delta: number, gridSize: number): { uBar: number; bound: number } {
  const half = delta / 2;
  const uBar = klInverseUpper(Math.min(1, Math.max(0, qHat)), Math.log(2 / half) / n);
  const bound = klInverseUpper(uBar, (kl + Math.log(gridSize) + Math.log((2 * Math.sqrt(m)) / half)) / m);
  return { uBar, bound };
}

/** w + s⊙z for the z of Rng(seed) drawn element by element over the parameter arrays, rounded to float32. */
export function sampleNetworkParams(w: Float32Array[], rho: ArrayLike<number>[], rng: Rng): Float32Array[] {
  return w.map((a, j) => {
    const out = new Float32Array(a.length);
    const r = rho[j];
    for (let i = 0; i < a.length; i++) out[i] = a[i] + Math.exp(r[i]) * rng.normal();
    return out;
  });
}

/** 0/1 training errors (a tie counts as an error) of the network at params, over all points of data. */
export async function errorCount(net: Network, params: Float32Array[], data: Pick<Dataset, 'x' | 'y' | 'n'>): Promise<number> {
  const c = net.numClasses;
  const f = await engineLogits(net, params, data.x, 0, data.n);
  let wrong = 0;
  for (let i = 0; i < data.n; i++) {
    const y = data.y[i];
    let other = -Infinity;
    for (let j = 0; j < c; j++) if (j !== y && f[i * c + j] > other) other = f[i * c + j];
    if (!(f[i * c + y] > other)) wrong++;
  }
  return wrong;
}

export interface OptimizeOptions {
  steps: number;
  lr: number;
  batch: number;
  samples: number;
  delta: number;
  seed: number;
  grid: number[];
  /** Adam learning rate of the mean (0: the mean stays at w) */
  lrMean: number;
  /** the initial s of every weight: sInitFactor × RMS(w − w⁰) (at least 1e-4) */
  sInitFactor: number;
}

export const OPTIMIZE_DEFAULTS: Omit<OptimizeOptions, 'delta' | 'seed'> = {
  steps: OPT_STEPS,
  lr: OPT_LR,
  batch: OPT_BATCH,
  samples: OPT_SAMPLES,
  grid: lambdaGrid(),
  sInitFactor: OPT_S_INIT_FACTOR,
  lrMean: OPT_LR_MEAN,
};

/** ρ₀ = ln s₀ everywhere, s₀ = max(1e-4, factor × RMS(w − w⁰)). */
export function initialRho(w: Float32Array[], w0: Float32Array[], factor = OPT_S_INIT_FACTOR): Float64Array[] {
  let t = 0;
  let p = 0;
  w.forEach((a, j) => a.forEach((v, i) => ((t += (v - w0[j][i]) ** 2), p++)));
  const s0 = Math.max(1e-4, factor * Math.sqrt(t / p));
  return w.map((a) => new Float64Array(a.length).fill(Math.log(s0)));
}

/**
 * The surrogate F(ρ) with the KL at λ*(ρ), its loss term averaged over the given fixed draws (seeds) on all
 * points of data (a deterministic function of ρ, for comparing ρ's).
 */
export async function surrogate(net: Network, w: Float32Array[], w0: Float32Array[], rho: Float64Array[], data: Pick<Dataset, 'x' | 'y' | 'n'>, o: { delta: number; gridSize: number; draws: number[] }): Promise<number> {
  let ce = 0;
  for (const d of o.draws) {
    const p = sampleNetworkParams(w, rho, new Rng(d));
    ce += (await engineLossGrad(net, p, data.x, data.y, data.n, false)).lossSum / data.n;
  }
  const kl = klDiag(w, w0, rho, bestLambda(w, w0, rho));
  return ce / o.draws.length / Math.LN2 + sqrtTerm(kl, data.n, o.delta, o.gridSize);
}

export interface OptimizeResult {
  rho: Float64Array[];
  /** the posterior mean (w itself when lrMean is 0), float32 */
  mean: Float32Array[];
  /** the surrogate's value at each step (its mini-batch, single-draw estimate) */
  trace: number[];
}

/** Adam on ρ for `steps` steps of the mini-batch surrogate (see the file's comment). */
export async function optimizeRho(
  net: Network,
  w: Float32Array[],
  w0: Float32Array[],
  data: Pick<Dataset, 'x' | 'y' | 'n'>,
  o: OptimizeOptions,
  progress?: Progress,
  rho0?: Float64Array[],
): Promise<OptimizeResult> {
  const m = data.n;
  const size = inputSize(net);
  const rho = (rho0 ?? initialRho(w, w0, o.sInitFactor)).map((r) => r.slice());
  const mu = w.map((a) => Float64Array.from(a));
  const muM = o.lrMean > 0 ? w.map((a) => new Float64Array(a.length)) : [];
  const muV = o.lrMean > 0 ? w.map((a) => new Float64Array(a.length)) : [];
  const mom = rho.map((r) => new Float64Array(r.length));
  const vel = rho.map((r) => new Float64Array(r.length));
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const B = Math.min(o.batch, m);
  const xb = new Float32Array(B * size);
  const yb = new Int32Array(B);
  const trace: number[] = [];
  const batchRng = new Rng(deriveSeed(o.seed, 'optimized batches'));
  let perm = batchRng.permutation(m);
  let at = 0;
  for (let t = 0; t < o.steps; t++) {
    for (let b = 0; b < B; b++) {
      if (at >= m) [perm, at] = [batchRng.permutation(m), 0];
      const i = perm[at++];
      xb.set(data.x.subarray(i * size, (i + 1) * size), b * size);
      yb[b] = data.y[i];
    }
    const rng = new Rng(deriveSeed(o.seed, `optimized step:${t}`));
    const eps32 = w.map((a) => rng.fillNormal(new Float32Array(a.length)));
    // s = exp(ρ), λ* = (Σs² + Σd²)/P and the KL at λ*, in one pass
    const sig = rho.map((r) => r.map(Math.exp));
    let ssum = 0;
    let count = 0;
    let logs = 0;
    for (let j = 0; j < w.length; j++) {
      const a = mu[j];
      const a0 = w0[j];
      const sj = sig[j];
      const r = rho[j];
      for (let i = 0; i < a.length; i++) {
        const d = a[i] - a0[i];
        ssum += sj[i] * sj[i] + d * d;
        logs += r[i];
      }
      count += a.length;
    }
    const lambda = ssum / count;
    const kl = 0.5 * (ssum / lambda - count + count * Math.log(lambda) - 2 * logs);
    const p = mu.map((a, j) => {
      const out = new Float32Array(a.length);
      const sj = sig[j];
      const e = eps32[j];
      for (let i = 0; i < a.length; i++) out[i] = a[i] + sj[i] * e[i];
      return out;
    });
    const { lossSum, grads } = await engineLossGrad(net, p, xb, yb, B, true);
    const sq = sqrtTerm(kl, m, o.delta, o.grid.length);
    trace.push(lossSum / B / Math.LN2 + sq);
    const dSq = sq > 0 ? 1 / (4 * (m - 1) * sq) : 0;
    const c1 = 1 - b1 ** (t + 1);
    const c2 = 1 - b2 ** (t + 1);
    const gScale = 1 / (B * Math.LN2);
    for (let j = 0; j < rho.length; j++) {
      const r = rho[j];
      const g = grads![j];
      const e = eps32[j];
      const sj = sig[j];
      const mj = mom[j];
      const vj = vel[j];
      for (let i = 0; i < r.length; i++) {
        const s = sj[i];
        const gi = g[i] * gScale * e[i] * s + dSq * ((s * s) / lambda - 1);
        mj[i] = b1 * mj[i] + (1 - b1) * gi;
        vj[i] = b2 * vj[i] + (1 - b2) * gi * gi;
        r[i] -= (o.lr * (mj[i] / c1)) / (Math.sqrt(vj[i] / c2) + eps);
      }
      if (o.lrMean > 0) {
        // ∂F/∂μ_i = ∂CE/∂w_i (at μ + s⊙ε) / ln 2 + ∂√/∂KL · (μ_i − w⁰_i)/λ
        const u = mu[j];
        const a0 = w0[j];
        const um = muM[j];
        const uv = muV[j];
        for (let i = 0; i < u.length; i++) {
          const gi = g[i] * gScale + (dSq * (u[i] - a0[i])) / lambda;
          um[i] = b1 * um[i] + (1 - b1) * gi;
          uv[i] = b2 * uv[i] + (1 - b2) * gi * gi;
          u[i] -= (o.lrMean * (um[i] / c1)) / (Math.sqrt(uv[i] / c2) + eps);
        }
      }
    }
    progress?.update(t + 1, `surrogate ${trace[t].toFixed(4)}`);
  }
  return { rho, mean: mu.map((a) => Float32Array.from(a)), trace };
}

export interface Certificate {
  bound: number;
  lambda: number;
  kl: number;
  qHat: number;
  uBar: number;
  samples: number;
  m: number;
  /** the 0/1 error count of each sampled network */
  wrong: number[];
}

/** The rigorous bound for the posterior N(w, diag(exp(2ρ))) (see the file's comment). */
export async function certify(
  net: Network,
  w: Float32Array[],
  w0: Float32Array[],
  rho: Float64Array[],
  data: Pick<Dataset, 'x' | 'y' | 'n'>,
  o: Pick<OptimizeOptions, 'samples' | 'delta' | 'seed' | 'grid'>,
  progress?: Progress,
): Promise<Certificate> {
  const m = data.n;
  const { lambda, kl } = gridLambda(w, w0, rho, o.grid);
  const wrong: number[] = [];
  for (let k = 0; k < o.samples; k++) {
    const p = sampleNetworkParams(w, rho, new Rng(deriveSeed(o.seed, `optimized certify:${k}`)));
    wrong.push(await errorCount(net, p, data));
    progress?.update(k + 1, `sample ${k + 1}/${o.samples}`);
  }
  const qHat = wrong.reduce((a, b) => a + b, 0) / (o.samples * m);
  const { uBar, bound } = certifiedBound(qHat, o.samples, kl, m, o.delta, o.grid.length);
  return { bound, lambda, kl, qHat, uBar, samples: o.samples, m, wrong };
}

export const measures = [
  defineMeasure({
    name: 'pac_bayes_optimized',
    summary:
      'Dziugaite & Roy (2017): the PAC-Bayes-kl bound of the stochastic net Q = N(μ, diag s²) against P = N(w⁰, λI), μ and s optimised by gradient descent on a surrogate, λ on a grid (union bound), certified by kl inversion over Monte-Carlo samples',
    needs: ['weights', 'data', 'initial'],
    options: ['delta', 'seed'],
    components: ['lambda', 'kl', 'q_hat', 'u_bar', 'samples', 'steps', 's_rms', 'mean_shift', 'surrogate_first', 'surrogate_last'].map((c) => `pac_bayes_optimized_${c}`),
    slow: true,
    sweepOptIn: true,
    async compute(ctx) {
      const data = ctx.data!;
      const w = parameterArrays(ctx.net);
      const w0 = parameterArrays(ctx.initial!);
      const o: OptimizeOptions = { ...OPTIMIZE_DEFAULTS, delta: ctx.options.delta, seed: ctx.options.seed };
      const full = { x: data.x, y: data.y, n: data.n };
      const p1 = ctx.progress('pac-bayes optimise s', o.steps);
      const { rho, mean, trace } = await optimizeRho(ctx.net, w, w0, full, o, p1);
      p1.done();
      const p2 = ctx.progress('pac-bayes certify', o.samples);
      const c = await certify(ctx.net, mean, w0, rho, full, o, p2);
      p2.done();
      let s2 = 0;
      let shift = 0;
      let p = 0;
      rho.forEach((r, j) =>
        r.forEach((x, i) => {
          s2 += Math.exp(2 * x);
          shift += (mean[j][i] - w[j][i]) ** 2;
          p++;
        }),
      );
      const pre = 'pac_bayes_optimized_';
      ctx.set(`${pre}lambda`, c.lambda);
      ctx.set(`${pre}kl`, c.kl);
      ctx.set(`${pre}q_hat`, c.qHat);
      ctx.set(`${pre}u_bar`, c.uBar);
      ctx.set(`${pre}samples`, c.samples);
      ctx.set(`${pre}steps`, o.steps);
      ctx.set(`${pre}s_rms`, Math.sqrt(s2 / p));
      ctx.set(`${pre}mean_shift`, Math.sqrt(shift));
      ctx.set(`${pre}surrogate_first`, trace[0] ?? null);
      ctx.set(`${pre}surrogate_last`, trace[trace.length - 1] ?? null);
      ctx.note(
        `pac_bayes_optimized (Dziugaite & Roy 2017): the error bound of the stochastic net Q = N(μ, diag s²), prior N(w⁰, λI); μ (from w; ‖μ − w‖ = ${Math.sqrt(shift).toPrecision(3)}) and s optimised by ${o.steps} Adam steps (lr ${o.lrMean} and ${o.lr}, batches of ${Math.min(o.batch, c.m)}) on CE/ln2 + √((KL + ln(2√m/δ) + ln J)/(2(m−1))), ` +
          `then λ = ${c.lambda.toPrecision(4)} (the grid value of least KL, J = ${o.grid.length}), KL = ${c.kl.toPrecision(5)}; q̂ = ${c.qHat.toPrecision(4)} over n = ${c.samples} sampled networks on m = ${c.m} points, ` +
          `ū = kl⁻¹(q̂, ln(4/δ)/n) = ${c.uBar.toPrecision(4)}, bound = kl⁻¹(ū, (KL + ln J + ln(4√m/δ))/m) = ${c.bound.toPrecision(4)} (δ = ${o.delta})`,
      );
      return { value: c.bound };
    },
  }),
];
