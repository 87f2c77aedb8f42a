import test from 'node:test';
import assert from 'node:assert/strict';
import { createEvaluator, LocalEvaluator } from '../../src/measures/evaluator.js';
import { parameterArrays } from '../../src/models/network.js';
import { assertClose, randomArray } from '../helpers.js';
import { trainedMnist } from './fixtures.js';
import { convNetA, mlp } from './nets.js';

test('batched error requests (shared first-layer work, cached or not) give the same errors as single ones; samples differ', async () => {
  const { net, data } = await trainedMnist();
  const full = { x: data.x, y: data.y, n: data.n };
  const sharp = { x: data.x.slice(0, 300 * 784), y: data.y.slice(0, 300), n: 300 };
  const local = await createEvaluator(net, full, sharp, 9);
  try {
    // batched requests (shared first-layer work, cached or not) give the same errors as single ones
    const batch = [null, { kind: 'paper', alpha: 0.01, sample: 2 }, { kind: 'paper', alpha: 0.1, sample: 2 }, { kind: 'paper', alpha: 0.1, sample: 0 }] as const;
    const singles = [];
    for (const n of batch) singles.push(await local.error(n));
    assert.deepEqual(await local.errors([...batch], false), singles);
    assert.deepEqual(await local.errors([...batch], true), singles);
    assert.deepEqual(await local.errors([...batch], true), singles);
    const iso = [0, 1, 2].map((k) => ({ kind: 'iso', sigma: 0.08, sample: k }) as const);
    const isoSingles = [];
    for (const n of iso) isoSingles.push(await local.error(n));
    assert.deepEqual(await local.errors(iso, true), isoSingles);
    assert.deepEqual(await local.errors(iso, true), isoSingles);
    // different samples are different perturbations
    assert.notEqual(await local.error({ kind: 'paper', alpha: 0.05, sample: 0 }), await local.error({ kind: 'paper', alpha: 0.05, sample: 1 }));
  } finally {
    await local.close();
  }
});

test('the first-layer shortcut and the kernel-only first-layer gradient change nothing (conv net with biases, dense net)', async () => {
  for (const net of [convNetA(true), mlp([6, 5, 4], true, 3)]) {
    const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
    const n = 30;
    const set = { x: randomArray(n * size, 5, 1), y: Int32Array.from({ length: n }, (_, i) => i % net.numClasses), n };
    const fast = new LocalEvaluator(net, set, set, 3);
    const plain = new LocalEvaluator(net, set, set, 3, { split: false });
    const noises = [null, { kind: 'paper', alpha: 0.05, sample: 0 }, { kind: 'paper', alpha: 0.3, sample: 1 }, { kind: 'iso', sigma: 0.2, sample: 2 }] as const;
    assert.deepEqual(await fast.errorCounts([...noises], true), await plain.errorCounts([...noises], false));
    const nu = parameterArrays(net).map((a, j) => randomArray(a.length, 90 + j, 0.01));
    const a = await fast.lossGradSum(nu, true);
    const b = await plain.lossGradSum(nu, true);
    assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-4 * Math.abs(b.lossSum));
    a.grads!.forEach((g, j) => assertClose(g, b.grads![j], 1e-4, `gradient ${j}`));
    fast.dispose();
    plain.dispose();
  }
});
