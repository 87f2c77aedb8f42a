/**
 * Every measure of two trained networks — an MLP on real MNIST digits and a small VGG on synthetic
 * images, both with biases — checked against an independent float64 computation written from the
 * formulas at the head of each src/measures file and README "Definitions". Nothing here calls
 * src/measures code (the report under test comes from computeMeasures): the matrices are unrolled
 * explicitly (reference.ts), paths are enumerated one by one, singular values come from Jacobi, the
 * losses, gradients and 0/1 errors from the float64 forward/backward of test/engine/backprop64.ts, and
 * the seeded random numbers come from src/util/random.js (the generator is not under test; the draws
 * — Rng(deriveSeed(seed, 'sharpness')) for the sharpness start, Rng(deriveSeed(seed, 'perturbation:k'))
 * for sample k, z over all parameters in parameterArrays order — are the documented contract).
 *
 * Where float32 (the engine) and float64 (here) can legitimately disagree, the allowance is derived,
 * not guessed:
 *  - Norms, path sums, spectral norms, distances: float64 on both sides from the same float32 weights,
 *    so 1e-9 relative (summation order; Lanczos stops at a 1e-10 Ritz residual).
 *  - γ is an order statistic of float32 logits: 1e-4 relative (seen: ~2e-7). A γ-normalised measure
 *    N/γ² is checked twice: N alone to 1e-9 (value·γ_engine², so a norm bug cannot hide in the float32
 *    slack), and the whole value to 3e-4 (1/γ² doubles γ's relative error: 2·1e-4 plus slack). The
 *    product of many norms needs no looser tolerance here because no norm is computed in float32.
 *  - 0/1 errors: a point whose float64 margin is within 1e-4·(1 + max|logit|) of 0 may fall either way
 *    in float32; an error rate may differ by (number of such points)/m and no more, counts away from the
 *    boundary must agree exactly (seen: every count of both curves agrees exactly, no boundary point).
 *  - the σ bisection follows every branch such a flip could take; the engine's (σ, steps) must be one of
 *    the reachable outcomes (seen: the no-flip one).
 *  - sharpness: ζ = (max L̂ − L̂(w))/(1 + L̂(w)) is a difference of two close float32 cross-entropies
 *    (ONNX Runtime) — e.g. 2.9e-4 and 3.0e-4 for the VGG — and a float32 gradient sign may differ from
 *    float64 on a near-zero component; the losses are checked to 1e-4 relative (seen: ≤ 6e-6) and ζ to
 *    1e-3 (seen: 4e-6 for the MLP, 1e-4 for the VGG, whose ζ is only 1.3e-5).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { loadData } from '../../src/data/index.js';
import { subset, subsetIndices, take } from '../../src/data/transforms.js';
import type { Dataset } from '../../src/data/types.js';
import { Network, parameterArrays, weightLayers, type WeightLayer } from '../../src/models/network.js';
import { buildNetwork } from '../../src/models/spec.js';
import { computeMeasures, MEASURE_NAMES, type MeasureOptions, type MeasureReport } from '../../src/measures/index.js';
import { Rng, deriveSeed } from '../../src/util/random.js';
import { lossGrad64, logits64 } from '../engine/backprop64.js';
import { augmented, enumeratePathSum, frobenius, largestSingularValue, unrollPool, type Mat } from './reference.js';
import { trainSmall } from './train.js';

// ---------------------------------------------------------------------------------------------
// The two trained networks and the options the measures are computed with

interface Case {
  net: Network;
  initial: Network;
  data: Dataset;
  options: MeasureOptions & { samples: number; sharpnessSteps: number; seed: number };
}

const K = 4;
const STEPS = 5;

async function mlpCase(): Promise<Case> {
  const data = subset(loadData('mnist').train, 600, 21);
  const initial = buildNetwork('mlp:32,16', { inputShape: [28, 28, 1], numClasses: 10, bias: true, seed: 3 });
  const net = await trainSmall(initial, data, { epochs: 25, lr: 0.05, batch: 50 });
  // sharpness on a seeded subset of 300 of the 600 points (the other case uses all of its points)
  return { net, initial, data, options: { initial, samples: K, sharpnessSteps: STEPS, sharpnessPoints: 300, seed: 3 } };
}

async function vggCase(): Promise<Case> {
  const data = loadData('synthetic:n=200,test=50,shape=8x8x3,classes=4').train;
  const initial = buildNetwork('vgg:4,M,8,M', { inputShape: [8, 8, 3], numClasses: 4, bias: true, seed: 5 });
  const net = await trainSmall(initial, data, { epochs: 30, lr: 0.05, batch: 20 });
  return { net, initial, data, options: { initial, samples: K, sharpnessSteps: STEPS, seed: 1 } };
}

// ---------------------------------------------------------------------------------------------
// float64 building blocks

const EPS = 0.05; // margin ε (default)
const ALPHA = 5e-4; // sharpness α (default)
const DELTA = 0.05;
const GRID = Array.from({ length: 16 }, (_, i) => 10 ** (-4 + (3 * i) / 15)); // 16 log-spaced α, 1e-4 … 1e-1
/** A float64 margin this close to 0 (relative to 1 + max|logit|) may have the other sign in float32. */
const BOUNDARY = 1e-4;

const size = (d: Dataset) => d.shape[0] * d.shape[1] * d.shape[2];
const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
const params64 = (net: Network) => parameterArrays(net).map((a) => Float64Array.from(a));

/** Per-point float64 margins of the network with parameters p (parameterArrays order). */
function margins64(net: Network, p: Float64Array[], data: Dataset): { margin: Float64Array; scale: Float64Array } {
  const s = size(data);
  const margin = new Float64Array(data.n);
  const scale = new Float64Array(data.n);
  for (let i = 0; i < data.n; i++) {
    const f = logits64(net, p, data.x.subarray(i * s, (i + 1) * s));
    const y = data.y[i];
    let other = -Infinity;
    let big = 0;
    for (let j = 0; j < f.length; j++) {
      if (j !== y && f[j] > other) other = f[j];
      big = Math.max(big, Math.abs(f[j]));
    }
    margin[i] = f[y] - other;
    scale[i] = 1 + big;
  }
  return { margin, scale };
}

/** 0/1 error count (a tie or NaN is an error) and the number of points too close to the boundary to call. */
function errorCount(net: Network, p: Float64Array[], data: Dataset): { wrong: number; amb: number } {
  const { margin, scale } = margins64(net, p, data);
  let wrong = 0;
  let amb = 0;
  for (let i = 0; i < data.n; i++) {
    if (!(margin[i] > 0)) wrong++;
    if (!(Math.abs(margin[i]) > BOUNDARY * scale[i])) amb++;
  }
  return { wrong, amb };
}

/** z_k: standard normals from Rng(deriveSeed(seed, 'perturbation:k')), over all parameters in order, stored as float32. */
function normals(net: Network, seed: number, k: number): Float64Array[] {
  const rng = new Rng(deriveSeed(seed, `perturbation:${k}`));
  return parameterArrays(net).map((a) => {
    const z = new Float64Array(a.length);
    for (let i = 0; i < z.length; i++) z[i] = Math.fround(rng.normal());
    return z;
  });
}

function perturbPaper(w: Float64Array[], z: Float64Array[], alpha: number): Float64Array[] {
  return w.map((a, j) => a.map((v, i) => v + alpha * (10 * Math.abs(v) + 1) * z[j][i]));
}

function perturbIso(w: Float64Array[], z: Float64Array[], sigma: number): Float64Array[] {
  return w.map((a, j) => a.map((v, i) => v + sigma * z[j][i]));
}

/** The magnitude-aware perturbation w + √(α′²w² + ε²)·z, ε = 1e-3 (magflatness.ts). */
function perturbMag(w: Float64Array[], z: Float64Array[], alpha: number): Float64Array[] {
  return w.map((a, j) => a.map((v, i) => v + Math.sqrt(alpha * alpha * v * v + 1e-6) * z[j][i]));
}

/** ‖·‖_2 of the rows of a matrix. */
const rowNorms2 = (A: Mat) => A.map((r) => Math.sqrt(r.reduce((s, v) => s + v * v, 0)));

/** The layer's kernel and bias minus the initial ones, as an augmented unrolled matrix. */
function augmentedDiff(l: WeightLayer, l0: WeightLayer): Mat {
  const k = Float64Array.from(l.kernel, (v, i) => v - l0.kernel[i]);
  const b = l.bias ? Float64Array.from(l.bias, (v, i) => v - l0.bias![i]) : null;
  return augmented(l, k, b);
}

/** The farthest-point sweeps of README "Definitions": start at input 0, jump to the farthest, 4 sweeps. */
function diameterSweeps(data: Dataset): { lower: number; upper: number } {
  const s = size(data);
  const dist = (a: number, b: number) => {
    let d = 0;
    for (let t = 0; t < s; t++) d += (data.x[a * s + t] - data.x[b * s + t]) ** 2;
    return Math.sqrt(d);
  };
  let from = 0;
  let lower = 0;
  let upper = Infinity;
  for (let sweep = 0; sweep < 4; sweep++) {
    let far = from;
    let farD = 0;
    for (let j = 0; j < data.n; j++) {
      const d = dist(from, j);
      if (d > farD) [far, farD] = [j, d];
    }
    lower = Math.max(lower, farD);
    upper = Math.min(upper, 2 * farD);
    if (far === from) break;
    from = far;
  }
  return { lower, upper };
}

/** The true diameter max_{i,j} ‖x_i − x_j‖. */
function trueDiameter(data: Dataset): number {
  const s = size(data);
  let best = 0;
  for (let a = 0; a < data.n; a++)
    for (let b = a + 1; b < data.n; b++) {
      let d = 0;
      for (let t = 0; t < s; t++) {
        const v = data.x[a * s + t] - data.x[b * s + t];
        d += v * v;
      }
      if (d > best) best = d;
    }
  return Math.sqrt(best);
}

// ---------------------------------------------------------------------------------------------
// The reference measures

interface NormRef {
  params: number;
  d: number;
  widths: number[];
  margins: Float64Array;
  gamma: number;
  fro: number[];
  l1inf: number[];
  spectral: number[];
  pathSum1: number;
  pathSum2: number;
  poolFactor: number;
  /** the measures without the 1/γ² factor (or, for lipschitz_capacity_log10, without −n·log10 γ) */
  numerators: Record<'l2' | 'l1_path' | 'l2_path' | 'spectral' | 'l1_inf' | 'bartlett_spectral', number>;
  lipschitz: number;
  diameter: { lower: number; upper: number; truth: number };
  inputSize: number;
  distLayers: number[];
  paramDist: number;
  l21: number[];
}

function normReference(c: Case): NormRef {
  const { net, initial, data } = c;
  const layers = weightLayers(net);
  const layers0 = weightLayers(initial);
  // params from the layer geometry: a dense layer in·out (+ out), a conv kh·kw·cin·cout (+ cout)
  const params = layers.reduce((s, l) => {
    if (l.kind === 'dense') return s + l.inSize * l.outSize + (l.bias ? l.outSize : 0);
    return s + l.kernelSize[0] * l.kernelSize[1] * l.inShape[2] * l.outShape[2] + (l.bias ? l.outShape[2] : 0);
  }, 0);
  const mats = layers.map((l) => augmented(l));
  const widths = mats.map((M) => M.length);
  const d = mats.length;
  const margins = margins64(net, params64(net), data).margin;
  const sorted = Float64Array.from(margins).sort();
  const gamma = sorted[Math.ceil(EPS * data.n) - 1];
  const fro = mats.map(frobenius);
  const l1inf = mats.map((M) => Math.max(...M.map((r) => r.reduce((s, v) => s + Math.abs(v), 0))));
  const spectral = mats.map(largestSingularValue);
  const pathSum1 = enumeratePathSum(net, 1).sum;
  const pathSum2 = enumeratePathSum(net, 2).sum;
  // ℓ2 Lipschitz constant of a pooling layer: max pooling √(largest number of windows an input lies in)
  let poolFactor = 1;
  for (const l of net.layers) {
    if (l.kind !== 'maxpool' && l.kind !== 'avgpool') continue;
    const M = unrollPool(l);
    const cover = M[0].map((_, j) => M.reduce((s, r) => s + (r[j] !== 0 ? (l.kind === 'maxpool' ? 1 : r[j]) : 0), 0));
    poolFactor *= Math.max(1, Math.sqrt(Math.max(...cover)));
  }
  const diffs = layers.map((l, i) => augmentedDiff(l, layers0[i]));
  const distLayers = diffs.map(frobenius);
  let paramDist = 0;
  layers.forEach((l, i) => {
    l.kernel.forEach((v, j) => (paramDist += (v - layers0[i].kernel[j]) ** 2));
    l.bias?.forEach((v, j) => (paramDist += (v - layers0[i].bias![j]) ** 2));
  });
  const l21 = diffs.map((D) => rowNorms2(D).reduce((a, b) => a + b, 0));
  const bartlettSum = spectral.reduce((s, sv, i) => s + (l21[i] / sv) ** (2 / 3), 0);
  return {
    params,
    d,
    widths,
    margins,
    gamma,
    fro,
    l1inf,
    spectral,
    pathSum1,
    pathSum2,
    poolFactor,
    numerators: {
      l2: prod(fro.map((f) => 4 * f * f)),
      l1_inf: prod(l1inf.map((f) => 4 * f * f)),
      l1_path: 4 ** d * pathSum1 * pathSum1,
      l2_path: 4 ** d * prod(widths) * pathSum2,
      spectral: prod(spectral.map((s, i) => widths[i] * s * s)),
      bartlett_spectral: prod(spectral.map((s) => s * s)) * bartlettSum ** 3,
    },
    lipschitz: prod(spectral) * poolFactor,
    diameter: { ...diameterSweeps(data), truth: trueDiameter(data) },
    inputSize: size(data),
    distLayers,
    paramDist: Math.sqrt(paramDist),
    l21,
  };
}

/** Projected sign-gradient ascent in float64 (sharpness.ts header, README "Definitions"). */
function sharpnessReference(c: Case): { value: number; loss: number; maxLoss: number; points: number } {
  const { net, data, options } = c;
  const pts = options.sharpnessPoints !== undefined && options.sharpnessPoints < data.n ? take(data, subsetIndices(data.n, options.sharpnessPoints, options.seed, 'sharpness points')) : data;
  const w = params64(net);
  const meanLoss = (p: Float64Array[], grad: boolean) => {
    const r = lossGrad64(net, p, pts.x, pts.y, pts.n);
    return { loss: r.loss / pts.n, grads: grad ? r.grads : null };
  };
  const radius = w.map((a) => a.map((v) => ALPHA * (Math.abs(v) + 1)));
  const rng = new Rng(deriveSeed(options.seed, 'sharpness'));
  const nu = radius.map((r) => r.map((v) => (2 * rng.uniform() - 1) * v));
  const at = () => w.map((a, j) => a.map((v, i) => v + nu[j][i]));
  const base = meanLoss(w, false).loss;
  let maxLoss = -Infinity;
  for (let t = 0; t < STEPS; t++) {
    const { loss, grads } = meanLoss(at(), true);
    maxLoss = Math.max(maxLoss, loss);
    const eta = 2 * (0.05 / 2) ** (t / (STEPS - 1)); // 2 → 0.05 geometrically
    nu.forEach((v, j) =>
      v.forEach((x, i) => {
        const g = grads![j][i];
        v[i] = Math.min(radius[j][i], Math.max(-radius[j][i], x + eta * radius[j][i] * Math.sign(g)));
      }),
    );
  }
  maxLoss = Math.max(maxLoss, meanLoss(at(), false).loss);
  return { value: (maxLoss - base) / (1 + base), loss: base, maxLoss, points: pts.n };
}

interface CurveRef {
  trainWrong: number;
  trainAmb: number;
  /** per α: the K error counts and their ambiguous-point counts */
  wrong: number[][];
  amb: number[][];
  kl: number[];
}

function curveReference(c: Case, zs: Float64Array[][]): CurveRef {
  const { net, data } = c;
  const w = params64(net);
  const t = errorCount(net, w, data);
  const wrong: number[][] = [];
  const amb: number[][] = [];
  const kl: number[] = [];
  for (const alpha of GRID) {
    const e = zs.map((z) => errorCount(net, perturbPaper(w, z, alpha), data));
    wrong.push(e.map((r) => r.wrong));
    amb.push(e.map((r) => r.amb));
    let s = 0;
    for (const a of w) for (const v of a) s += (v * v) / (2 * (alpha * (10 * Math.abs(v) + 1)) ** 2);
    kl.push(s);
  }
  return { trainWrong: t.wrong, trainAmb: t.amb, wrong, amb, kl };
}

interface SigmaSettings {
  max: number;
  steps: number;
  drop: number;
  tol: number;
}

interface SigmaOutcome {
  /** bisection steps used */
  steps: number;
  /** the drop at the σ returned (0 at σ = 0) and its allowance */
  drop: number;
  tol: number;
}

/**
 * The σ bisection of pacbayes.ts on [0, max], at most `steps` steps, K samples per step: stop when the drop
 * (mean of the K error rates minus the training error) is within drop ± tol, else return the largest σ
 * tried whose drop was ≤ drop (0 if none). Returns every outcome reachable when the float32 errors may
 * differ from these by the boundary allowance; where the allowance is 0 the drop is computed with the
 * same float arithmetic as the formula, so a drop exactly on a threshold decides alike.
 */
function sigmaReference(c: Case, zs: Float64Array[][], base: { wrong: number; amb: number }, set: SigmaSettings, perturb = perturbIso): Map<number, SigmaOutcome[]> {
  const { net, data } = c;
  const w = params64(net);
  const m = data.n;
  /** the drop at σ, and the numbers of boundary points (over the K samples, and at w) that may flip in float32 */
  const drops = new Map<number, { drop: number; tol: number; amb: number }>();
  const dropAt = (sigma: number) => {
    let r = drops.get(sigma);
    if (!r) {
      const e = zs.map((z) => errorCount(net, perturb(w, z, sigma), data));
      const drop = e.map((x) => x.wrong / m).reduce((a, b) => a + b, 0) / K - base.wrong / m;
      const amb = e.reduce((s, x) => s + x.amb, 0);
      drops.set(sigma, (r = { drop, amb, tol: amb / (K * m) + base.amb / m }));
    }
    return r;
  };
  const results = new Map<number, SigmaOutcome[]>();
  const add = (sigma: number, o: SigmaOutcome) => results.set(sigma, [...(results.get(sigma) ?? []), o]);
  const slack = 1e-12;
  const walk = (lo: number, hi: number, loAt: { drop: number; tol: number }, step: number) => {
    if (step > set.steps) {
      add(lo, { steps: set.steps, drop: loAt.drop, tol: loAt.tol });
      return;
    }
    const mid = (lo + hi) / 2;
    const at = dropAt(mid);
    // every drop the float32 errors may give: a boundary point flipped changes a count by one
    let canWithin = false;
    let canBelow = false;
    let canAbove = false;
    for (let i = -at.amb; i <= at.amb; i++)
      for (let j = -base.amb; j <= base.amb; j++) {
        if (i === 0 && j === 0) {
          // no flip: the same float arithmetic as the formula decides
          const within = Math.abs(at.drop - set.drop) <= set.tol;
          canWithin ||= within;
          canBelow ||= !within && at.drop <= set.drop;
          canAbove ||= !within && at.drop > set.drop;
          continue;
        }
        const v = at.drop + i / (K * m) - j / m;
        const off = Math.abs(v - set.drop);
        canWithin ||= off <= set.tol + slack;
        canBelow ||= off > set.tol - slack && v <= set.drop + slack;
        canAbove ||= off > set.tol - slack && v > set.drop - slack;
      }
    if (canWithin) add(mid, { steps: step, drop: at.drop, tol: at.tol });
    if (canBelow) walk(mid, hi, at, step + 1);
    if (canAbove) walk(lo, mid, loAt, step + 1);
  };
  walk(0, set.max, { drop: 0, tol: 0 }, 1);
  return results;
}

/** kl(q‖p) of two Bernoullis in float64, 0·ln 0 = 0. */
function klBern64(q: number, p: number): number {
  const t = (a: number, b: number) => (a === 0 ? 0 : b === 0 ? Infinity : a * Math.log(a / b));
  return t(q, p) + t(1 - q, 1 - p);
}

/** The largest p in [q, 1] with kl(q‖p) ≤ c: 200 halvings of [q, 1] (to the last bit), the upper end. */
function klInverse64(q: number, c: number): number {
  if (klBern64(q, 1) <= c) return 1;
  let lo = q;
  let hi = 1;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (klBern64(q, mid) <= c) lo = mid;
    else hi = mid;
  }
  return hi;
}

// ---------------------------------------------------------------------------------------------
// Assertions

function rel(got: number | null | undefined, want: number): number {
  assert.ok(typeof got === 'number' && Number.isFinite(got), `not a finite number: ${got}`);
  return Math.abs(got - want) / Math.abs(want);
}

function close(what: string, got: number | null | undefined, want: number, tol: number): void {
  const e = rel(got, want);
  assert.ok(e <= tol, `${what}: ${got} vs float64 ${want} (relative error ${e.toExponential(2)} > ${tol})`);
}

/** Element-wise close(), after checking the lengths. */
function closeAll(what: string, got: unknown, want: number[], tol: number): void {
  assert.ok(Array.isArray(got) && got.length === want.length, `${what}: ${JSON.stringify(got)} should have ${want.length} entries`);
  got.forEach((v: number, i: number) => close(`${what}[${i}]`, v, want[i], tol));
}

/** Everything shared by one case's tests, computed once. */
function setup(make: () => Promise<Case>) {
  let p: Promise<{ c: Case; r: MeasureReport; n: NormRef; zs: Float64Array[][] }> | null = null;
  return () =>
    (p ??= (async () => {
      const c = await make();
      const r = await computeMeasures(c.net, c.data, c.options);
      const zs = Array.from({ length: K }, (_, k) => normals(c.net, c.options.seed, k));
      return { c, r, n: normReference(c), zs };
    })());
}

const GAMMA_TOL = 1e-4; // γ: an order statistic of float32 logits
const NORM_TOL = 1e-9; // float64 on both sides from the same float32 weights (summation order, Lanczos 1e-10 residual)
const NORMALISED_TOL = 3e-4; // N/γ²: 1/γ² doubles γ's relative error

/** The measures this file has a float64 reference for. */
const CHECKED = [
  'params', 'vc_dim', 'margin', 'l2', 'l1_path', 'l2_path', 'spectral', 'l1_inf', 'lipschitz', 'lipschitz_capacity_log10',
  'sharpness', 'expected_sharpness', 'kl', 'pac_bayes', 'pac_bayes_kl', 'kl_at_sharpness', 'pac_bayes_sigma', 'flatness',
  'pac_bayes_mag_flatness',
  // pac_bayes_optimized: its float64 reference (the certification re-done from the same seeded samples) is in
  // optimized.test.ts; here it is checked to be a finite number only
  'pac_bayes_optimized',
  // sharpness_mag_flatness: its float64 reference (the worst corner in closed form, on a linear model) is in
  // magflatness.test.ts; here it is checked for consistency with its components only
  'sharpness_mag_flatness',
  'dist_from_init', 'bartlett_spectral',
];

const CASES: [string, () => Promise<Case>][] = [
  ['MLP 784-32-16-10 (biases) trained on 600 MNIST digits', mlpCase],
  ['VGG vgg:4,M,8,M (biases) trained on 200 synthetic 8x8x3 images', vggCase],
];

for (const [label, make] of CASES) {
  const get = setup(make);
  let curveRef: CurveRef | null = null;
  /** curveReference(c, zs), computed once per case (two tests read it). */
  const curveOnce = (c: Case, zs: Float64Array[][]) => (curveRef ??= curveReference(c, zs));

  test(`${label}: every measure of the registry is reported, is a number, and has a float64 reference here`, async () => {
    const { r, n } = await get();
    assert.deepEqual([...MEASURE_NAMES].sort(), [...CHECKED].sort(), 'a measure without a reference in this file (or a reference without a measure)');
    assert.deepEqual(Object.keys(r.measures).sort(), [...CHECKED].sort());
    for (const [k, v] of Object.entries(r.measures)) assert.ok(typeof v === 'number' && Number.isFinite(v), `${k} = ${v}: ${r.notes.join(' | ')}`);
    assert.ok(n.gamma > 0, `γ = ${n.gamma}`);
    assert.equal(r.components.train_error, 0, 'the trained net should fit its training set');
  });

  test(`${label}: params, vc_dim, margin, l2, l1_inf, l1_path, l2_path, spectral match float64`, async (t) => {
    const { r, n } = await get();
    const m = r.measures;
    assert.equal(m.params, n.params);
    assert.equal(m.vc_dim, n.d * n.params);
    assert.deepEqual(r.components.widths, n.widths);
    close('margin γ', m.margin, n.gamma, GAMMA_TOL);
    t.diagnostic(`γ = ${m.margin} (float64 ${n.gamma}, relative error ${rel(m.margin, n.gamma).toExponential(2)}); l2 relative error ${rel(m.l2, n.numerators.l2 / n.gamma ** 2).toExponential(2)}`);
    const comps = r.components as Record<string, any>;
    closeAll('‖W_i‖_F', comps.fro_norms, n.fro, NORM_TOL);
    closeAll('‖W_i‖_{1,∞}', comps.l1_inf_norms, n.l1inf, NORM_TOL);
    closeAll('‖W_i‖_2', comps.spectral_norms, n.spectral, NORM_TOL);
    close('Σ_paths ∏|w|', comps.l1_path_sum, n.pathSum1, NORM_TOL);
    close('Σ_paths ∏w²', comps.l2_path_sum, n.pathSum2, NORM_TOL);
    for (const name of ['l2', 'l1_inf', 'l1_path', 'l2_path', 'spectral'] as const) {
      // the norm part alone (the engine's own γ taken out), then the whole measure
      close(`${name}·γ²`, m[name]! * m.margin! ** 2, n.numerators[name], NORM_TOL);
      close(name, m[name], n.numerators[name] / n.gamma ** 2, NORMALISED_TOL);
    }
  });

  test(`${label}: lipschitz and lipschitz_capacity_log10 (diam(X) by the documented farthest-point sweeps; the true diameter within its bounds)`, async () => {
    const { r, n } = await get();
    const comps = r.components as Record<string, any>;
    close('lipschitz', r.measures.lipschitz, n.lipschitz, NORM_TOL);
    assert.equal(comps.lipschitz_pool_factor, n.poolFactor);
    close('diam(X) estimate', comps.diameter, n.diameter.lower, 1e-12);
    close('diam(X) upper bound', comps.diameter_upper, n.diameter.upper, 1e-12);
    assert.ok(comps.diameter <= n.diameter.truth && n.diameter.truth <= comps.diameter_upper, `true diameter ${n.diameter.truth} outside [${comps.diameter}, ${comps.diameter_upper}]`);
    // n·log10(lipschitz·diam/γ): an error ε (relative) in γ moves it by n·log10(1 + ε)
    const want = n.inputSize * Math.log10((n.lipschitz * n.diameter.lower) / n.gamma);
    const got = r.measures.lipschitz_capacity_log10!;
    assert.ok(Math.abs(got - want) <= n.inputSize * Math.log10(1 + GAMMA_TOL), `lipschitz_capacity_log10 ${got} vs float64 ${want}`);
    const own = n.inputSize * Math.log10((n.lipschitz * n.diameter.lower) / r.measures.margin!);
    assert.ok(Math.abs(got - own) <= 1e-9 * Math.abs(own), `lipschitz_capacity_log10 ${got} vs ${own} at the engine's γ`);
  });

  test(`${label}: sharpness equals the projected sign-gradient ascent run in float64 from the same seeded start`, async (t) => {
    const { c, r } = await get();
    const ref = sharpnessReference(c);
    const comps = r.components as Record<string, any>;
    t.diagnostic(`sharpness ${r.measures.sharpness} vs float64 ${ref.value} (relative error ${rel(r.measures.sharpness, ref.value).toExponential(2)}); L̂(w) ${ref.loss} (relative error ${rel(comps.sharpness_loss, ref.loss).toExponential(2)}), max ${ref.maxLoss} (${rel(comps.sharpness_max_loss, ref.maxLoss).toExponential(2)})`);
    assert.equal(comps.sharpness_points, ref.points);
    close('L̂(w)', comps.sharpness_loss, ref.loss, 1e-4);
    close('max L̂(w+ν)', comps.sharpness_max_loss, ref.maxLoss, 1e-4);
    close('sharpness', r.measures.sharpness, ref.value, 1e-3);
  });

  test(`${label}: expected_sharpness, kl, pac_bayes and the whole α curve match float64 errors of the same seeded perturbations`, async (t) => {
    const { c, r, zs } = await get();
    const m = c.data.n;
    const ref = curveOnce(c, zs);
    const comps = r.components as Record<string, any>;
    // L̂(w): exact unless a point sits on the boundary
    assert.ok(Math.abs(comps.train_error01 * m - ref.trainWrong) <= ref.trainAmb + 1e-9, `train error ${comps.train_error01} vs ${ref.trainWrong}/${m}`);
    const trainErr = comps.train_error01 as number;
    assert.equal(r.pac_bayes_curve.length, GRID.length);
    const tolES: number[] = [];
    let ambiguous = 0;
    r.pac_bayes_curve.forEach((pt, i) => {
      close(`α[${i}]`, pt.alpha, GRID[i], 1e-12);
      close(`kl(α = ${pt.alpha})`, pt.kl, ref.kl[i], 1e-12);
      const amb = ref.amb[i].reduce((a, b) => a + b, 0);
      ambiguous += amb;
      const meanRef = ref.wrong[i].reduce((a, b) => a + b, 0) / (K * m);
      // the engine's mean error at α, from its expected sharpness and its own L̂(w)
      const meanGot = pt.expected_sharpness + trainErr;
      const tol = amb / (K * m) + 1e-12;
      assert.ok(Math.abs(meanGot - meanRef) <= tol, `mean 0/1 error at α = ${pt.alpha}: ${meanGot} vs float64 ${meanRef} (allowed ${tol})`);
      const es = meanRef - ref.trainWrong / m;
      tolES.push(tol + ref.trainAmb / m);
      assert.ok(Math.abs(pt.expected_sharpness - es) <= tolES[i], `expected sharpness at α = ${pt.alpha}: ${pt.expected_sharpness} vs ${es}`);
      if (amb === 0) {
        const rates = ref.wrong[i].map((w) => w / m);
        const mean = rates.reduce((a, b) => a + b, 0) / K;
        const sd = Math.sqrt(rates.reduce((s, v) => s + (v - mean) ** 2, 0) / (K - 1));
        assert.ok(Math.abs(pt.std_error - sd / Math.sqrt(K)) <= 1e-12, `std error at α = ${pt.alpha}: ${pt.std_error} vs ${sd / Math.sqrt(K)}`);
      }
      const bound = trainErr + pt.expected_sharpness + 4 * Math.sqrt((ref.kl[i] + Math.log(GRID.length) + Math.log((2 * m) / DELTA)) / m);
      close(`bound(α = ${pt.alpha})`, pt.bound, bound, 1e-12);
      const boundRef = ref.trainWrong / m + es + 4 * Math.sqrt((ref.kl[i] + Math.log(GRID.length) + Math.log((2 * m) / DELTA)) / m);
      assert.ok(Math.abs(pt.bound - boundRef) <= tolES[i] + 1e-12, `bound at α = ${pt.alpha}: ${pt.bound} vs float64 ${boundRef}`);
    });
    // the measures are the curve at α* = argmin of the bound
    const bounds = r.pac_bayes_curve.map((p) => p.bound);
    const best = bounds.indexOf(Math.min(...bounds));
    assert.equal(comps.pac_bayes_alpha, r.pac_bayes_curve[best].alpha);
    assert.equal(r.measures.pac_bayes, bounds[best]);
    assert.equal(r.measures.expected_sharpness, r.pac_bayes_curve[best].expected_sharpness);
    assert.equal(r.measures.kl, r.pac_bayes_curve[best].kl);
    t.diagnostic(`α* = ${comps.pac_bayes_alpha}, expected sharpness ${r.measures.expected_sharpness}, pac_bayes ${r.measures.pac_bayes}; boundary points over the curve: ${ambiguous} (+${ref.trainAmb} at w); ES: ${r.pac_bayes_curve.map((p) => p.expected_sharpness.toFixed(4)).join(' ')}`);
    if (ambiguous === 0) {
      // no point anywhere near a boundary: the float64 curve picks the same α*
      const refBounds = ref.kl.map((kl, i) => ref.wrong[i].reduce((a, b) => a + b, 0) / (K * m) + 4 * Math.sqrt((kl + Math.log(GRID.length) + Math.log((2 * m) / DELTA)) / m));
      assert.equal(best, refBounds.indexOf(Math.min(...refBounds)));
    }
  });

  test(`${label}: pac_bayes_kl (the kl bound inverted by float64 bisection) and kl_at_sharpness (the first 0.05 crossing of the float64 curve) match`, async (t) => {
    const { c, r, zs } = await get();
    const m = c.data.n;
    const ref = curveOnce(c, zs);
    const comps = r.components as Record<string, any>;
    const G = GRID.length;
    const ambQ = ref.amb.map((a) => a.reduce((x, y) => x + y, 0) / (K * m));
    const ambiguous = ambQ.some((a) => a > 0) || ref.trainAmb > 0;
    // pac_bayes_kl: q̂ = the mean 0/1 error of the K perturbed nets; ū = kl⁻¹(q̂, (ln|G| + ln(2/(δ/2)))/K);
    // the bound kl⁻¹(ū, (kl + ln|G| + ln(2√m/(δ/2)))/m), the smallest over the grid. It increases with q̂,
    // so a boundary point moves it within the bounds at q̂ ∓ (boundary points)/(K·m).
    const q = ref.wrong.map((w) => w.reduce((a, b) => a + b, 0) / (K * m));
    const boundAt = (qi: number, i: number) =>
      klInverse64(klInverse64(Math.min(1, Math.max(0, qi)), (Math.log(G) + Math.log(2 / (DELTA / 2))) / K), (ref.kl[i] + Math.log(G) + Math.log((2 * Math.sqrt(m)) / (DELTA / 2))) / m);
    const want = Math.min(...q.map((qi, i) => boundAt(qi, i)));
    const lo = Math.min(...q.map((qi, i) => boundAt(qi - ambQ[i], i)));
    const hi = Math.min(...q.map((qi, i) => boundAt(qi + ambQ[i], i)));
    const got = r.measures.pac_bayes_kl!;
    t.diagnostic(`pac_bayes_kl ${got} (float64 ${want}) at α = ${comps.pac_bayes_kl_alpha}, ū = ${comps.pac_bayes_kl_sample_bound}; pac_bayes (√ form) ${r.measures.pac_bayes}; kl_at_sharpness ${r.measures.kl_at_sharpness} between α = ${comps.kl_at_sharpness_alphas}`);
    assert.ok(got >= lo - 1e-9 && got <= hi + 1e-9, `pac_bayes_kl ${got} outside the float64 range [${lo}, ${hi}]`);
    if (!ambiguous) close('pac_bayes_kl', got, want, 1e-9);
    assert.ok(got <= 1);
    const at = GRID.findIndex((a) => Math.abs(a / comps.pac_bayes_kl_alpha - 1) < 1e-12);
    assert.ok(at >= 0, `pac_bayes_kl_alpha ${comps.pac_bayes_kl_alpha} is not a grid value`);
    close('pac_bayes_kl at its α', got, boundAt(q[at], at), ambiguous ? 1 : 1e-9);
    if (!ambiguous) {
      // the two steps at that α (the first one is not saturated at 1 even where the bound is, with K = 4)
      close('q̂ at pac_bayes_kl_alpha', comps.pac_bayes_kl_q_error, q[at], 1e-12);
      close('ū at pac_bayes_kl_alpha', comps.pac_bayes_kl_sample_bound, klInverse64(q[at], (Math.log(G) + Math.log(2 / (DELTA / 2))) / K), 1e-9);
    }
    // kl_at_sharpness: the first α (from the smallest) with ES ≥ 0.05 and the one before it; log kl linear in ES
    const crossing = (es: number[], kl: number[]) => {
      const i = es.findIndex((e) => e >= 0.05);
      assert.ok(i > 0, `the curve must cross 0.05 inside the grid (ES: ${es.join(' ')})`);
      const s = (0.05 - es[i - 1]) / (es[i] - es[i - 1]);
      return { i, kl: Math.exp((1 - s) * Math.log(kl[i - 1]) + s * Math.log(kl[i])) };
    };
    const esRef = q.map((qi) => qi - ref.trainWrong / m);
    const mine = crossing(r.pac_bayes_curve.map((p) => p.expected_sharpness), r.pac_bayes_curve.map((p) => p.kl));
    close('kl_at_sharpness (the formula on the reported curve)', r.measures.kl_at_sharpness, mine.kl, 1e-12);
    assert.deepEqual(comps.kl_at_sharpness_alphas, [r.pac_bayes_curve[mine.i - 1].alpha, r.pac_bayes_curve[mine.i].alpha]);
    if (!ambiguous) close('kl_at_sharpness', r.measures.kl_at_sharpness, crossing(esRef, ref.kl).kl, 1e-9);
  });

  /** pac_bayes_sigma and flatness of a report against the float64 bisection with these settings. */
  const checkSigma = async (t: { diagnostic(msg: string): void }, r: MeasureReport, set: SigmaSettings) => {
    const { c, zs } = await get();
    const results = sigmaReference(c, zs, errorCount(c.net, params64(c.net), c.data), set);
    const sigma = r.measures.pac_bayes_sigma!;
    const comps = r.components as Record<string, any>;
    const outcomes = [...results].flatMap(([s, os]) => os.map((o) => ({ sigma: s, ...o })));
    t.diagnostic(`σ = ${sigma} after ${comps.pac_bayes_sigma_steps} steps, drop ${comps.pac_bayes_sigma_drop}; float64 bisection: ${outcomes.map((o) => `σ = ${o.sigma} after ${o.steps} steps, drop ${o.drop} ± ${o.tol}`).join(' or ')}`);
    const want = outcomes.find((o) => o.sigma === sigma && o.steps === comps.pac_bayes_sigma_steps);
    assert.ok(want, `pac_bayes_sigma ${sigma} after ${comps.pac_bayes_sigma_steps} steps is not an outcome of the float64 bisection`);
    assert.ok(sigma > 0, 'a σ > 0 was expected');
    assert.ok(Math.abs(comps.pac_bayes_sigma_drop - want.drop) <= want.tol + 1e-12, `drop at σ = ${sigma}: ${comps.pac_bayes_sigma_drop} vs float64 ${want.drop}`);
    close('flatness', r.measures.flatness, 1 / sigma ** 2, 1e-15);
  };

  test(`${label}: pac_bayes_sigma and flatness equal the σ bisection (on [0, 2], 15 steps, drop 0.1 ± 0.01) run on float64 errors`, async (t) => {
    const { r } = await get();
    await checkSigma(t, r, { max: 2, steps: 15, drop: 0.1, tol: 0.01 });
  });

  test(`${label}: pac_bayes_sigma with other settings (on [0, 1], 9 steps, drop 0.0503 ± 1e-4, which no drop hits: all steps run) equals the float64 bisection`, async (t) => {
    const { c } = await get();
    // drops are multiples of 1/(K·m) (1/2400, 1/800): none lies within 0.0503 ± 1e-4, so the bisection runs to its end
    const set = { max: 1, steps: 9, drop: 0.0503, tol: 1e-4 };
    const r = await computeMeasures(c.net, c.data, {
      measures: ['pac_bayes_sigma', 'flatness'],
      samples: K,
      seed: c.options.seed,
      sigmaMax: set.max,
      sigmaSteps: set.steps,
      accuracyDrop: set.drop,
      accuracyTol: set.tol,
    });
    await checkSigma(t, r, set);
  });

  test(`${label}: pac_bayes_mag_flatness equals the α′ bisection (on [0, 2], 15 steps, drop 0.1 ± 0.01) run on float64 errors of ν ~ N(0, α′²w² + ε²)`, async (t) => {
    const { c, r, zs } = await get();
    const results = sigmaReference(c, zs, errorCount(c.net, params64(c.net), c.data), { max: 2, steps: 15, drop: 0.1, tol: 0.01 }, perturbMag);
    const comps = r.components as Record<string, any>;
    const alpha = comps.pac_bayes_mag_alpha as number;
    const outcomes = [...results].flatMap(([s, os]) => os.map((o) => ({ alpha: s, ...o })));
    t.diagnostic(`α′ = ${alpha} after ${comps.pac_bayes_mag_steps} steps, drop ${comps.pac_bayes_mag_drop}; float64 bisection: ${outcomes.map((o) => `α′ = ${o.alpha} after ${o.steps} steps, drop ${o.drop} ± ${o.tol}`).join(' or ')}`);
    const want = outcomes.find((o) => o.alpha === alpha && o.steps === comps.pac_bayes_mag_steps);
    assert.ok(want, `α′ ${alpha} after ${comps.pac_bayes_mag_steps} steps is not an outcome of the float64 bisection`);
    assert.ok(alpha > 0, 'an α′ > 0 was expected');
    assert.ok(Math.abs(comps.pac_bayes_mag_drop - want.drop) <= want.tol + 1e-12, `drop at α′ = ${alpha}: ${comps.pac_bayes_mag_drop} vs float64 ${want.drop}`);
    close('pac_bayes_mag_flatness', r.measures.pac_bayes_mag_flatness, 1 / alpha ** 2, 1e-15);
  });

  test(`${label}: sharpness_mag_flatness is 1/α′² of its components (its reference is in magflatness.test.ts)`, async (t) => {
    const { r } = await get();
    const comps = r.components as Record<string, any>;
    const alpha = comps.sharpness_mag_alpha as number;
    t.diagnostic(`worst-case α′ = ${alpha} after ${comps.sharpness_mag_steps} steps, drop ${comps.sharpness_mag_drop}; average-case α′ = ${comps.pac_bayes_mag_alpha}`);
    assert.ok(alpha > 0 && comps.sharpness_mag_drop <= 0.1 + 0.01);
    close('sharpness_mag_flatness', r.measures.sharpness_mag_flatness, 1 / alpha ** 2, 1e-15);
  });

  test(`${label}: dist_from_init and bartlett_spectral match float64 (unrolled, augmented W − W⁰)`, async () => {
    const { r, n } = await get();
    const comps = r.components as Record<string, any>;
    closeAll('‖W_i − W⁰_i‖_F', comps.dist_from_init_layers, n.distLayers, NORM_TOL);
    close('dist_from_init', r.measures.dist_from_init, Math.sqrt(n.distLayers.reduce((s, v) => s + v * v, 0)), NORM_TOL);
    close('param_dist_from_init', comps.param_dist_from_init, n.paramDist, NORM_TOL);
    closeAll('‖(W_i − W⁰_i)ᵀ‖_{2,1}', comps.bartlett_l21_norms, n.l21, NORM_TOL);
    close('bartlett_spectral·γ²', r.measures.bartlett_spectral! * r.measures.margin! ** 2, n.numerators.bartlett_spectral, NORM_TOL);
    close('bartlett_spectral', r.measures.bartlett_spectral, n.numerators.bartlett_spectral / n.gamma ** 2, NORMALISED_TOL);
  });
}
