/**
 * Thread-count invariance of the engine's products, on the shapes where ONNX Runtime's MLAS would split a
 * long inner sum differently at 1 and 2 threads (a product with more columns than rows and K > 128: the
 * dense layers of a narrow MLP at batch 64, a wide first conv layer on a batch of one), and on both sides
 * of the rows-vs-columns switch of the dense layers: the logits, the loss and every gradient are
 * bit-identical at 1 and 2 threads.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, releasePrograms, setEngineThreads } from '../../src/engine/index.js';
import { logits, lossGrad } from '../../src/engine/programs.js';
import { buildNetwork } from '../../src/models/spec.js';
import { parameterArrays } from '../../src/models/network.js';
import type { Shape3 } from '../../src/models/network.js';

function data(n: number, size: number, classes: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  return { x: Float32Array.from({ length: n * size }, rnd), y: Int32Array.from({ length: n }, (_, i) => i % classes) };
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

for (const [spec, shape, rows] of [
  ['mlp:96', [28, 28, 1], 64],
  ['mlp:128', [28, 28, 1], 64],
  ['mlp:300,200', [28, 28, 1], 64],
  ['mlp:96', [28, 28, 1], 7],
  ['mlp:96', [28, 28, 1], 100], // as many rows as columns or more: a plain product
  ['mlp:300', [28, 28, 1], 299], // one row fewer than columns: the transposed form
  ['vgg:64,M,64,M', [32, 32, 3], 1],
  ['vgg:16,M,32,M', [32, 32, 3], 2],
] as [string, Shape3, number][]) {
  test(`threads: ${spec} on ${rows} rows gives bit-identical logits and gradients at 1 and 2 threads`, async () => {
    await initEngine({ device: 'cpu', threads: 1 });
    const net = buildNetwork(spec, { inputShape: shape, numClasses: 10, seed: 3 });
    const params = parameterArrays(net).map((a) => a.slice());
    const { x, y } = data(rows, shape[0] * shape[1] * shape[2], 10, 11);
    const out: { logits: Float32Array; grad: Awaited<ReturnType<typeof lossGrad>> }[] = [];
    for (const t of [1, 2]) {
      setEngineThreads(t);
      await releasePrograms();
      out.push({ logits: await logits(net, params, x, 0, rows), grad: await lossGrad(net, params, x, y, rows, true) });
    }
    setEngineThreads(1);
    assert.ok(same(out[0].logits, out[1].logits), 'logits differ between 1 and 2 threads');
    assert.equal(out[0].grad.lossSum, out[1].grad.lossSum);
    out[0].grad.grads!.forEach((g, i) => assert.ok(same(g, out[1].grad.grads![i]), `gradient ${i} differs between 1 and 2 threads`));
  });
}
