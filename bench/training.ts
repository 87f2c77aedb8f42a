/**
 * Training and forward speed on the ONNX Runtime engine, at the process's thread count:
 *   - SGD step of an MLP 784-1024-10 (bias-free) at batch 64 and 256: one step per engine call, and steps
 *     inside one call (an ONNX Loop over 25 batches, as training runs them); real normalised digits
 *   - one epoch on the 8,000 embedded MNIST training digits (batch 64, as `train` runs it)
 *   - SGD step of vgg:16,M,32,M,64,M on 32×32×3 at batch 64; of the full VGG
 *     64,64,M,128,128,M,256,256,M,512,512,M (+ dense 2048→10, peer-bench's twin); of the paper's
 *     vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512
 *   - one forward pass of the MLP over 5,000 digits
 * Effective GFLOPS count 2 flops per multiply-add of every product a step needs: forward and weight
 * gradient of every weight layer, input gradient of every layer but the first.
 */
import { SgdProgram, logits } from '../src/engine/programs.js';
import { buildNetwork } from '../src/models/spec.js';
import { Network, isWeightLayer, parameterArrays } from '../src/models/network.js';
import { prepareData } from '../src/train/prepare.js';
import { makeConfig } from '../src/train/config.js';
import { labels64, train } from '../src/train/sgd.js';

/** Flops of a step: forward + weight gradient of every weight layer, input gradient of all but the first. */
export function stepFlops(net: Network, b: number): number {
  let f = 0;
  net.layers.filter(isWeightLayer).forEach((l, i) => {
    const macs = l.kind === 'dense' ? l.inSize * l.outSize : l.outShape[0] * l.outShape[1] * l.outShape[2] * l.kernelSize[0] * l.kernelSize[1] * l.inShape[2];
    f += 2 * b * macs * (i === 0 ? 2 : 3);
  });
  return f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(f: () => Promise<unknown>, warmup: number, reps: number): Promise<{ median: number; min: number }> {
  for (let i = 0; i < warmup; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return { median: median(ts), min: Math.min(...ts) };
}

function randomData(n: number, size: number, classes: number, seed: number): { x: Float32Array; y: Int32Array } {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  return { x: Float32Array.from({ length: n * size }, rnd), y: Int32Array.from({ length: n }, (_, i) => i % classes) };
}

/** Steps of `net` on batches of (x, y): `perCall` consecutive batches per engine call; ms per step. */
async function stepBench(net: Network, x: Float32Array, y: Int32Array, n: number, batch: number, perCall: number, reps: number): Promise<{ median: number; min: number }> {
  const sgd = new SgdProgram(net, parameterArrays(net).map((a) => a.slice()), batch, 0.01, 0.9);
  const y64 = labels64(y);
  const order = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const batches = Math.floor(n / batch);
  let next = 0;
  const call = async () => {
    if (next + perCall > batches) next = 0;
    await sgd.steps(x, y64, order, n, next, perCall);
    next += perCall;
  };
  const t = await timeIt(call, 2, reps);
  return { median: t.median / perCall, min: t.min / perCall };
}

export async function benchTraining(log: (s: string) => void = console.log): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  const fmt = (name: string, t: { median: number; min: number }, flops?: number) => {
    results[name] = t.median;
    log(`${name.padEnd(52)} ${t.median.toFixed(2).padStart(9)} ms (min ${t.min.toFixed(2)})${flops ? `  ${(flops / t.median / 1e6).toFixed(1)} effective GFLOPS` : ''}`);
  };
  const data = prepareData(makeConfig({ data: 'mnist', seed: 1 })).train; // the 8,000 normalised digits
  const mlp = buildNetwork('mlp:1024', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  for (const b of [64, 256]) {
    fmt(`MLP 784-1024-10 step, batch ${b} (1 step per call)`, await stepBench(mlp, data.x, data.y, data.n, b, 1, b === 64 ? 60 : 30), stepFlops(mlp, b));
    fmt(`MLP 784-1024-10 step, batch ${b} (25 steps per call)`, await stepBench(mlp, data.x, data.y, data.n, b, 25, 5), stepFlops(mlp, b));
  }
  {
    const config = makeConfig({ data: 'mnist', model: 'mlp:1024', seed: 1, maxEpochs: 1, targetLoss: 0 });
    const t = await timeIt(() => train(mlp, data, config), 1, 3);
    fmt('one epoch, 8,000 digits, batch 64', t);
  }
  {
    const params = parameterArrays(mlp);
    const t = await timeIt(() => logits(mlp, params, data.x, 0, 5000), 2, 10);
    fmt('MLP forward over 5,000 digits', t, 2 * 5000 * (784 * 1024 + 1024 * 10));
  }
  const vggs: [string, string, number][] = [
    ['vgg:16,M,32,M,64,M', 'vgg:16,M,32,M,64,M step, 32x32x3, batch 64', 40],
    ['vgg:64,64,M,128,128,M,256,256,M,512,512,M', 'full VGG (…,512,512,M) step, batch 64', 5],
    ['vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512', "paper's VGG (…,512,512,A4,D512) step, batch 64", 5],
  ];
  for (const [spec, label, reps] of vggs) {
    const net = buildNetwork(spec, { inputShape: [32, 32, 3], numClasses: 10, seed: 1 });
    const { x, y } = randomData(640, 32 * 32 * 3, 10, 7);
    fmt(`${label} (1 step per call)`, await stepBench(net, x, y, 640, 64, 1, reps), stepFlops(net, 64));
    // as training runs them: the 10 batches of the 640 points in one engine call (an ONNX Loop)
    if (reps >= 20) fmt(`${label} (10 steps per call)`, await stepBench(net, x, y, 640, 64, 10, reps / 2), stepFlops(net, 64));
  }
  return results;
}
