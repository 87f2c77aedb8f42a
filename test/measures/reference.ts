/**
 * Independent float64 reference computations for the measure tests. Nothing here imports src/measures:
 * layers are unrolled into explicit dense matrices, paths are enumerated one by one, eigenvalues come from
 * the cyclic Jacobi method, and the forward pass is plain loops.
 */
import type { Layer, Network, PoolLayer, WeightLayer } from '../../src/models/network.js';

export type Mat = number[][]; // rows × cols

/** TF 'same' / 'valid' output size and padding before, re-derived here. */
function pad(inSize: number, k: number, s: number, padding: 'same' | 'valid'): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((inSize - k) / s) + 1, before: 0 };
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + k - inSize, 0);
  return { out, before: Math.floor(total / 2) };
}

/** NHWC flat index. */
const idx = (y: number, x: number, c: number, w: number, ch: number) => (y * w + x) * ch + c;

/** The paper's W_i of a weight layer as an explicit matrix (rows = output units), without the bias. */
export function unrollWeights(l: WeightLayer, kernel: ArrayLike<number> = l.kernel): Mat {
  if (l.kind === 'dense') {
    const W: Mat = [];
    for (let o = 0; o < l.outSize; o++) {
      const row: number[] = [];
      for (let i = 0; i < l.inSize; i++) row.push(kernel[i * l.outSize + o]);
      W.push(row);
    }
    return W;
  }
  const [h, w, cin] = l.inShape;
  const [kh, kw] = l.kernelSize;
  const cout = l.outShape[2];
  const py = pad(h, kh, l.strides[0], l.padding);
  const px = pad(w, kw, l.strides[1], l.padding);
  const rows = py.out * px.out * cout;
  const W: Mat = Array.from({ length: rows }, () => new Array(h * w * cin).fill(0));
  for (let oy = 0; oy < py.out; oy++)
    for (let ox = 0; ox < px.out; ox++)
      for (let o = 0; o < cout; o++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * l.strides[0] + ky - py.before;
            const ix = ox * l.strides[1] + kx - px.before;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let c = 0; c < cin; c++) W[idx(oy, ox, o, px.out, cout)][idx(iy, ix, c, w, cin)] = kernel[((ky * kw + kx) * cin + c) * cout + o];
          }
  return W;
}

/** The bias over output units (tiled over positions for a conv), or null. */
export function unrollBias(l: WeightLayer, bias: ArrayLike<number> | null = l.bias): number[] | null {
  if (!bias) return null;
  if (l.kind === 'dense') return Array.from(bias);
  const n = l.outShape[0] * l.outShape[1] * l.outShape[2];
  return Array.from({ length: n }, (_, u) => bias[u % l.outShape[2]]);
}

/** [W | b] */
export function augmented(l: WeightLayer, kernel: ArrayLike<number> = l.kernel, bias: ArrayLike<number> | null = l.bias): Mat {
  const W = unrollWeights(l, kernel);
  const b = unrollBias(l, bias);
  return b ? W.map((row, u) => [...row, b[u]]) : W;
}

/** A pooling layer as a matrix with its path coefficients (max: 1, avg: 1/count of valid inputs). */
export function unrollPool(l: PoolLayer): Mat {
  const [h, w, c] = l.inShape;
  const [kh, kw] = l.poolSize;
  const py = pad(h, kh, l.strides[0], l.padding);
  const px = pad(w, kw, l.strides[1], l.padding);
  const M: Mat = Array.from({ length: py.out * px.out * c }, () => new Array(h * w * c).fill(0));
  for (let oy = 0; oy < py.out; oy++)
    for (let ox = 0; ox < px.out; ox++) {
      const cells: [number, number][] = [];
      for (let ky = 0; ky < kh; ky++)
        for (let kx = 0; kx < kw; kx++) {
          const iy = oy * l.strides[0] + ky - py.before;
          const ix = ox * l.strides[1] + kx - px.before;
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) cells.push([iy, ix]);
        }
      for (let ch = 0; ch < c; ch++)
        for (const [iy, ix] of cells) M[idx(oy, ox, ch, px.out, c)][idx(iy, ix, ch, w, c)] = l.kind === 'maxpool' ? 1 : 1 / cells.length;
    }
  return M;
}

/**
 * Σ over every path of ∏|w|^p, enumerating the paths one by one (depth-first), through the unrolled
 * layers; paths start at an input unit or at the bias (always-on unit) of any weight layer.
 */
export function enumeratePathSum(net: Network, p: number): { sum: number; paths: number } {
  const stages: { M: Mat; bias: number[] | null }[] = [];
  for (const l of net.layers) {
    if (l.kind === 'dense' || l.kind === 'conv2d') stages.push({ M: unrollWeights(l), bias: unrollBias(l) });
    else if (l.kind === 'maxpool' || l.kind === 'avgpool') stages.push({ M: unrollPool(l), bias: null });
  }
  // edges[s][j] = list of (unit u of stage s output, coefficient) for input unit j of stage s
  const edges = stages.map(({ M }) => {
    const cols = M[0].length;
    const out: [number, number][][] = Array.from({ length: cols }, () => []);
    M.forEach((row, u) => row.forEach((v, j) => v !== 0 && out[j].push([u, Math.abs(v) ** p])));
    return out;
  });
  let sum = 0;
  let paths = 0;
  const walk = (stage: number, unit: number, prod: number) => {
    if (stage === stages.length) {
      sum += prod;
      paths++;
      return;
    }
    for (const [u, c] of edges[stage][unit]) walk(stage + 1, u, prod * c);
  };
  const inputs = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  for (let j = 0; j < inputs; j++) walk(0, j, 1);
  stages.forEach(({ bias }, s) => {
    if (bias) bias.forEach((b, u) => walk(s + 1, u, Math.abs(b) ** p));
  });
  return { sum, paths };
}

export function transpose(A: Mat): Mat {
  return A[0].map((_, j) => A.map((row) => row[j]));
}

export function matmul(A: Mat, B: Mat): Mat {
  return A.map((row) => B[0].map((_, j) => row.reduce((s, v, k) => s + v * B[k][j], 0)));
}

/** All eigenvalues of a symmetric matrix by cyclic Jacobi rotations. */
export function jacobiEigenvalues(S: Mat): number[] {
  const n = S.length;
  const A = S.map((r) => r.slice());
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i][j] * A[i][j];
    if (off < 1e-30 * Math.max(1e-300, A.reduce((s, r, i) => s + r[i] * r[i], 0))) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        if (A[p][q] === 0) continue;
        const theta = (A[q][q] - A[p][p]) / (2 * A[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k][p];
          const akq = A[k][q];
          A[k][p] = c * akp - s * akq;
          A[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p][k];
          const aqk = A[q][k];
          A[p][k] = c * apk - s * aqk;
          A[q][k] = s * apk + c * aqk;
        }
      }
  }
  return A.map((r, i) => r[i]);
}

/** Largest singular value by Jacobi on the smaller Gram matrix. */
export function largestSingularValue(A: Mat): number {
  const G = A.length <= A[0].length ? matmul(A, transpose(A)) : matmul(transpose(A), A);
  return Math.sqrt(Math.max(...jacobiEigenvalues(G)));
}

export function frobenius(A: Mat): number {
  return Math.sqrt(A.reduce((s, r) => s + r.reduce((t, v) => t + v * v, 0), 0));
}

const unrolled = new WeakMap<object, { W: Mat; b: number[] | null }>();

/** Float64 forward pass with real ReLU and real max pooling, on one flat NHWC input. */
export function forward64(net: Network, x: ArrayLike<number>): number[] {
  let a = Array.from(x);
  for (const l of net.layers) {
    switch (l.kind) {
      case 'dense':
      case 'conv2d': {
        let u = unrolled.get(l.kernel);
        if (!u) unrolled.set(l.kernel, (u = { W: unrollWeights(l), b: unrollBias(l) }));
        const { W, b } = u;
        a = W.map((row, u) => row.reduce((s, v, j) => s + v * a[j], 0) + (b ? b[u] : 0));
        break;
      }
      case 'relu':
        a = a.map((v) => Math.max(0, v));
        break;
      case 'maxpool':
      case 'avgpool': {
        const M = unrollPool(l);
        a = M.map((row) => {
          if (l.kind === 'avgpool') return row.reduce((s, v, j) => s + v * a[j], 0);
          let m = -Infinity;
          row.forEach((v, j) => v !== 0 && (m = Math.max(m, a[j])));
          return m;
        });
        break;
      }
      case 'flatten':
        break;
    }
  }
  return a;
}

/** Float64 margin f(x)[y] − max_{j≠y} f(x)[j] and cross-entropy of one output. */
export function marginAndLoss(out: number[], y: number): { margin: number; ce: number } {
  const other = Math.max(...out.filter((_, j) => j !== y));
  const mx = Math.max(...out);
  const lse = mx + Math.log(out.reduce((s, v) => s + Math.exp(v - mx), 0));
  return { margin: out[y] - other, ce: lse - out[y] };
}

export type { Layer };
