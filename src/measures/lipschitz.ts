/**
 * Size and Lipschitz capacities (paper section 2.2).
 *
 *   params                   = number of weights (biases included when present)
 *   vc_dim                   = d · params (the Õ(d·params) VC bound of Harvey et al. / Bartlett et al., without logs)
 *   lipschitz                = ∏_i ‖W_i‖_2, an upper bound on the ℓ2 Lipschitz constant of f_w
 *   lipschitz_capacity_log10 = n · log10(lipschitz · diam(X) / γ), n = input size
 *
 * ReLU is 1-Lipschitz. A pooling layer whose ℓ2 Lipschitz bound exceeds 1 (overlapping windows) multiplies
 * `lipschitz` by that bound so it stays an upper bound (non-overlapping pooling: factor 1, the plain product).
 * With biases the augmented ‖[W_i | b_i]‖_2 ≥ ‖W_i‖_2 is used (norms use the augmented matrix), still
 * an upper bound. diam(X) is estimated by farthest-point sweeps: from the first training input, jump to the
 * farthest input, and repeat (4 sweeps); the largest distance seen is a true pairwise distance (≥ half the
 * diameter, in practice nearly all of it) and is used; 2·(smallest radius seen) is an upper bound, reported
 * as components.diameter_upper.
 */
import { countParams, weightLayers } from '../models/network.js';
import { poolLipschitzBound } from './linear.js';
import { defineMeasure, defineQuantity } from './define.js';
import { gamma, withPositiveMargin } from './margin.js';
import { spectralNorms } from './spectral.js';

export interface DiameterEstimate {
  /** A true distance between two of the points (the estimate used). */
  lower: number;
  /** An upper bound on the diameter. */
  upper: number;
}

/** Farthest-point sweeps over n points of dimension `size` stored one after the other in x. */
export function diameterEstimate(x: ArrayLike<number>, n: number, size: number, sweeps = 4): DiameterEstimate {
  if (n < 2) return { lower: 0, upper: 0 };
  let from = 0;
  let lower = 0;
  let upper = Infinity;
  for (let s = 0; s < sweeps; s++) {
    let far = from;
    let farD = 0;
    const off = from * size;
    for (let j = 0; j < n; j++) {
      const jo = j * size;
      let d = 0;
      for (let t = 0; t < size; t++) {
        const v = x[jo + t] - x[off + t];
        d += v * v;
      }
      if (d > farD) {
        farD = d;
        far = j;
      }
    }
    const r = Math.sqrt(farD);
    lower = Math.max(lower, r);
    upper = Math.min(upper, 2 * r);
    if (far === from) break;
    from = far;
  }
  return { lower, upper };
}

/** log10 ∏‖W_i‖_2 · (pool factors > 1). */
export const logLipschitz = defineQuantity({
  name: 'log_lipschitz',
  summary: 'log10 ∏‖W_i‖₂ (× the ℓ2 bound of overlapping pooling)',
  reads: [spectralNorms],
  components: ['lipschitz_pool_factor'],
  async compute(ctx) {
    const norms = await ctx.read(spectralNorms);
    let log = 0;
    for (const s of norms) log += Math.log10(s);
    let poolFactor = 1;
    for (const l of ctx.net.layers) if (l.kind === 'maxpool' || l.kind === 'avgpool') poolFactor *= Math.max(1, poolLipschitzBound(l));
    if (poolFactor > 1) {
      ctx.note(`lipschitz includes a factor ${poolFactor.toPrecision(4)} for overlapping pooling windows (their ℓ2 Lipschitz bound exceeds 1)`);
      log += Math.log10(poolFactor);
    }
    ctx.set('lipschitz_pool_factor', poolFactor);
    return log;
  },
});

/** diam(X) of the training inputs, by farthest-point sweeps (see the file's comment). */
export const diameter = defineQuantity({
  name: 'diameter',
  summary: 'diam(X): the largest distance between training inputs, by 4 farthest-point sweeps',
  needs: ['data'],
  components: ['diameter', 'diameter_upper'],
  compute(ctx) {
    const data = ctx.data!;
    const d = diameterEstimate(data.x, data.n, data.shape[0] * data.shape[1] * data.shape[2]);
    ctx.set('diameter', d.lower);
    ctx.set('diameter_upper', d.upper);
    ctx.note(
      `lipschitz_capacity_log10: diam(X) estimated by 4 farthest-point sweeps over the training inputs: ${d.lower.toPrecision(5)} (a true pairwise distance; the diameter is at most ${d.upper.toPrecision(5)})`,
    );
    return d.lower;
  },
});

export const measures = [
  defineMeasure({
    name: 'params',
    summary: 'number of weights (biases included)',
    needs: ['weights'],
    compute: (ctx) => ({ value: countParams(ctx.net) }),
  }),
  defineMeasure({
    name: 'vc_dim',
    summary: 'd · params',
    needs: ['weights'],
    compute: (ctx) => ({ value: weightLayers(ctx.net).length * countParams(ctx.net) }),
  }),
  defineMeasure({
    name: 'lipschitz',
    summary: '∏ ‖W_i‖₂ (upper bound on the ℓ2 Lipschitz constant)',
    reads: [logLipschitz],
    async compute(ctx) {
      const log = await ctx.read(logLipschitz);
      const v = 10 ** log;
      return Number.isFinite(v)
        ? { value: v, log10: log }
        : { value: null, note: `lipschitz = 10^${log.toFixed(2)} is beyond the float64 range; its log10 is in components.log10.lipschitz`, log10: log };
    },
  }),
  defineMeasure({
    name: 'lipschitz_capacity_log10',
    summary: 'n · log10(lipschitz · diam(X) / γ)',
    reads: [diameter, logLipschitz, gamma],
    async compute(ctx) {
      const data = ctx.data!;
      const size = data.shape[0] * data.shape[1] * data.shape[2];
      const diam = await ctx.read(diameter);
      const log = await ctx.read(logLipschitz);
      return withPositiveMargin(await ctx.read(gamma), (g) => {
        if (!(diam > 0)) return { value: null, note: 'lipschitz_capacity_log10: all training inputs are equal (diam(X) = 0)' };
        return { value: size * (log + Math.log10(diam) - Math.log10(g)) };
      });
    },
  }),
];
