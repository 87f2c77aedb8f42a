import test from 'node:test';
import assert from 'node:assert/strict';
import type { ConvLayer, DenseLayer } from '../../src/models/network.js';
import { frobeniusNorm, groupNorm } from '../../src/measures/norms.js';
import { unitNorms } from '../../src/measures/linear.js';
import { randomArray } from '../helpers.js';
import { augmented, frobenius } from './reference.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

// W (paper orientation, rows = units) = [[3, 4], [1, -1], [0, 2]]
const W = { rows: 3, cols: 2, data: [3, 4, 1, -1, 0, 2] };

test('group norm ℓ_{p,q} hand cases on a plain matrix', () => {
  close(groupNorm(W, 2, 2), Math.sqrt(9 + 16 + 1 + 1 + 4)); // Frobenius
  close(groupNorm(W, 1, Infinity), 7); // max over units of the ℓ1 norm of incoming weights
  close(groupNorm(W, 2, 1), 5 + Math.SQRT2 + 2); // Σ over units of ℓ2
  close(groupNorm(W, Infinity, 1), 4 + 1 + 2);
  close(groupNorm(W, 1, 1), 7 + 2 + 2);
  close(groupNorm(W, Infinity, Infinity), 4);
  close(groupNorm(W, 1, 2), Math.sqrt(49 + 4 + 4));
  close(groupNorm(W, 3, 3), Math.cbrt(27 + 64 + 1 + 1 + 8));
  // scaling: large entries and large p, q do not overflow
  const big = { rows: 2, cols: 2, data: [1e200, 1e200, 0, 1e200] };
  close(groupNorm(big, 2, 2), Math.sqrt(3) * 1e200, 1e-12);
  close(groupNorm(big, 50, 50), 1e200 * 3 ** (1 / 50), 1e-12); // units: 1e200·2^(1/50) and 1e200
  assert.throws(() => groupNorm(W, 0.5, 2));
});

test('group norm of a dense layer = that of its paper matrix (transpose of the kernel), bias as one more incoming weight', () => {
  // kernel [in=2, out=3] = Wᵀ
  const l: DenseLayer = { kind: 'dense', inSize: 2, outSize: 3, kernel: Float32Array.from([3, 1, 0, 4, -1, 2]), bias: null };
  for (const [p, q] of [
    [2, 2],
    [1, Infinity],
    [2, 1],
    [Infinity, 1],
  ])
    close(groupNorm(l, p, q), groupNorm(W, p, q));
  const lb: DenseLayer = { ...l, bias: Float32Array.from([-12, 0, 0]) };
  close(groupNorm(lb, 1, Infinity), 19); // unit 0: 3 + 4 + 12
  close(groupNorm(lb, 2, 1), 13 + Math.SQRT2 + 2);
});

function conv(inShape: [number, number, number], outShape: [number, number, number], k: [number, number], strides: [number, number], padding: 'same' | 'valid', bias: boolean, seed: number): ConvLayer {
  return {
    kind: 'conv2d',
    inShape,
    outShape,
    kernelSize: k,
    strides,
    padding,
    kernel: randomArray(k[0] * k[1] * inShape[2] * outShape[2], seed),
    bias: bias ? randomArray(outShape[2], seed + 3) : null,
  };
}

test('conv layers: per-unit norms are the row norms of the unrolled operator (border units have fewer taps)', () => {
  for (const l of [conv([4, 5, 2], [4, 5, 3], [3, 3], [1, 1], 'same', true, 1), conv([5, 5, 1], [3, 3, 2], [3, 3], [2, 2], 'same', false, 2), conv([5, 4, 2], [4, 2, 2], [2, 3], [1, 1], 'valid', true, 3)]) {
    const M = augmented(l);
    for (const p of [1, 2, 3, Infinity]) {
      const got = unitNorms(l, p);
      assert.equal(got.length, M.length);
      M.forEach((row, u) => {
        const ref = p === Infinity ? Math.max(...row.map(Math.abs)) : row.reduce((s, v) => s + Math.abs(v) ** p, 0) ** (1 / p);
        close(got[u], ref, 1e-12);
      });
    }
    close(frobeniusNorm(l), frobenius(M), 1e-12);
  }
});

test('a 3x3 same conv on a 3x3 one-channel input: corner units see 4 taps, edges 6, the centre 9 (hand case)', () => {
  const l: ConvLayer = {
    kind: 'conv2d',
    inShape: [3, 3, 1],
    outShape: [3, 3, 1],
    kernelSize: [3, 3],
    strides: [1, 1],
    padding: 'same',
    kernel: new Float32Array(9).fill(1),
    bias: null,
  };
  assert.deepEqual(Array.from(unitNorms(l, 1)), [4, 6, 4, 6, 9, 6, 4, 6, 4]);
  close(frobeniusNorm(l), Math.sqrt(4 * 4 + 4 * 6 + 9));
  close(groupNorm(l, 1, Infinity), 9);
});
