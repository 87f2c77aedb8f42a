import test from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { conv2d, dense, Padding } from '../../src/engine/ops.js';
import { assertClose, randomArray } from '../helpers.js';

/** Gradient of sum(op(x, k) * r) w.r.t. x and k, computed on the current backend. */
function grads(op: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor, xs: tf.Tensor, ks: tf.Tensor, r: Float32Array) {
  return tf.tidy(() => {
    const g = tf.grads((x: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(op(x, k), tf.tensor(r, op(x, k).shape))));
    const [dx, dk] = g([xs, ks]);
    const y = op(xs, ks);
    return { y: y.dataSync().slice(), dx: dx.dataSync().slice(), dk: dk.dataSync().slice() };
  });
}

async function compare(
  name: string,
  custom: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor,
  reference: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor,
  xShape: number[],
  kShape: number[],
  outSize: number,
) {
  const xData = randomArray(xShape.reduce((a, b) => a * b), 7);
  const kData = randomArray(kShape.reduce((a, b) => a * b), 11);
  const r = randomArray(outSize, 13);
  await initBackend('cpu');
  const ref = grads(reference, tf.tensor(xData, xShape), tf.tensor(kData, kShape), r);
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const got = grads(custom, tf.tensor(xData, xShape), tf.tensor(kData, kShape), r);
    assertClose(got.y, ref.y, 1e-4, `${name} forward on ${backend}`);
    assertClose(got.dx, ref.dx, 1e-4, `${name} input gradient on ${backend}`);
    assertClose(got.dk, ref.dk, 1e-4, `${name} kernel gradient on ${backend}`);
  }
}

test('dense custom gradient matches cpu autodiff of matMul', async () => {
  await compare(
    'dense',
    (x, k) => dense(x as tf.Tensor2D, k as tf.Tensor2D),
    (x, k) => tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D),
    [5, 7],
    [7, 3],
    15,
  );
});

const convCases: { x: [number, number, number, number]; k: [number, number, number, number]; s: [number, number]; p: Padding }[] = [
  { x: [2, 6, 6, 3], k: [3, 3, 3, 4], s: [1, 1], p: 'same' },
  { x: [2, 6, 5, 2], k: [3, 3, 2, 3], s: [1, 1], p: 'valid' },
  { x: [1, 7, 7, 2], k: [3, 3, 2, 2], s: [2, 2], p: 'same' },
  { x: [1, 8, 7, 1], k: [2, 3, 1, 2], s: [2, 1], p: 'valid' },
  { x: [2, 5, 5, 2], k: [1, 1, 2, 3], s: [1, 1], p: 'same' },
];

for (const c of convCases) {
  test(`conv2d custom gradient matches cpu autodiff: x ${c.x} k ${c.k} strides ${c.s} ${c.p}`, async () => {
    await initBackend('cpu');
    const outShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.k) as tf.Tensor4D, c.s, c.p).shape);
    await compare(
      'conv2d',
      (x, k) => conv2d(x as tf.Tensor4D, k as tf.Tensor4D, c.s, c.p),
      (x, k) => tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, c.s, c.p),
      c.x,
      c.k,
      outShape.reduce((a, b) => a * b),
    );
  });
}

test('initBackend rejects an unknown backend name via parseBackend', async () => {
  const { parseBackend } = await import('../../src/engine/backend.js');
  assert.throws(() => parseBackend('gpu'), /--backend: unknown backend "gpu"/);
});

test('without the input gradient, the kernel gradient is unchanged and no input gradient is computed', async () => {
  await initBackend('wasm');
  const x = tf.tensor(randomArray(12, 3), [4, 3]) as tf.Tensor2D;
  const k = tf.tensor(randomArray(6, 5), [3, 2]) as tf.Tensor2D;
  const gWith = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(dense(a as tf.Tensor2D, b as tf.Tensor2D, true))))([x, k]);
  const gWithout = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(dense(a as tf.Tensor2D, b as tf.Tensor2D, false))))([x, k]);
  assert.deepEqual(Array.from(gWithout[1].dataSync()), Array.from(gWith[1].dataSync()));
  assert.ok(gWith[0].dataSync().some((v) => v !== 0));
  assert.ok(gWithout[0].dataSync().every((v) => v === 0));
});

test('fused dense+relu: same values and gradients as relu(matMul) under cpu autodiff', async () => {
  const { denseRelu } = await import('../../src/engine/ops.js');
  await compare(
    'denseRelu',
    (x, k) => denseRelu(x as tf.Tensor2D, k as tf.Tensor2D),
    (x, k) => tf.relu(tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D)),
    [6, 5],
    [5, 4],
    24,
  );
});

test('max-pool 2x2/2 custom gradient matches cpu autodiff of tf.maxPool (no ties)', async () => {
  const { maxPool } = await import('../../src/engine/ops.js');
  const xShape: [number, number, number, number] = [2, 6, 4, 3];
  const n = xShape.reduce((a, b) => a * b);
  // distinct values: no ties within a window
  const xData = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 1000 + i * 1e-3);
  const r = randomArray(2 * 3 * 2 * 3, 21);
  const grad = (op: (x: tf.Tensor4D) => tf.Tensor) =>
    tf.tidy(() => {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(op(x as tf.Tensor4D), tf.tensor(r, [2, 3, 2, 3]))));
      return g(tf.tensor(xData, xShape)).dataSync().slice();
    });
  await initBackend('cpu');
  const ref = grad((x) => tf.maxPool(x, 2, 2, 'valid'));
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    assertClose(grad((x) => maxPool(x, [2, 2], [2, 2], 'valid')), ref, 1e-6, `max-pool gradient on ${backend}`);
    const fwd = tf.tidy(() => maxPool(tf.tensor(xData, xShape) as tf.Tensor4D, [2, 2], [2, 2], 'valid').dataSync().slice());
    const fwdRef = tf.tidy(() => tf.maxPool(tf.tensor(xData, xShape) as tf.Tensor4D, 2, 2, 'valid').dataSync().slice());
    assert.deepEqual(Array.from(fwd), Array.from(fwdRef));
  }
});
