/**
 * `npm run bench [training] [measures] [devices] [-- --threads N]`: the project's speed figures on the ONNX Runtime
 * engine (default 1 thread, the setting of a sweep's worker; GENMEASURES_BENCH_THREADS or --threads N).
 *   training: one SGD step of an MLP 784-1024-10 at batch 64 and 256 (effective GFLOPS), one epoch on 8,000 digits
 *   measures: every measure of an MLP 784-1024-10 trained on 5,000 MNIST digits (trained here first, unless
 *             GENMEASURES_BENCH_RUN names a run folder), with per-measure times
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { engineDescription, initEngine } from '../src/engine/index.js';
import { makeConfig } from '../src/train/config.js';
import { trainRun } from '../src/train/run.js';
import { benchTraining } from './training.js';
import { benchMeasures } from './measures.js';
import { benchDevices } from './devices.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--threads');
  const threads = Number(ti >= 0 ? args.splice(ti, 2)[1] : (process.env.GENMEASURES_BENCH_THREADS ?? 1));
  const backend = await initEngine({ device: 'cpu', threads });
  console.log(`genmeasures benchmarks (${engineDescription()}, node ${process.version}, ${os.cpus().length} cores, ${new Date().toISOString()})`);
  const which = args;
  const want = (name: string) => which.length === 0 || which.includes(name);
  if (want('training')) {
    console.log('\n== training ==');
    await benchTraining();
  }
  if (which.includes('devices')) {
    console.log('\n== devices (each execution provider against the cpu) ==');
    await benchDevices();
  }
  if (want('measures')) {
    console.log('\n== measures ==');
    if (!process.env.GENMEASURES_BENCH_RUN) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genmeasures-bench-'));
      const out = path.join(dir, 'run');
      const t0 = performance.now();
      const { record } = await trainRun(makeConfig({ data: 'mnist', model: 'mlp:1024', trainSize: 5000, seed: 1 }), backend, { out });
      console.log(
        `trained mlp:1024 on 5000 MNIST digits: ${record.epochs} epochs in ${((performance.now() - t0) / 1000).toFixed(1)} s (${record.secondsPerEpoch.toFixed(2)} s/epoch), train error ${(100 * record.final.trainError).toFixed(2)}%, test error ${(100 * (record.final.testError ?? NaN)).toFixed(2)}%`,
      );
      process.env.GENMEASURES_BENCH_RUN = out;
    }
    await benchMeasures();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
