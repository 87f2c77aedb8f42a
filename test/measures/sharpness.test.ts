import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { tfCpu } from '../tfcpu.js';
import { Network, cloneNetwork, parameterArrays } from '../../src/models/network.js';
import type { Evaluator } from '../../src/measures/evaluator.js';
import { sharpness } from '../../src/measures/sharpness.js';
import { computeMeasures } from '../../src/measures/index.js';
import { randomArray } from '../helpers.js';
import { trainedMnist } from './fixtures.js';
import { forward64, marginAndLoss } from './reference.js';

/** A fake evaluator whose "loss" is a given function of ν with a given gradient. */
function fakeEvaluator(loss: (nu: Float32Array[] | null) => number, grad: (nu: Float32Array[]) => Float32Array[]): Evaluator {
  return {
    nFull: 1,
    nSharp: 1,
    async lossGrad(nu, wantGrad) {
      return { loss: loss(nu), grads: wantGrad && nu ? grad(nu) : null };
    },
    async error() {
      return 0;
    },
    async errors(noises) {
      return noises.map(() => 0);
    },
    async close() {},
  };
}

const weights = [Float32Array.from([0.5, -2, 0, 1]), Float32Array.from([3, -0.25])];
const alpha = 0.01;
const radius = weights.map((w) => Array.from(w, (v) => alpha * (Math.abs(v) + 1)));

test('a linear loss: sharpness finds the maximising corner of the box exactly', async () => {
  const c = [Float32Array.from([1, -2, 0.5, 3]), Float32Array.from([-1, 4])];
  const L0 = 0.3;
  const ev = fakeEvaluator(
    (nu) => L0 + (nu ? nu.reduce((s, v, j) => s + v.reduce((t, x, i) => t + x * c[j][i], 0), 0) : 0),
    () => c.map((a) => a.slice()),
  );
  const r = await sharpness(ev, weights, { alpha, steps: 5, seed: 1 });
  const corner = c.reduce((s, cj, j) => s + cj.reduce((t, x, i) => t + Math.abs(x) * radius[j][i], 0), 0);
  assert.ok(Math.abs(r.value - corner / (1 + L0)) < 1e-6, `${r.value} vs ${corner / (1 + L0)}`);
});

test('a concave loss with its maximum inside the box: the ascent gets within 1% of it and never above', async () => {
  const target = radius.map((r, j) => Float32Array.from(r, (v, i) => v * (0.6 - 0.3 * ((i + j) % 3))));
  const loss = (nu: Float32Array[] | null) => 1 - 0.5 * target.reduce((s, t, j) => s + t.reduce((u, x, i) => u + ((nu ? nu[j][i] : 0) - x) ** 2, 0), 0);
  const ev = fakeEvaluator(loss, (nu) => target.map((t, j) => Float32Array.from(t, (x, i) => x - nu[j][i])));
  const r = await sharpness(ev, weights, { alpha, steps: 20, seed: 3 });
  const best = (1 - loss(null)) / (1 + loss(null));
  assert.ok(r.value <= best + 1e-12 && r.value >= 0.99 * best, `${r.value} vs ${best}`);
});

/** Cross-entropy of a network over a data set, in float64 (reference forward). */
function loss64(net: Network, x: Float32Array, y: Int32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += marginAndLoss(forward64(net, x.subarray(i * 784, (i + 1) * 784)), y[i]).ce;
  return s / n;
}

test('trained net on MNIST digits: sharpness is never below the loss increase at random points inside the box, and grows with α', async () => {
  const { net, data } = await trainedMnist();
  const values: number[] = [];
  for (const a of [1e-4, 1e-3, 1e-2]) {
    const r = await computeMeasures(net, data, { measures: ['sharpness'], alpha: a, seed: 2 });
    values.push(r.measures.sharpness!);
    assert.equal((r.components as any).sharpness_points, data.n);
    assert.ok(r.notes.some((n) => n.includes(`on all ${data.n} points (the whole set measured)`)));
  }
  assert.ok(values[0] > 0 && values[0] < values[1] && values[1] < values[2], `sharpness over α = 1e-4, 1e-3, 1e-2: ${values}`);
  // random points of the α = 1e-2 box, losses in float64
  const base = loss64(net, data.x, data.y, data.n);
  for (let t = 0; t < 3; t++) {
    const p = cloneNetwork(net);
    parameterArrays(p).forEach((w, j) => {
      const u = randomArray(w.length, 1000 + 10 * t + j, 1);
      for (let i = 0; i < w.length; i++) w[i] += u[i] * 1e-2 * (Math.abs(w[i]) + 1);
    });
    const inc = (loss64(p, data.x, data.y, data.n) - base) / (1 + base);
    assert.ok(values[2] >= inc, `sharpness ${values[2]} < increase at a random point ${inc}`);
  }
});

test('sharpness on a seeded subset when the training set is larger than sharpnessPoints (the notes say so)', async () => {
  const { net, data } = await trainedMnist();
  const r = await computeMeasures(net, data, { measures: ['sharpness'], sharpnessPoints: 100, sharpnessSteps: 3 });
  assert.equal((r.components as any).sharpness_points, 100);
  assert.ok(r.notes.some((n) => n.includes(`fixed seeded subset of 100 of the ${data.n} points`)), r.notes.join('\n'));
  assert.ok(r.measures.sharpness! > 0);
});

test('trained net, small α: sharpness ≈ the first-order prediction Σ|∂L/∂w_i|·α(|w_i|+1)/(1+L), gradient by plain TF.js autodiff', async () => {
  await tfCpu();
  const { net, data } = await trainedMnist();
  const [k1, k2] = parameterArrays(net); // mlp:16 without biases: x·K1 → relu → ·K2
  const { loss, g } = tf.tidy(() => {
    const x = tf.tensor2d(data.x, [data.n, 784]);
    const oh = tf.oneHot(tf.tensor1d(data.y, 'int32'), 10);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const logits = tf.matMul(tf.relu(tf.matMul(x, a as tf.Tensor2D)), b as tf.Tensor2D);
      return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oh), 1))) as tf.Scalar;
    };
    const r = tf.valueAndGrads(f)([tf.tensor2d(k1, [784, 16]), tf.tensor2d(k2, [16, 10])]);
    return { loss: r.value.dataSync()[0], g: r.grads.map((t) => t.dataSync() as Float32Array) };
  });
  const a = 1e-5;
  let pred = 0;
  [k1, k2].forEach((w, j) => w.forEach((v, i) => (pred += Math.abs(g[j][i]) * a * (Math.abs(v) + 1))));
  pred /= 1 + loss;
  const r = await computeMeasures(net, data, { measures: ['sharpness'], alpha: a });
  const got = r.measures.sharpness!;
  assert.ok(got > 0.9 * pred && got < 1.1 * pred, `sharpness ${got} vs first-order prediction ${pred}`);
});
