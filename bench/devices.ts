/**
 * `npm run bench -- devices`: every execution provider this machine can start, against the CPU on the
 * same work — the numbers (logits, loss gradients, weights after SGD steps: max relative difference to
 * the CPU) and the time of the benchmark steps. A provider that cannot start prints its one-line reason.
 */
import { pathToFileURL } from 'node:url';
import { UserError } from '../src/errors.js';
import { DEVICES, configureEngine, initEngine, releasePrograms } from '../src/engine/index.js';
import { SgdProgram, logits, lossGrad } from '../src/engine/programs.js';
import { buildNetwork } from '../src/models/spec.js';
import { Network, parameterArrays } from '../src/models/network.js';
import { labels64 } from '../src/train/sgd.js';

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

function data(n: number, size: number, seed: number): { x: Float32Array; y: Int32Array } {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  return { x: Float32Array.from({ length: n * size }, rnd), y: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

interface Outcome {
  logits: Float32Array;
  grads: Float32Array[];
  weights: Float32Array[];
  stepMs: number;
}

async function work(net: Network, batch: number, steps: number): Promise<Outcome> {
  const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  const n = batch * 4;
  const { x, y } = data(n, size, 5);
  const params = parameterArrays(net);
  const z = await logits(net, params, x, 0, batch);
  const g = await lossGrad(net, params, x, y, batch, true);
  const sgd = new SgdProgram(net, params.map((p) => p.slice()), batch, 0.01, 0.9);
  const order = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const y64 = labels64(y);
  await sgd.steps(x, y64, order, n, 0, 1); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await sgd.steps(x, y64, order, n, (i + 1) % 4, 1);
  const stepMs = (performance.now() - t0) / steps;
  return { logits: z, grads: g.grads!, weights: sgd.params, stepMs };
}

export async function benchDevices(log: (s: string) => void = console.log): Promise<void> {
  const nets: [string, Network, number, number][] = [
    ['MLP 784-1024-10, batch 256', buildNetwork('mlp:1024', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 }), 256, 10],
    ['vgg:16,M,32,M,64,M, batch 64', buildNetwork('vgg:16,M,32,M,64,M', { inputShape: [32, 32, 3], numClasses: 10, seed: 1 }), 64, 10],
    ["paper's VGG (…,A4,D512), batch 64", buildNetwork('vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512', { inputShape: [32, 32, 3], numClasses: 10, seed: 1 }), 64, 3],
  ];
  const reference = new Map<string, Outcome>();
  for (const device of DEVICES) {
    try {
      await initEngine({ device, threads: configureEngine({}).threads });
    } catch (e) {
      log(`${device}: cannot start: ${e instanceof UserError ? e.message : String(e)}`);
      continue;
    }
    for (const [label, net, batch, steps] of nets) {
      try {
        const r = await work(net, batch, steps);
        const ref = reference.get(label);
        if (!ref) {
          reference.set(label, r);
          log(`${device} ${label}: SGD step ${r.stepMs.toFixed(2)} ms`);
        } else {
          const gd = Math.max(...r.grads.map((g, i) => relDiff(g, ref.grads[i])));
          const wd = Math.max(...r.weights.map((w, i) => relDiff(w, ref.weights[i])));
          log(
            `${device} ${label}: SGD step ${r.stepMs.toFixed(2)} ms (cpu ${ref.stepMs.toFixed(2)} ms); vs cpu: logits ${relDiff(r.logits, ref.logits).toExponential(2)}, gradients ${gd.toExponential(2)}, weights after ${steps + 1} steps ${wd.toExponential(2)}`,
          );
        }
      } catch (e) {
        log(`${device} ${label}: FAILED: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
      }
    }
    await releasePrograms();
  }
}

// `node dist/bench/devices.js [--threads N]` runs this alone (it needs only onnxruntime-node and protobufjs)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const ti = process.argv.indexOf('--threads');
  if (ti > 0) configureEngine({ threads: Number(process.argv[ti + 1]) });
  benchDevices().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
