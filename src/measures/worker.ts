/**
 * A worker thread of the measures' evaluator pool (see evaluator.ts): it initialises its own TF.js backend,
 * holds the network and its shard of the training rows, and answers lossGrad / error requests one at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendChoice } from '../engine/backend.js';
import { LocalEvaluator } from './evaluator.js';

const port = parentPort!;

async function start() {
  const { backend, net, full, sharp, seed } = workerData;
  await initBackend(backend as BackendChoice);
  const ev = new LocalEvaluator(net, full, sharp, seed);
  port.on('message', (msg: any) => {
    try {
      if (msg.op === 'lossGrad') {
        const r = ev.lossGradSum(msg.nu, msg.wantGrad);
        port.postMessage({ id: msg.id, result: r }, r.grads ? r.grads.map((g) => g.buffer as ArrayBuffer) : []);
      } else if (msg.op === 'errors') {
        port.postMessage({ id: msg.id, result: ev.errorCounts(msg.noises, msg.cache) });
      } else {
        port.postMessage({ id: msg.id, error: `unknown request ${msg.op}` });
      }
    } catch (e) {
      port.postMessage({ id: msg.id, error: (e as Error).stack ?? String(e) });
    }
  });
  port.postMessage({ ready: true });
}

start().catch((e) => port.postMessage({ error: (e as Error).stack ?? String(e) }));
