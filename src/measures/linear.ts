/**
 * The weight layers of a Network as the paper's matrices W_i (h_i × h_{i-1}), in float64.
 *
 * - A dense layer's W_i is the TRANSPOSE of its TF.js kernel [in, out]: row j of W_i holds the incoming
 *   weights of output unit j.
 * - A convolution is the linear operator it is on its actual input shape (docs/definitions.md): its units are the
 *   outH·outW·cout outputs, and the incoming weights of unit (y, x, o) are the kernel taps of filter o
 *   that fall inside the input at that position (at a 'same'-padded border fewer taps do). Nothing is
 *   unrolled in memory: apply / applyT are direct float64 loops.
 * - A bias is the weight from an always-on input unit (docs/definitions.md): the augmented matrix [W_i | b_i]. For a
 *   convolution every output unit (y, x, o) gets the incoming bias weight b[o].
 * - Pooling layers are fixed linear maps for the path sums: average pooling is exact (weight 1/count of the
 *   window's valid inputs, TF's 'same' rule), max pooling is counted as the sum over its window (weight 1),
 *   an upper bound.
 */
import { convPadding } from '../models/geometry.js';
import type { ConvLayer, DenseLayer, PoolLayer, WeightLayer } from '../models/network.js';

export type Vec = Float64Array;

/** A linear map R^inDim → R^outDim with its transpose, in float64. */
export interface LinearOperator {
  inDim: number;
  outDim: number;
  apply(x: Vec): Vec;
  applyT(y: Vec): Vec;
}

/** The numbers of a weight layer: kernel in the TF.js layout, optional bias (any numeric arrays). */
export interface Weights {
  kernel: ArrayLike<number>;
  bias: ArrayLike<number> | null;
}

/** A plain matrix in the paper's orientation: `rows` units, each row a unit's incoming weights (row-major). */
export interface Matrix {
  rows: number;
  cols: number;
  data: ArrayLike<number>;
}

export function isMatrix(x: unknown): x is Matrix {
  return typeof x === 'object' && x !== null && 'rows' in x && 'cols' in x && 'data' in x;
}

/** Geometry of a convolution or pooling window on its input. */
export interface WindowGeometry {
  h: number;
  w: number;
  cin: number;
  oh: number;
  ow: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** padding before the first row / column */
  pt: number;
  pl: number;
}

export function windowGeometry(l: ConvLayer | PoolLayer): WindowGeometry {
  const [h, w, cin] = l.inShape;
  const [kh, kw] = l.kind === 'conv2d' ? l.kernelSize : l.poolSize;
  const [sh, sw] = l.strides;
  const ph = convPadding(h, kh, sh, l.padding);
  const pw = convPadding(w, kw, sw, l.padding);
  return { h, w, cin, oh: ph.out, ow: pw.out, cout: l.outShape[2], kh, kw, sh, sw, pt: ph.before, pl: pw.before };
}

/** Input size (h_{i-1}, without the bias unit) of a weight layer. */
export function unitsIn(l: WeightLayer): number {
  return l.kind === 'dense' ? l.inSize : l.inShape[0] * l.inShape[1] * l.inShape[2];
}

/** Number of output units (h_i) of a weight layer. */
export function unitsOf(l: WeightLayer): number {
  return l.kind === 'dense' ? l.outSize : l.outShape[0] * l.outShape[1] * l.outShape[2];
}

export function toFloat64(a: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

/** Elementwise |a|^p as float64 (p = 1: |a|; p = 2: a²). */
export function absPow(a: ArrayLike<number>, p: number): Float64Array {
  const out = new Float64Array(a.length);
  if (p === 1) for (let i = 0; i < a.length; i++) out[i] = Math.abs(a[i]);
  else if (p === 2) for (let i = 0; i < a.length; i++) out[i] = a[i] * a[i];
  else for (let i = 0; i < a.length; i++) out[i] = Math.abs(a[i]) ** p;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Dense and convolution products in float64

/** y = Wx for a dense kernel K [in, out] (W = Kᵀ). */
export function denseApply(k: ArrayLike<number>, inSize: number, outSize: number, x: Vec): Vec {
  const y = new Float64Array(outSize);
  for (let i = 0; i < inSize; i++) {
    const xv = x[i];
    if (xv === 0) continue;
    const off = i * outSize;
    for (let o = 0; o < outSize; o++) y[o] += xv * k[off + o];
  }
  return y;
}

/** x = Wᵀy for a dense kernel K [in, out]. */
export function denseApplyT(k: ArrayLike<number>, inSize: number, outSize: number, y: Vec): Vec {
  const x = new Float64Array(inSize);
  for (let i = 0; i < inSize; i++) {
    const off = i * outSize;
    let s = 0;
    for (let o = 0; o < outSize; o++) s += k[off + o] * y[o];
    x[i] = s;
  }
  return x;
}

/** y = conv(x) (NHWC, no bias) for a kernel [kh, kw, cin, cout]. */
export function convApply(g: WindowGeometry, k: ArrayLike<number>, x: Vec): Vec {
  const { h, w, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl } = g;
  const y = new Float64Array(oh * ow * cout);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const yoff = (oy * ow + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh + ky - pt;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw + kx - pl;
          if (ix < 0 || ix >= w) continue;
          const xoff = (iy * w + ix) * cin;
          const koff = (ky * kw + kx) * cin * cout;
          for (let c = 0; c < cin; c++) {
            const xv = x[xoff + c];
            if (xv === 0) continue;
            const kb = koff + c * cout;
            for (let o = 0; o < cout; o++) y[yoff + o] += xv * k[kb + o];
          }
        }
      }
    }
  }
  return y;
}

/** x = convᵀ(y): the transpose of convApply. */
export function convApplyT(g: WindowGeometry, k: ArrayLike<number>, y: Vec): Vec {
  const { h, w, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl } = g;
  const x = new Float64Array(h * w * cin);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const yoff = (oy * ow + ox) * cout;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh + ky - pt;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw + kx - pl;
          if (ix < 0 || ix >= w) continue;
          const xoff = (iy * w + ix) * cin;
          const koff = (ky * kw + kx) * cin * cout;
          for (let c = 0; c < cin; c++) {
            const kb = koff + c * cout;
            let s = 0;
            for (let o = 0; o < cout; o++) s += k[kb + o] * y[yoff + o];
            x[xoff + c] += s;
          }
        }
      }
    }
  }
  return x;
}

/**
 * A pooling layer as the linear map used by the path sums: each output is Σ_window coef·x over the
 * window's valid (unpadded) inputs, coef = 1 for max pooling (sum over the window, an upper bound) and
 * 1/count for average pooling (exact; TF's average pooling does not count padding). `p` raises coef to
 * the p-th power, as the path sums do for every weight.
 */
export function poolPathApply(l: PoolLayer, x: Vec, p: number): Vec {
  const g = windowGeometry(l);
  const { h, w, cin, oh, ow, kh, kw, sh, sw, pt, pl } = g;
  const y = new Float64Array(oh * ow * cin);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      let count = 0;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh + ky - pt;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw + kx - pl;
          if (ix >= 0 && ix < w) count++;
        }
      }
      const coef = l.kind === 'maxpool' ? 1 : (1 / count) ** p;
      const yoff = (oy * ow + ox) * cin;
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh + ky - pt;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw + kx - pl;
          if (ix < 0 || ix >= w) continue;
          const xoff = (iy * w + ix) * cin;
          for (let c = 0; c < cin; c++) y[yoff + c] += coef * x[xoff + c];
        }
      }
    }
  }
  return y;
}

/**
 * An upper bound on the ℓ2 Lipschitz constant of a pooling layer: max pooling √(largest number of windows
 * an input lies in) (1 for non-overlapping windows); average pooling √(max row sum · max column sum) of
 * its (non-negative) matrix (Schur test; ≤ 1 for non-overlapping windows).
 */
export function poolLipschitzBound(l: PoolLayer): number {
  const g = windowGeometry(l);
  const { h, w, oh, ow, kh, kw, sh, sw, pt, pl } = g;
  const cover = new Float64Array(h * w);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const cells: number[] = [];
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh + ky - pt;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw + kx - pl;
          if (ix >= 0 && ix < w) cells.push(iy * w + ix);
        }
      }
      const wgt = l.kind === 'maxpool' ? 1 : 1 / cells.length;
      for (const c of cells) cover[c] += wgt;
    }
  }
  let maxCover = 0;
  for (let i = 0; i < cover.length; i++) maxCover = Math.max(maxCover, cover[i]);
  return Math.sqrt(maxCover); // row sums are 1 for average pooling
}

// ---------------------------------------------------------------------------------------------
// Layers as operators

function weightsOf(l: WeightLayer, w?: Weights): Weights {
  return w ?? { kernel: l.kernel, bias: l.bias };
}

/** The bias as a vector over the layer's output units (tiled over positions for a convolution). */
export function biasVector(l: WeightLayer, bias: ArrayLike<number>): Vec {
  if (l.kind === 'dense') return toFloat64(bias);
  const units = unitsOf(l);
  const cout = l.outShape[2];
  const out = new Float64Array(units);
  for (let u = 0; u < units; u++) out[u] = bias[u % cout];
  return out;
}

/**
 * The layer as a linear operator W_i (or [W_i | b_i], whose last input is the always-on unit, when the
 * layer has a bias and `withBias`). `w` replaces the layer's own numbers (e.g. W − W⁰).
 */
export function layerOperator(l: WeightLayer, w?: Weights, withBias = true): LinearOperator {
  const { kernel, bias } = weightsOf(l, w);
  const k = toFloat64(kernel);
  const nIn = unitsIn(l);
  const nOut = unitsOf(l);
  let apply: (x: Vec) => Vec;
  let applyT: (y: Vec) => Vec;
  if (l.kind === 'dense') {
    apply = (x) => denseApply(k, l.inSize, l.outSize, x);
    applyT = (y) => denseApplyT(k, l.inSize, l.outSize, y);
  } else {
    const g = windowGeometry(l);
    apply = (x) => convApply(g, k, x);
    applyT = (y) => convApplyT(g, k, y);
  }
  if (!bias || !withBias) return { inDim: nIn, outDim: nOut, apply, applyT };
  const b = biasVector(l, bias);
  return {
    inDim: nIn + 1,
    outDim: nOut,
    apply: (x) => {
      const y = apply(x.subarray(0, nIn) as Vec);
      const t = x[nIn];
      if (t !== 0) for (let u = 0; u < nOut; u++) y[u] += t * b[u];
      return y;
    },
    applyT: (y) => {
      const x = new Float64Array(nIn + 1);
      x.set(applyT(y));
      let s = 0;
      for (let u = 0; u < nOut; u++) s += b[u] * y[u];
      x[nIn] = s;
      return x;
    },
  };
}

/**
 * Per-unit ℓ_p norms of the incoming weights (bias included as one more incoming weight), p ∈ [1, ∞].
 * Entry u is ‖row u of [W_i | b_i]‖_p; for a convolution the rows are the output positions × channels
 * (NHWC order) and only the taps inside the input count.
 */
export function unitNorms(l: WeightLayer, p: number, w?: Weights): Float64Array {
  if (!(p >= 1)) throw new RangeError(`unitNorms: p must be ≥ 1 (got ${p})`);
  const { kernel, bias } = weightsOf(l, w);
  const inf = p === Infinity;
  const nOut = unitsOf(l);
  const acc = new Float64Array(nOut);
  const term = (v: number) => (inf ? Math.abs(v) : p === 1 ? Math.abs(v) : p === 2 ? v * v : Math.abs(v) ** p);
  const combine = inf ? Math.max : (a: number, b: number) => a + b;
  if (l.kind === 'dense') {
    const out = l.outSize;
    for (let i = 0; i < l.inSize; i++) {
      const off = i * out;
      for (let o = 0; o < out; o++) acc[o] = combine(acc[o], term(kernel[off + o]));
    }
    if (bias) for (let o = 0; o < out; o++) acc[o] = combine(acc[o], term(bias[o]));
  } else {
    const g = windowGeometry(l);
    const { h, w: width, cin, oh, ow, cout, kh, kw, sh, sw, pt, pl } = g;
    // per-tap, per-filter summary over input channels
    const tap = new Float64Array(kh * kw * cout);
    for (let t = 0; t < kh * kw; t++) {
      for (let c = 0; c < cin; c++) {
        const kb = (t * cin + c) * cout;
        for (let o = 0; o < cout; o++) tap[t * cout + o] = combine(tap[t * cout + o], term(kernel[kb + o]));
      }
    }
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const uoff = (oy * ow + ox) * cout;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - pt;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx - pl;
            if (ix < 0 || ix >= width) continue;
            const t = ky * kw + kx;
            for (let o = 0; o < cout; o++) acc[uoff + o] = combine(acc[uoff + o], tap[t * cout + o]);
          }
        }
        if (bias) for (let o = 0; o < cout; o++) acc[uoff + o] = combine(acc[uoff + o], term(bias[o]));
      }
    }
  }
  if (!inf && p !== 1) for (let u = 0; u < nOut; u++) acc[u] = acc[u] ** (1 / p);
  return acc;
}

/** Per-row ℓ_p norms of a plain matrix (rows = units). */
export function matrixRowNorms(m: Matrix, p: number): Float64Array {
  if (!(p >= 1)) throw new RangeError(`matrixRowNorms: p must be ≥ 1 (got ${p})`);
  const out = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let scale = 0;
    for (let c = 0; c < m.cols; c++) scale = Math.max(scale, Math.abs(m.data[r * m.cols + c]));
    if (p === Infinity || scale === 0) {
      out[r] = scale;
      continue;
    }
    let s = 0;
    for (let c = 0; c < m.cols; c++) s += (Math.abs(m.data[r * m.cols + c]) / scale) ** p;
    out[r] = scale * s ** (1 / p);
  }
  return out;
}

/** ‖v‖_q, computed with scaling so that large q or large entries do not overflow. */
export function vectorNorm(v: ArrayLike<number>, q: number): number {
  if (!(q >= 1)) throw new RangeError(`vectorNorm: q must be ≥ 1 (got ${q})`);
  let scale = 0;
  for (let i = 0; i < v.length; i++) scale = Math.max(scale, Math.abs(v[i]));
  if (q === Infinity || scale === 0) return scale;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (Math.abs(v[i]) / scale) ** q;
  return scale * s ** (1 / q);
}

/** The paper's W_i (h_i × h_{i-1}, row = unit) of a dense layer, optionally augmented with the bias column. */
export function denseMatrix(l: DenseLayer, w?: Weights, withBias = true): Matrix {
  const { kernel, bias } = weightsOf(l, w);
  const cols = l.inSize + (bias && withBias ? 1 : 0);
  const data = new Float64Array(l.outSize * cols);
  for (let i = 0; i < l.inSize; i++) for (let o = 0; o < l.outSize; o++) data[o * cols + i] = kernel[i * l.outSize + o];
  if (bias && withBias) for (let o = 0; o < l.outSize; o++) data[o * cols + l.inSize] = bias[o];
  return { rows: l.outSize, cols, data };
}

/** W − W⁰ of two layers of the same architecture (weights only, as a Weights object). */
export function weightDifference(l: WeightLayer, l0: WeightLayer): Weights {
  const kernel = new Float64Array(l.kernel.length);
  for (let i = 0; i < kernel.length; i++) kernel[i] = l.kernel[i] - l0.kernel[i];
  let bias: Float64Array | null = null;
  if (l.bias) {
    bias = new Float64Array(l.bias.length);
    for (let i = 0; i < bias.length; i++) bias[i] = l.bias[i] - (l0.bias ? l0.bias[i] : 0);
  }
  return { kernel, bias };
}
