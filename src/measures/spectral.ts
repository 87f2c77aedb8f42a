/**
 * Spectral norms ‖W_i‖_2 and the `spectral` measure.
 *
 *   spectral = (1/γ²) ∏_i h_i ‖W_i‖_2²          (Neyshabur et al. 2017, section 2.2; Bartlett et al. 2017)
 *
 * ‖W‖_2 is the largest singular value: √λ_max(WᵀW) (or of WWᵀ, whichever is smaller), found by Lanczos
 * iteration in float64 with full reorthogonalisation, using only products with the operator and its
 * transpose. A dense layer uses its matrix; a convolution the operator it is on its input shape (docs/definitions.md).
 * The iteration stops when the Ritz residual ‖WᵀW v − θ v‖ ≤ 1e-10·θ, which bounds the relative error of
 * ‖W‖_2 far below a power-iteration rule (< 1e-6 relative change) and, unlike a change-based rule,
 * is not fooled by a small spectral gap. With a bias, the augmented [W_i | b_i] is used (docs/definitions.md).
 */
import type { WeightLayer } from '../models/network.js';
import { weightLayers } from '../models/network.js';
import { LinearOperator, Vec, Weights, layerOperator, unitsOf } from './linear.js';
import { SPECTRAL_NORMS } from './components.js';
import { defineMeasure, defineQuantity } from './define.js';
import { fromLog10, gamma, withPositiveMargin } from './margin.js';

/**
 * Eigenvalues and eigenvectors of a symmetric tridiagonal matrix (diagonal d, off-diagonal e[i] = T[i+1][i]),
 * by the implicit QL algorithm (tql2 of EISPACK, after JAMA). Returns the eigenvalues (unsorted) and Z with
 * Z[r][c] = component r of eigenvector c.
 */
export function tridiagonalEigen(diag: ArrayLike<number>, off: ArrayLike<number>): { values: Float64Array; vectors: Float64Array[] } {
  const n = diag.length;
  const d = Float64Array.from(diag);
  const e = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) e[i] = off[i];
  const V: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    V.push(new Float64Array(n));
    V[i][i] = 1;
  }
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m === n) m = n - 1;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 200) throw new Error('tridiagonalEigen: no convergence');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            h = V[k][i + 1];
            V[k][i + 1] = s * V[k][i] + c * h;
            V[k][i] = c * V[k][i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] = d[l] + f;
    e[l] = 0;
  }
  return { values: d, vectors: V };
}

function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** A seeded start vector (a tiny LCG: the result must not depend on the global random state). */
function startVector(n: number, seed: number): Vec {
  const v = new Float64Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 4294967296 - 0.5;
  }
  return v;
}

export interface EigenOptions {
  /** Stop when the Ritz residual ≤ tol·θ (default 1e-10). */
  tol?: number;
  /** Lanczos steps before a restart from the current Ritz vector (default 80). */
  maxSteps?: number;
  /** Cap on operator applications (default 3000). */
  maxMatvecs?: number;
  seed?: number;
}

export interface EigenResult {
  value: number;
  converged: boolean;
  matvecs: number;
}

/** The largest eigenvalue of a symmetric positive semi-definite operator of dimension n, by Lanczos. */
export function largestEigenvalue(apply: (v: Vec) => Vec, n: number, opts: EigenOptions = {}): EigenResult {
  const tol = opts.tol ?? 1e-10;
  const maxSteps = Math.min(n, opts.maxSteps ?? 80);
  const maxMatvecs = opts.maxMatvecs ?? 3000;
  let v = startVector(n, opts.seed ?? 1);
  let matvecs = 0;
  let best = 0;
  for (;;) {
    const nv = Math.sqrt(dot(v, v));
    if (nv === 0) return { value: best, converged: true, matvecs };
    for (let i = 0; i < n; i++) v[i] /= nv;
    const basis: Vec[] = [v];
    const alphas: number[] = [];
    const betas: number[] = [];
    let ritz = v;
    for (let j = 0; j < maxSteps; j++) {
      const w = apply(basis[j]);
      matvecs++;
      const a = dot(w, basis[j]);
      alphas.push(a);
      // full reorthogonalisation (twice is enough: "twice is enough", Kahan/Parlett)
      for (let pass = 0; pass < 2; pass++) {
        for (const q of basis) {
          const c = dot(w, q);
          for (let i = 0; i < n; i++) w[i] -= c * q[i];
        }
      }
      const b = Math.sqrt(dot(w, w));
      const { values, vectors } = tridiagonalEigen(alphas, betas);
      let idx = 0;
      for (let i = 1; i < values.length; i++) if (values[i] > values[idx]) idx = i;
      const theta = values[idx];
      best = Math.max(best, theta);
      const last = vectors[j][idx];
      const residual = b * Math.abs(last);
      const scale = Math.max(Math.abs(theta), 1e-300);
      const breakdown = b <= 1e-14 * Math.max(scale, Math.abs(a));
      if (residual <= tol * scale || breakdown || j === n - 1 || theta === 0) {
        return { value: theta, converged: true, matvecs };
      }
      if (matvecs >= maxMatvecs) return { value: theta, converged: false, matvecs };
      if (j === maxSteps - 1) {
        // restart from the Ritz vector
        ritz = new Float64Array(n);
        for (let r = 0; r <= j; r++) {
          const s = vectors[r][idx];
          const q = basis[r];
          for (let i = 0; i < n; i++) ritz[i] += s * q[i];
        }
        break;
      }
      betas.push(b);
      for (let i = 0; i < n; i++) w[i] /= b;
      basis.push(w);
    }
    v = ritz;
  }
}

/** ‖A‖_2 of a linear operator: √λ_max of AᵀA or AAᵀ (the smaller one). */
export function operatorNorm(op: LinearOperator, opts: EigenOptions = {}): EigenResult {
  const useGramOfRows = op.outDim < op.inDim;
  const n = useGramOfRows ? op.outDim : op.inDim;
  const apply = useGramOfRows ? (y: Vec) => op.apply(op.applyT(y)) : (x: Vec) => op.applyT(op.apply(x));
  const r = largestEigenvalue(apply, n, opts);
  return { value: Math.sqrt(Math.max(0, r.value)), converged: r.converged, matvecs: r.matvecs };
}

/** ‖W_i‖_2 of a weight layer ([W_i | b_i] when it has a bias); `w` replaces its numbers. */
export function layerSpectralNorm(l: WeightLayer, w?: Weights, opts: EigenOptions = {}): EigenResult {
  return operatorNorm(layerOperator(l, w), opts);
}

/** ‖W_i‖_2 of every weight layer (a note for a layer where Lanczos did not converge). */
export const spectralNorms = defineQuantity({
  name: 'spectral_norms',
  summary: '‖W_i‖₂ of every weight layer (Lanczos)',
  needs: ['weights'],
  components: [SPECTRAL_NORMS],
  compute(ctx) {
    const norms = weightLayers(ctx.net).map((l, i) => {
      const r = layerSpectralNorm(l);
      if (!r.converged) ctx.note(`spectral norm of weight layer ${i + 1}: Lanczos stopped after ${r.matvecs} products before reaching 1e-10 relative accuracy`);
      return r.value;
    });
    ctx.set(SPECTRAL_NORMS, norms);
    return norms;
  },
});

export const measures = [
  defineMeasure({
    name: 'spectral',
    summary: '(1/γ²) ∏ h_i ‖W_i‖₂²',
    reads: [spectralNorms, gamma],
    async compute(ctx) {
      const norms = await ctx.read(spectralNorms);
      const widths = weightLayers(ctx.net).map(unitsOf);
      return withPositiveMargin(await ctx.read(gamma), (g) => {
        let log = -2 * Math.log10(g);
        norms.forEach((s, i) => (log += Math.log10(widths[i]) + 2 * Math.log10(s)));
        return fromLog10('spectral', log);
      });
    },
  }),
];
