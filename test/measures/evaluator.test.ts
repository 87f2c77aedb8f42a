import test from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import * as tf from '@tensorflow/tfjs';
import { createEvaluator, LocalEvaluator } from '../../src/measures/evaluator.js';
import { computeMeasures } from '../../src/measures/index.js';
import { parameterArrays } from '../../src/models/network.js';
import { assertClose, randomArray } from '../helpers.js';
import { trainedMnist } from './fixtures.js';
import { convNetA, mlp } from './nets.js';

test('worker threads give the same error counts as in-process evaluation, and the same loss and gradient', async () => {
  await initBackend('wasm');
  const { net, data } = trainedMnist();
  const full = { x: data.x, y: data.y, n: data.n };
  const sharp = { x: data.x.slice(0, 300 * 784), y: data.y.slice(0, 300), n: 300 };
  const local = await createEvaluator(net, full, sharp, 9, 1);
  const pool = await createEvaluator(net, full, sharp, 9, 2);
  try {
    assert.equal(local.workers, 1);
    assert.equal(pool.workers, 2);
    for (const noise of [null, { kind: 'paper', alpha: 0.03, sample: 0 }, { kind: 'paper', alpha: 0.03, sample: 3 }, { kind: 'iso', sigma: 0.05, sample: 1 }] as const) {
      const a = await local.error(noise);
      const b = await pool.error(noise);
      assert.equal(a, b, `error at ${JSON.stringify(noise)}`);
    }
    // batched requests (shared first-layer work, cached or not) give the same errors as single ones
    const batch = [null, { kind: 'paper', alpha: 0.01, sample: 2 }, { kind: 'paper', alpha: 0.1, sample: 2 }, { kind: 'paper', alpha: 0.1, sample: 0 }] as const;
    const singles = [];
    for (const n of batch) singles.push(await local.error(n));
    assert.deepEqual(await local.errors([...batch], false), singles);
    assert.deepEqual(await pool.errors([...batch], true), singles);
    assert.deepEqual(await pool.errors([...batch], true), singles);
    const iso = [0, 1, 2].map((k) => ({ kind: 'iso', sigma: 0.08, sample: k }) as const);
    const isoSingles = [];
    for (const n of iso) isoSingles.push(await local.error(n));
    assert.deepEqual(await local.errors(iso, true), isoSingles);
    assert.deepEqual(await local.errors(iso, true), isoSingles);
    // different samples are different perturbations
    assert.notEqual(await local.error({ kind: 'paper', alpha: 0.05, sample: 0 }), await local.error({ kind: 'paper', alpha: 0.05, sample: 1 }));
    const nu = net.layers.flatMap((l) => (l.kind === 'dense' ? [new Float32Array(l.kernel.length).fill(1e-3)] : []));
    const la = await local.lossGrad(nu, true);
    const lb = await pool.lossGrad(nu, true);
    assert.ok(Math.abs(la.loss - lb.loss) < 1e-5 * Math.max(1, la.loss));
    la.grads!.forEach((g, j) => {
      let num = 0;
      let den = 0;
      for (let i = 0; i < g.length; i++) {
        num = Math.max(num, Math.abs(g[i] - lb.grads![j][i]));
        den = Math.max(den, Math.abs(g[i]));
      }
      assert.ok(num <= 1e-4 * den, `gradient ${j}: ${num} vs scale ${den}`);
    });
  } finally {
    await local.close();
    await pool.close();
  }
});

test('the first-layer shortcut and the kernel-only first-layer gradient change nothing (conv net with biases, dense net)', async () => {
  await initBackend('cpu');
  for (const net of [convNetA(true), mlp([6, 5, 4], true, 3)]) {
    const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
    const n = 30;
    const set = { x: randomArray(n * size, 5, 1), y: Int32Array.from({ length: n }, (_, i) => i % net.numClasses), n };
    const fast = new LocalEvaluator(net, set, set, 3);
    const plain = new LocalEvaluator(net, set, set, 3, { split: false });
    const noises = [null, { kind: 'paper', alpha: 0.05, sample: 0 }, { kind: 'paper', alpha: 0.3, sample: 1 }, { kind: 'iso', sigma: 0.2, sample: 2 }] as const;
    assert.deepEqual(fast.errorCounts([...noises], true), plain.errorCounts([...noises], false));
    const nu = parameterArrays(net).map((a, j) => randomArray(a.length, 90 + j, 0.01));
    const a = fast.lossGradSum(nu, true);
    const b = plain.lossGradSum(nu, true);
    assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-4 * Math.abs(b.lossSum));
    a.grads!.forEach((g, j) => assertClose(g, b.grads![j], 1e-4, `gradient ${j}`));
    fast.dispose();
    plain.dispose();
  }
});

test('computing every measure leaves no tensor behind (a long sweep does not grow)', async () => {
  await initBackend('wasm');
  const { net, data } = trainedMnist();
  const before = tf.memory().numTensors;
  await computeMeasures(net, data, { samples: 2, sharpnessSteps: 2, sigmaSteps: 3 });
  assert.equal(tf.memory().numTensors, before);
});
