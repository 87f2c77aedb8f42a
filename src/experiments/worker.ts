/**
 * A worker process of the experiment runner (started by runner.ts with child_process.fork). It
 * configures its own engine (device and ONNX Runtime threads; workers × threads ≤ cores by default),
 * then does the runs the runner sends it, one at a time (execute.ts), and reports back.
 *
 * Messages in:  {type: 'init', engine, plugins?} (plugins: ES modules to import first, e.g. ones that call defineMeasure) · {type: 'run', job} · {type: 'threads', threads} · {type: 'exit'}
 * Messages out: {type: 'ready', backend} · {type: 'init-failed', error, userError} · {type: 'progress', key, text} · {type: 'done', key, outcome}
 *               · {type: 'failed', key, error, userError}
 *
 * It dies with its parent: on 'disconnect' (the IPC channel closes when the runner exits or is killed),
 * and — since training is synchronous — by checking that the parent is alive at every epoch.
 */
import fs from 'node:fs';
import { isUserError } from '../errors.js';
import { importPlugin } from '../util/plugins.js';
import { initEngine, releasePrograms, setEngineThreads, type EngineOptions } from '../engine/index.js';
import { executeRun, type RunJob } from './execute.js';
import { runKey } from './plan.js';

export type ToWorker = { type: 'init'; engine: EngineOptions; plugins?: string[] } | { type: 'threads'; threads: number } | { type: 'run'; job: Omit<RunJob, 'backend'> } | { type: 'exit' };
export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'init-failed'; error: string; userError: boolean }
  | { type: 'progress'; key: string; text: string }
  | { type: 'done'; key: string; outcome: import('./execute.js').RunOutcome }
  | { type: 'failed'; key: string; error: string; userError: boolean };

const parent = process.ppid;
let lastCheck = 0;

/** Whether the process that started this worker still runs (a killed, unreaped parent is a zombie: dead). */
function parentAlive(): boolean {
  try {
    process.kill(parent, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${parent}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    /* not Linux, or gone: kill(0) answered */
  }
  return true;
}

function checkParent(): void {
  const now = Date.now();
  if (now - lastCheck < 250) return;
  lastCheck = now;
  if (!parentAlive()) process.exit(3);
}

function send(msg: FromWorker): void {
  try {
    if (process.connected) process.send!(msg);
  } catch {
    /* the runner is gone: 'disconnect' ends this process */
  }
}

let backend = 'onnxruntime-cpu';
let busy: Promise<void> = Promise.resolve();

process.on('disconnect', () => process.exit(3));

process.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') {
    busy = busy.then(async () => {
      try {
        for (const p of msg.plugins ?? []) await importPlugin(p);
        backend = await initEngine(msg.engine);
      } catch (e) {
        send({ type: 'init-failed', error: isUserError(e) ? (e as Error).message : ((e as Error).stack ?? String(e)), userError: isUserError(e) });
        process.exit(2);
      }
      send({ type: 'ready', backend });
    });
  } else if (msg.type === 'threads') {
    // cores freed by workers that ran out of runs: applied at this process's next engine call
    setEngineThreads(msg.threads);
  } else if (msg.type === 'run') {
    busy = busy.then(async () => {
      const job: RunJob = { ...msg.job, backend };
      const key = runKey(job.spec);
      let lastSent = 0;
      const progress = (text: string, force = false) => {
        checkParent();
        const now = Date.now();
        if (force || now - lastSent >= 500) {
          lastSent = now;
          send({ type: 'progress', key, text });
        }
      };
      try {
        const outcome = await executeRun(job, {
          onEpoch: (rec) => progress(`epoch ${rec.epoch} loss ${rec.loss.toFixed(3)}`),
          onPhase: (text) => progress(text, true),
        });
        send({ type: 'done', key, outcome });
      } catch (e) {
        const err = e as Error;
        send({ type: 'failed', key, error: isUserError(e) ? err.message : (err.stack ?? String(e)), userError: isUserError(e) });
      } finally {
        // the next run has another architecture: free this one's sessions (a long sweep must not grow)
        await releasePrograms();
      }
    });
  } else if (msg.type === 'exit') {
    busy.then(() => {
      process.disconnect();
      process.exit(0);
    });
  }
});
