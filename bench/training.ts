/**
 * Training speed on the wasm backend: one SGD step of an MLP 784-1024-10 at batch 64 and 256, with
 * effective GFLOPS, and one epoch on the 8,000 embedded MNIST training digits.
 *
 * Effective GFLOPS counts 2·B·in·out for each matrix product a step needs: the forward product and the
 * weight gradient of every layer, and the input gradient of every layer but the first
 * (0.838 GFLOP per step at B = 256).
 */
import * as tf from '@tensorflow/tfjs';
import { buildNetwork } from '../src/models/spec.js';
import { cloneNetwork } from '../src/models/network.js';
import { SgdState, batchTensors, train } from '../src/train/sgd.js';
import { prepareData } from '../src/train/prepare.js';
import { makeConfig } from '../src/train/config.js';

export function stepFlops(widths: number[], b: number): number {
  let f = 0;
  for (let i = 1; i < widths.length; i++) {
    const mm = 2 * b * widths[i - 1] * widths[i];
    f += mm; // forward
    f += mm; // weight gradient
    if (i > 1) f += mm; // input gradient
  }
  return f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchTraining(log: (s: string) => void = console.log): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  // reference: the plain (untransposed) matMul speed of the forward product at B = 256
  {
    const a = tf.randomNormal([256, 784]) as tf.Tensor2D;
    const k = tf.randomNormal([784, 1024]) as tf.Tensor2D;
    const run = () => {
      const c = tf.matMul(a, k);
      c.dataSync();
      c.dispose();
    };
    for (let i = 0; i < 3; i++) run();
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 4; i++) run();
      times.push((performance.now() - t0) / 4);
    }
    a.dispose();
    k.dispose();
    const ms = median(times);
    results.matmul_gflops = (2 * 256 * 784 * 1024) / 1e9 / (ms / 1000);
    log(`plain matMul 256x784 · 784x1024 (reference): ${ms.toFixed(2)} ms  (${results.matmul_gflops.toFixed(1)} GFLOPS)`);
  }
  const data = prepareData(makeConfig({ data: 'mnist', trainSize: null }));
  const net = buildNetwork('mlp:1024', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const idx = new Int32Array(data.train.n).map((_, i) => i);
  for (const b of [64, 256]) {
    // a fresh network for each batch size, and a different batch at every step, as in training
    // (repeating one batch drives its loss to ~0, and denormal gradients are slow on x86)
    const state = new SgdState(cloneNetwork(net), 10, 0.01, 0.9);
    const batches = Array.from({ length: Math.floor(data.train.n / b) }, (_, i) => batchTensors(data.train, idx, i * b, (i + 1) * b));
    let next = 0;
    const step = () => {
      const { x, y } = batches[next++ % batches.length];
      state.step(x, y);
    };
    for (let i = 0; i < 3; i++) step(); // warm-up
    const times: number[] = [];
    for (let r = 0; r < 7; r++) {
      const reps = b === 64 ? 12 : 4;
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) step();
      times.push((performance.now() - t0) / reps);
    }
    batches.forEach(({ x, y }) => {
      x.dispose();
      y.dispose();
    });
    state.dispose();
    const ms = median(times);
    const gflop = stepFlops([784, 1024, 10], b) / 1e9;
    results[`step_ms_b${b}`] = ms;
    results[`gflops_b${b}`] = gflop / (ms / 1000);
    log(
      `MLP 784-1024-10 SGD step, batch ${String(b).padStart(3)}: ${ms.toFixed(2)} ms  (${gflop.toFixed(3)} GFLOP, ${(gflop / (ms / 1000)).toFixed(1)} effective GFLOPS, ${((100 * gflop) / (ms / 1000) / results.matmul_gflops).toFixed(0)}% of plain matMul)`,
    );
  }
  {
    // a small VGG on CIFAR-shaped inputs (the paper preset's default network), batch 64
    const vgg = buildNetwork('vgg:16,M,32,M,64,M', { inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
    const state = new SgdState(vgg, 10, 0.01, 0.9);
    const x = tf.randomUniform([64, 32, 32, 3], 0, 1, 'float32', 1);
    const y = tf.tensor1d(Int32Array.from({ length: 64 }, (_, i) => i % 10), 'int32');
    for (let i = 0; i < 3; i++) state.step(x, y);
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) state.step(x, y);
      times.push((performance.now() - t0) / 3);
    }
    x.dispose();
    y.dispose();
    results.vgg_step_ms = median(times);
    log(`VGG vgg:16,M,32,M,64,M on 32x32x3, SGD step at batch 64: ${results.vgg_step_ms.toFixed(1)} ms (${((50000 / 64) * results.vgg_step_ms / 1000).toFixed(0)} s per 50,000-image epoch)`);
  }
  const config = makeConfig({ data: 'mnist', model: 'mlp:1024', maxEpochs: 2, targetLoss: 0 });
  const r = train(net, data.train, config);
  const epoch = r.history[r.history.length - 1].seconds;
  results.epoch_s = epoch;
  log(`MLP 784-1024-10 one epoch on ${data.train.n} MNIST digits (batch 64): ${epoch.toFixed(2)} s`);
  return results;
}

export { tf };
