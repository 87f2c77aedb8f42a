import test from 'node:test';
import assert from 'node:assert/strict';
import type { ConvLayer, DenseLayer } from '../../src/models/network.js';
import { layerSpectralNorm, largestEigenvalue, operatorNorm, tridiagonalEigen } from '../../src/measures/spectral.js';
import { denseMatrix, layerOperator } from '../../src/measures/linear.js';
import { randomArray } from '../helpers.js';
import { augmented, jacobiEigenvalues, largestSingularValue, matmul, transpose, type Mat } from './reference.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

function dense(inSize: number, outSize: number, bias: boolean, seed: number): DenseLayer {
  return { kind: 'dense', inSize, outSize, kernel: randomArray(inSize * outSize, seed), bias: bias ? randomArray(outSize, seed + 1) : null };
}

function conv(inShape: [number, number, number], cout: number, k: [number, number], strides: [number, number], padding: 'same' | 'valid', bias: boolean, seed: number): ConvLayer {
  const oh = padding === 'same' ? Math.ceil(inShape[0] / strides[0]) : Math.floor((inShape[0] - k[0]) / strides[0]) + 1;
  const ow = padding === 'same' ? Math.ceil(inShape[1] / strides[1]) : Math.floor((inShape[1] - k[1]) / strides[1]) + 1;
  return {
    kind: 'conv2d',
    inShape,
    outShape: [oh, ow, cout],
    kernelSize: k,
    strides,
    padding,
    kernel: randomArray(k[0] * k[1] * inShape[2] * cout, seed),
    bias: bias ? randomArray(cout, seed + 1) : null,
  };
}

test('dense layers: ‖W‖₂ equals the largest singular value from a Jacobi eigen-decomposition (with and without bias, wide and tall)', () => {
  for (const [i, o, b] of [
    [7, 5, false],
    [7, 5, true],
    [4, 30, true],
    [40, 3, false],
    [1, 1, false],
  ] as [number, number, boolean][]) {
    const l = dense(i, o, b, i * 31 + o);
    const ref = largestSingularValue(augmented(l));
    const got = layerSpectralNorm(l);
    assert.ok(got.converged);
    assert.ok(rel(got.value, ref) < 1e-9, `${i}→${o} bias=${b}: ${got.value} vs ${ref}`);
  }
});

test('conv layers: ‖W‖₂ equals the largest singular value of the explicitly unrolled operator', () => {
  const cases: ConvLayer[] = [
    conv([5, 5, 2], 3, [3, 3], [1, 1], 'same', true, 3),
    conv([6, 5, 2], 2, [3, 3], [2, 2], 'same', false, 5),
    conv([6, 6, 1], 2, [2, 3], [2, 1], 'valid', true, 7),
    conv([4, 4, 3], 4, [1, 1], [1, 1], 'valid', false, 9),
  ];
  for (const l of cases) {
    const M = augmented(l);
    const ref = largestSingularValue(M);
    const got = layerSpectralNorm(l);
    assert.ok(got.converged);
    assert.ok(rel(got.value, ref) < 1e-8, `conv ${l.inShape}→${l.outShape}: ${got.value} vs ${ref}`);
  }
});

test('a near-degenerate top singular value (gap 1e-7) is still found to 1e-10 (where power iteration would stall)', () => {
  // W = Q1 diag(s) Q2ᵀ with random orthogonal Q1 (12×12), Q2 (9×9)
  const orth = (n: number, seed: number): Mat => {
    const a = randomArray(n * n, seed);
    const Q: Mat = [];
    for (let i = 0; i < n; i++) {
      const v = Array.from(a.subarray(i * n, (i + 1) * n), Number);
      for (const q of Q) {
        const c = q.reduce((s, x, k) => s + x * v[k], 0);
        for (let k = 0; k < n; k++) v[k] -= c * q[k];
      }
      const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      Q.push(v.map((x) => x / nv));
    }
    return Q;
  };
  const s = [3, 3 - 1e-7, 2.9, 1, 0.5, 0.2, 0.1, 0.05, 0.01];
  const Q1 = orth(12, 1);
  const Q2 = orth(9, 2);
  const S: Mat = Q1.map((_, r) => s.map((v, c) => (r === c ? v : 0)));
  const W = matmul(matmul(transpose(Q1), S), Q2); // 12×9, singular values s
  const kernel = new Float64Array(9 * 12);
  for (let o = 0; o < 12; o++) for (let i = 0; i < 9; i++) kernel[i * 12 + o] = W[o][i];
  const l: DenseLayer = { kind: 'dense', inSize: 9, outSize: 12, kernel: new Float32Array(0), bias: null };
  const got = operatorNorm(layerOperator(l, { kernel, bias: null }));
  assert.ok(rel(got.value, 3) < 1e-10, `${got.value}`);
});

test('tridiagonalEigen agrees with Jacobi on a random tridiagonal matrix', () => {
  const n = 12;
  const d = Array.from(randomArray(n, 41), Number);
  const e = Array.from(randomArray(n - 1, 43), Number);
  const T: Mat = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? d[i] : i === j + 1 ? e[j] : j === i + 1 ? e[i] : 0)));
  const ref = jacobiEigenvalues(T).sort((a, b) => a - b);
  const { values, vectors } = tridiagonalEigen(d, e);
  const got = Array.from(values).sort((a, b) => a - b);
  got.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-12, `${v} vs ${ref[i]}`));
  // T v = λ v for every eigenpair
  for (let c = 0; c < n; c++) {
    for (let r = 0; r < n; r++) {
      const tv = T[r].reduce((s, x, k) => s + x * vectors[k][c], 0);
      assert.ok(Math.abs(tv - values[c] * vectors[r][c]) < 1e-12);
    }
  }
});

test('largestEigenvalue handles the zero operator and a rank-one operator', () => {
  assert.equal(largestEigenvalue((v) => new Float64Array(v.length), 5).value, 0);
  const u = Float64Array.from([1, 2, 3, 4]);
  const r = largestEigenvalue((v) => {
    const c = u.reduce((s, x, i) => s + x * v[i], 0);
    return u.map((x) => x * c);
  }, 4);
  assert.ok(rel(r.value, 30) < 1e-12);
});

test('denseMatrix is the transpose of the TF.js kernel (paper orientation), bias as the last column', () => {
  const l: DenseLayer = { kind: 'dense', inSize: 2, outSize: 3, kernel: Float32Array.from([1, 2, 3, 4, 5, 6]), bias: Float32Array.from([7, 8, 9]) };
  const m = denseMatrix(l);
  assert.deepEqual([m.rows, m.cols], [3, 3]);
  assert.deepEqual(Array.from(m.data), [1, 4, 7, 2, 5, 8, 3, 6, 9]);
});
