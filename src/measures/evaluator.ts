/**
 * The data-heavy part of the measures: the training loss (and its gradient) at perturbed weights w + ν, and
 * the 0/1 training error at w plus a seeded Gaussian perturbation. Sharpness, expected sharpness and
 * pac_bayes_sigma use nothing else. The work runs in ONNX Runtime programs (engine/programs.ts), with the
 * process's intra-op threads.
 *
 * Perturbations: sample k is z_k ~ N(0, I) over all parameters (in the order of parameterArrays), drawn
 * from Rng(deriveSeed(seed, 'perturbation:k')), and the perturbed weights are w + s ⊙ z_k with
 * s_i = α(10|w_i| + 1) (the paper's choice), s_i = σ (isotropic) or s_i = √(α²w_i² + ε²), ε = MAG_EPSILON
 * (magnitude-aware, Jiang et al. 2020: kind 'mag'). The same z_k serve every α and σ (common random
 * numbers), so curves over α and the σ and α′ bisections are not made noisy by resampling.
 */
import { FirstLayerSplit, ShiftedPoint, firstLayerNetwork, logits, lossGrad, shiftedLogits, splitAfterFirstLayer } from '../engine/programs.js';
import { Network, parameterArrays } from '../models/network.js';
import { Rng, deriveSeed } from '../util/random.js';
import { subsetIndices, take } from '../data/transforms.js';
import { defineQuantity } from './define.js';

export interface EvalSet {
  /** Flat inputs, n examples one after the other. */
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export type NoiseSpec =
  | { kind: 'paper'; alpha: number; sample: number }
  | { kind: 'iso'; sigma: number; sample: number }
  /** magnitude-aware: s_i = √(α²w_i² + ε²), ε = MAG_EPSILON; not linear in α, so always the full forward */
  | { kind: 'mag'; alpha: number; sample: number };

/** ε of the magnitude-aware perturbation ν_i ~ N(0, α²w_i² + ε²) (Jiang et al. 2020). */
export const MAG_EPSILON = 1e-3;

export interface Evaluator {
  /** Rows of the full training set (expected sharpness, pac_bayes_sigma) and of the sharpness subset. */
  readonly nFull: number;
  readonly nSharp: number;
  /** Mean cross-entropy over the sharpness subset at w + ν (ν null: at w), and its gradient if asked. */
  lossGrad(nu: Float32Array[] | null, wantGrad: boolean): Promise<{ loss: number; grads: Float32Array[] | null }>;
  /** 0/1 error over the full training set at w (noise null) or at a seeded perturbation. */
  error(noise: NoiseSpec | null): Promise<number>;
  /**
   * error() of several perturbations in one request (those sharing a sample share work); `cache` keeps
   * per-sample work for later requests (the σ bisection revisits the same samples).
   */
  errors(noises: (NoiseSpec | null)[], cache: boolean): Promise<number[]>;
  /**
   * 0/1 error over the full training set at w + ν for an explicit perturbation ν (one array per parameter
   * array, parameterArrays order), by the full forward (sharpness_mag_flatness). Optional so that test
   * doubles of the other measures need not provide it; the evaluator of createEvaluator has it.
   */
  errorAt?(nu: Float32Array[]): Promise<number>;
  close(): Promise<void>;
}

/** Seeded standard normals z_k, one array per parameter array. */
export function perturbationSample(shapes: ArrayLike<number>[] | Float32Array[], seed: number, k: number): Float32Array[] {
  const rng = new Rng(deriveSeed(seed, `perturbation:${k}`));
  return shapes.map((a) => rng.fillNormal(new Float32Array(a.length)));
}

/** The perturbation scale s_i of a noise spec for weight w_i. */
export function noiseScale(noise: NoiseSpec, w: number): number {
  if (noise.kind === 'mag') return Math.sqrt(noise.alpha * noise.alpha * w * w + MAG_EPSILON * MAG_EPSILON);
  return noise.kind === 'paper' ? noise.alpha * (10 * Math.abs(w) + 1) : noise.sigma;
}

/** Floats of first-layer outputs an evaluator may keep: the base output and K perturbation terms. */
const CACHE_BUDGET = 6e7;
/** The first-layer shortcut is used when one first-layer output over the whole data set fits this. */
const SHORTCUT_LIMIT = 2e7;

/**
 * The 0/1 errors use that the first layer is linear in its weights: with perturbed weights W + s⊙z_k
 * (s = α(10|W|+1) or σ),
 *     layer₁(x; W + scale·t⊙z_k) = layer₁(x; W) + scale·layer₁(x; t⊙z_k),   t = 10|W|+1 or 1,
 * so the costly product layer₁(x; t⊙z_k) is computed once per sample k and reused for every α (or σ); only
 * the layers after the first are recomputed. (Bias perturbations are added exactly.) This is exact
 * arithmetic up to float32 rounding, and is used when one first-layer output over the data fits in memory.
 * The magnitude-aware noise ('mag', s_i = √(α²w_i² + ε²)) is not a multiple of one basis t⊙z_k, so its
 * requests always take the full forward (the other requests of the same call still use the shortcut).
 */
export class LocalEvaluator {
  private readonly base: Float32Array[];
  private readonly samples = new Map<number, Float32Array[]>();
  private readonly sampleLimit: number;
  private readonly split: FirstLayerSplit | null;
  private readonly shortcut: boolean;
  private baseFirst: Float32Array | null = null;
  private readonly pcache = new Map<string, Float32Array>();
  private cachedFloats = 0;

  constructor(
    private readonly net: Network,
    private readonly full: EvalSet,
    private readonly sharp: EvalSet,
    private readonly seed: number,
    /** For tests: turn off the first-layer shortcut. */
    opts: { split?: boolean } = {},
  ) {
    this.base = parameterArrays(net);
    const count = this.base.reduce((s, a) => s + a.length, 0);
    this.sampleLimit = Math.floor(3e7 / Math.max(1, count)); // keep at most ~120 MB of samples z_k
    this.split = opts.split === false ? null : splitAfterFirstLayer(net);
    this.shortcut = this.split !== null && full.n * this.split.units <= SHORTCUT_LIMIT;
  }

  private sample(k: number): Float32Array[] {
    let z = this.samples.get(k);
    if (!z) {
      z = perturbationSample(this.base, this.seed, k);
      if (this.samples.size < this.sampleLimit) this.samples.set(k, z);
    }
    return z;
  }

  /** w + s ⊙ z_k for the parameter arrays from index `from` on (the others are returned unperturbed). */
  perturbed(noise: NoiseSpec, from = 0): Float32Array[] {
    return this.perturbedWith(noise, this.sample(noise.sample), from);
  }

  private perturbedWith(noise: NoiseSpec, z: Float32Array[], from: number): Float32Array[] {
    return this.base.map((w, j) => {
      if (j < from) return w;
      const out = new Float32Array(w.length);
      const zj = z[j];
      if (noise.kind === 'paper') for (let i = 0; i < w.length; i++) out[i] = w[i] + noise.alpha * (10 * Math.abs(w[i]) + 1) * zj[i];
      else if (noise.kind === 'mag') {
        const a2 = noise.alpha * noise.alpha;
        const e2 = MAG_EPSILON * MAG_EPSILON;
        for (let i = 0; i < w.length; i++) out[i] = w[i] + Math.sqrt(a2 * w[i] * w[i] + e2) * zj[i];
      } else for (let i = 0; i < w.length; i++) out[i] = w[i] + noise.sigma * zj[i];
      return out;
    });
  }

  /** The first weight layer (without bias) with kernel `kernel` over the full set: [n, units]. */
  private firstLayer(kernel: Float32Array): Promise<Float32Array> {
    return logits(firstLayerNetwork(this.net, this.split!), [kernel], this.full.x, 0, this.full.n);
  }

  /** The first layer's perturbation basis t ⊙ z_k (t = 10|W₁|+1 for 'paper', 1 for 'iso'). */
  private basis(kind: NoiseSpec['kind'], z: Float32Array): Float32Array {
    if (kind === 'mag') throw new Error('internal: the magnitude-aware noise has no first-layer basis');
    if (kind === 'iso') return z;
    const w = this.base[0];
    const t = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) t[i] = (10 * Math.abs(w[i]) + 1) * z[i];
    return t;
  }

  /** A cached layer₁(x; t ⊙ z_k), or, when `cache` is asked and room allows, that product computed and kept. */
  private async cachedPerturbation(kind: NoiseSpec['kind'], k: number, z: Float32Array, cache: boolean): Promise<Float32Array | null> {
    const key = `${kind}:${k}`;
    const hit = this.pcache.get(key);
    if (hit) return hit;
    // one kind at a time: drop the other kind's cached terms
    for (const [kk, a] of this.pcache) {
      if (!kk.startsWith(`${kind}:`)) {
        this.cachedFloats -= a.length;
        this.pcache.delete(kk);
      }
    }
    const size = this.full.n * this.split!.units;
    if (!cache || this.cachedFloats + size > CACHE_BUDGET) return null;
    const out = await this.firstLayer(this.basis(kind, z));
    this.pcache.set(key, out);
    this.cachedFloats += out.length;
    return out;
  }

  private countWrong(logits: Float32Array, s: number, e: number): number {
    const c = this.net.numClasses;
    let wrong = 0;
    for (let i = s; i < e; i++) {
      const off = (i - s) * c;
      const y = this.full.y[i];
      const fy = logits[off + y];
      let ok = fy === fy; // NaN logits are errors
      for (let j = 0; j < c && ok; j++) if (j !== y && !(logits[off + j] < fy)) ok = false;
      if (!ok) wrong++;
    }
    return wrong;
  }

  /** Number of misclassified rows of the full set (ties count as errors) at w or a perturbation of it. */
  async errorCount(noise: NoiseSpec | null): Promise<number> {
    return (await this.errorCounts([noise], false))[0];
  }

  /**
   * errorCount for several perturbations at once: those sharing a sample z_k share its first-layer term.
   * `cache` keeps the terms for later calls (the σ bisection), as far as the memory budget allows.
   */
  async errorCounts(noises: (NoiseSpec | null)[], cache: boolean): Promise<number[]> {
    const out: number[] = [];
    if (!this.shortcut) {
      for (const noise of noises) out.push(await this.fullCount(noise ? this.perturbed(noise) : this.base));
      return out;
    }
    if (noises.some((n) => n?.kind === 'mag')) {
      // per-noise fallback: the 'mag' requests by the full forward, the others by the shortcut below
      const linear = noises.flatMap((n, i) => (n?.kind === 'mag' ? [] : [i]));
      const shortcutCounts = linear.length > 0 ? await this.errorCounts(linear.map((i) => noises[i]), cache) : [];
      const counts: number[] = new Array(noises.length).fill(0);
      linear.forEach((i, a) => (counts[i] = shortcutCounts[a]));
      for (const [i, n] of noises.entries()) if (n?.kind === 'mag') counts[i] = await this.fullCount(this.perturbed(n));
      return counts;
    }
    const split = this.split!;
    this.baseFirst ??= await this.firstLayer(this.base[0]);
    const n = this.full.n;
    const c = this.net.numClasses;
    const counts: number[] = new Array(noises.length).fill(0);
    // group the requests by perturbation sample: one runtime call per group (the first-layer product of the
    // sample is made once, inside the runtime or taken from the cache, and shared by the group's scales)
    const groups = new Map<string, number[]>();
    noises.forEach((noise, i) => {
      const key = noise ? `${noise.kind}:${noise.sample}` : 'base';
      const list = groups.get(key);
      if (list) list.push(i);
      else groups.set(key, [i]);
    });
    for (const [key, members] of groups) {
      const first = noises[members[0]];
      const z = first ? this.sample(first.sample) : null;
      const points: ShiftedPoint[] = members.map((i) => {
        const noise = noises[i];
        const arrays = noise ? this.perturbedWith(noise, z!, 1) : this.base;
        return {
          scale: noise ? (noise.kind === 'iso' ? noise.sigma : noise.alpha) : 0,
          bias: split.nFirst === 2 ? arrays[1] : null,
          rest: arrays.slice(split.nFirst),
        };
      });
      let source: { basis: Float32Array } | { pert: Float32Array };
      if (key === 'base') source = { pert: this.baseFirst };
      else {
        const cached = await this.cachedPerturbation(first!.kind, first!.sample, z![0], cache);
        source = cached ? { pert: cached } : { basis: this.basis(first!.kind, z![0]) };
      }
      const z3 = await shiftedLogits(this.net, split, this.full.x, n, this.baseFirst, source, points);
      members.forEach((i, a) => (counts[i] = this.countWrong(z3.subarray(a * n * c, (a + 1) * n * c), 0, n)));
    }
    return counts;
  }

  /** Misclassified rows of the full set at the given parameter arrays, by the full forward. */
  private async fullCount(arrays: Float32Array[]): Promise<number> {
    const z = await logits(this.net, arrays, this.full.x, 0, this.full.n);
    return this.countWrong(z, 0, this.full.n);
  }

  /** Misclassified rows of the full set at w + ν (explicit ν, parameterArrays order), by the full forward. */
  async errorCountAt(nu: Float32Array[]): Promise<number> {
    return this.fullCount(this.shifted(nu));
  }

  /** w + ν. */
  private shifted(nu: Float32Array[]): Float32Array[] {
    return this.base.map((w, j) => {
      const out = new Float32Array(w.length);
      const v = nu[j];
      for (let i = 0; i < w.length; i++) out[i] = w[i] + v[i];
      return out;
    });
  }

  /** Σ cross-entropy over the sharpness rows at w + ν, and its gradient (summed, not averaged). */
  async lossGradSum(nu: Float32Array[] | null, wantGrad: boolean): Promise<{ lossSum: number; grads: Float32Array[] | null }> {
    const arrays = nu ? this.shifted(nu) : this.base;
    const r = await lossGrad(this.net, arrays, this.sharp.x, this.sharp.y, this.sharp.n, wantGrad);
    return { lossSum: r.lossSum, grads: r.grads };
  }

  /** Free the cached arrays. */
  dispose(): void {
    this.baseFirst = null;
    this.pcache.clear();
    this.cachedFloats = 0;
  }
}

class InProcessEvaluator implements Evaluator {
  private readonly local: LocalEvaluator;
  constructor(net: Network, readonly full: EvalSet, readonly sharp: EvalSet, seed: number) {
    this.local = new LocalEvaluator(net, full, sharp, seed);
  }
  get nFull() {
    return this.full.n;
  }
  get nSharp() {
    return this.sharp.n;
  }
  async lossGrad(nu: Float32Array[] | null, wantGrad: boolean) {
    const r = await this.local.lossGradSum(nu, wantGrad);
    const n = Math.max(1, this.sharp.n);
    if (r.grads) for (const g of r.grads) for (let i = 0; i < g.length; i++) g[i] /= n;
    return { loss: r.lossSum / n, grads: r.grads };
  }
  async error(noise: NoiseSpec | null) {
    return (await this.errors([noise], false))[0];
  }
  async errors(noises: (NoiseSpec | null)[], cache: boolean) {
    return (await this.local.errorCounts(noises, cache)).map((c) => c / Math.max(1, this.full.n));
  }
  async errorAt(nu: Float32Array[]) {
    return (await this.local.errorCountAt(nu)) / Math.max(1, this.full.n);
  }
  async close() {
    this.local.dispose();
  }
}

/** The evaluator of a network on its training rows (full) and the sharpness subset (sharp). */
export async function createEvaluator(net: Network, full: EvalSet, sharp: EvalSet, seed: number): Promise<Evaluator> {
  return new InProcessEvaluator(net, full, sharp, seed);
}

/**
 * The evaluator of the data-heavy measures, as a shared quantity: the training set (and the seeded subset
 * of at most sharpnessPoints points that sharpness uses), closed at the end of computeMeasures.
 */
export const evaluator = defineQuantity({
  name: 'evaluator',
  summary: 'the perturbation evaluator on the training set and on the sharpness points',
  options: ['sharpnessPoints', 'seed'],
  needs: ['weights', 'data'],
  compute(ctx): Promise<Evaluator> {
    const d = ctx.data!;
    const { sharpnessPoints, seed } = ctx.options;
    const full = { x: d.x, y: d.y, n: d.n };
    const sharp = d.n <= sharpnessPoints ? full : (() => {
      const s = take(d, subsetIndices(d.n, sharpnessPoints, seed, 'sharpness points'));
      return { x: s.x, y: s.y, n: s.n };
    })();
    return createEvaluator(ctx.net, full, sharp, seed);
  },
  dispose: (ev) => ev.close(),
});
