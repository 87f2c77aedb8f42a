/**
 * Benchmark: every measure of an MLP 784-1024-10 on 5,000 MNIST digits. Prints the time of each measure, the
 * total of a sweep's default list (target: under 2 minutes on a 2-core machine, ONNX Runtime engine) and the
 * total with the costly opt-in measures (sweepOptIn: pac_bayes_optimized, the magnitude-aware flatness).
 *
 *   GENMEASURES_BENCH_RUN=DIR   measure a trained run (DIR/model.json, DIR/initial/, DIR/run.json; e.g. made by
 *                               `genmeasures train --model mlp:1024 --train-size 5000 --out DIR`)
 *   otherwise                   a network constructed in a few seconds: the seeded mlp:1024 initialisation with
 *                               its output layer fitted by ridge regression on the 1024 ReLU features
 *                               (random-features least squares), on 5,000 seeded, normalised embedded digits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { backendName } from '../src/engine/index.js';
import { logits } from '../src/engine/programs.js';
import { loadData } from '../src/data/index.js';
import { channelStats, normalize, subset } from '../src/data/transforms.js';
import type { Dataset } from '../src/data/types.js';
import { loadNetwork } from '../src/models/io.js';
import { Network, cloneNetwork, countParams } from '../src/models/network.js';
import { buildNetwork } from '../src/models/spec.js';
import { loadRunData } from '../src/train/prepare.js';
import { MEASURES, computeMeasures } from '../src/measures/index.js';
import { createProgress } from '../src/util/progress.js';

const TARGET_MS = 120_000;

/** Solve (A + λI) X = B for symmetric positive definite A (n×n) and B (n×k), by Cholesky in float64. */
function ridgeSolve(A: Float64Array, B: Float64Array, n: number, k: number, lambda: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j] + (i === j ? lambda : 0);
      for (let t = 0; t < j; t++) s -= L[i * n + t] * L[j * n + t];
      L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j];
    }
  }
  const X = new Float64Array(n * k);
  for (let c = 0; c < k; c++) {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = B[i * k + c];
      for (let t = 0; t < i; t++) s -= L[i * n + t] * y[t];
      y[i] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let t = i + 1; t < n; t++) s -= L[t * n + i] * X[t * k + c];
      X[i * k + c] = s / L[i * n + i];
    }
  }
  return X;
}

/** The seeded mlp:1024 initialisation with a ridge-regression output layer; returns it and its initial weights. */
export async function constructedMlp(data: Dataset): Promise<{ net: Network; initial: Network }> {
  const initial = buildNetwork('mlp:1024', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const net = cloneNetwork(initial);
  const [hidden, out] = net.layers.filter((l) => l.kind === 'dense');
  if (hidden.kind !== 'dense' || out.kind !== 'dense') throw new Error('unexpected mlp layout');
  const h = hidden.outSize;
  // the ReLU features H = relu(X K) (the hidden layer alone, as a network whose outputs are its units)
  const features: Network = { inputShape: [28, 28, 1], numClasses: h, layers: [net.layers[0], hidden, { kind: 'relu' }] };
  const H = await logits(features, [hidden.kernel], data.x, 0, data.n);
  const A = new Float64Array(h * h);
  const B = new Float64Array(h * 10);
  for (let r = 0; r < data.n; r++) {
    const row = H.subarray(r * h, (r + 1) * h);
    for (let i = 0; i < h; i++) {
      const v = row[i];
      if (v === 0) continue;
      for (let j = 0; j <= i; j++) A[i * h + j] += v * row[j];
      for (let c = 0; c < 10; c++) B[i * 10 + c] += v * (c === data.y[r] ? 2 : -2);
    }
  }
  for (let i = 0; i < h; i++) for (let j = 0; j < i; j++) A[j * h + i] = A[i * h + j];
  let trace = 0;
  for (let i = 0; i < h; i++) trace += A[i * h + i];
  const W = ridgeSolve(A, B, h, 10, (1e-4 * trace) / h);
  out.kernel = Float32Array.from(W);
  return { net, initial };
}

export async function benchMeasures(): Promise<void> {
  const backend = backendName();
  const runDir = process.env.GENMEASURES_BENCH_RUN;
  let net: Network;
  let initial: Network | null = null;
  let data: Dataset;
  let what: string;
  const t0 = performance.now();
  if (runDir) {
    net = loadNetwork(path.join(runDir, 'model.json'));
    const init = path.join(runDir, 'initial', 'model.json');
    if (fs.existsSync(init)) initial = loadNetwork(init);
    data = loadRunData(path.join(runDir, 'run.json')).train;
    what = `the trained run ${runDir}`;
  } else {
    const raw = subset(loadData('mnist').train, 5000, 1);
    data = normalize(raw, channelStats(raw));
    ({ net, initial } = await constructedMlp(data));
    what = 'a constructed mlp:1024 (random ReLU features + ridge readout; set GENMEASURES_BENCH_RUN=DIR for a trained run)';
  }
  const setupMs = performance.now() - t0;
  console.log(`measures benchmark: ${what}; ${countParams(net)} weights, ${data.n} points, backend ${backend} (setup ${(setupMs / 1000).toFixed(1)} s)`);
  const t1 = performance.now();
  const report = await computeMeasures(net, data, { initial }, (label, total) => createProgress({ total, label }));
  const total = performance.now() - t1;
  const w = Math.max(...Object.keys(report.measures).map((k) => k.length)) + 2;
  for (const [k, v] of Object.entries(report.measures)) {
    const value = v === null ? 'null' : Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
    console.log(`  ${k.padEnd(w)}${value.padStart(14)}${`${(report.timings_ms[k] / 1000).toFixed(2)} s`.padStart(11)}`);
  }
  const optIn = new Set(MEASURES.filter((m) => m.sweepOptIn).map((m) => m.name));
  const sweepMs = Object.entries(report.timings_ms).reduce((a, [k, v]) => a + (optIn.has(k) ? 0 : v), 0);
  console.log(`  ${'total, a sweep\'s default list'.padEnd(w)}${`${(sweepMs / 1000).toFixed(2)} s`.padStart(11)}  (target < ${TARGET_MS / 1000} s: ${sweepMs < TARGET_MS ? 'ok' : 'SLOWER THAN TARGET'})`);
  console.log(`  ${'total, with the opt-in measures'.padEnd(w)}${`${(total / 1000).toFixed(2)} s`.padStart(11)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchMeasures().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
