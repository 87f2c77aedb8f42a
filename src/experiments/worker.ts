/**
 * A worker process of the experiment runner (started by runner.ts with child_process.fork). It
 * configures its own engine (device and ONNX Runtime threads; workers × threads ≤ cores by default),
 * then runs the workers' loop (loop.ts, the same as a queue worker's) over the runs the runner sends it,
 * one at a time, reporting each end back.
 *
 * Messages in:  {type: 'init', engine, plugins?} (plugins: ES modules to import first, e.g. ones that call defineMeasure) · {type: 'run', job} · {type: 'threads', threads} · {type: 'exit'}
 * Messages out: {type: 'ready', backend} · {type: 'init-failed', error, userError} · {type: 'progress', key, text} · {type: 'done', key, outcome}
 *               · {type: 'failed', key, error, userError}
 *
 * It dies with its parent: on 'disconnect' (the IPC channel closes when the runner exits or is killed),
 * and — since training is synchronous — by checking that the parent is alive at every epoch.
 */
import { isUserError } from '../errors.js';
import { importPlugin } from '../util/plugins.js';
import { pidAlive } from '../util/process.js';
import { initEngine, setEngineThreads, type EngineOptions } from '../engine/index.js';
import type { RunJob, RunOutcome } from './execute.js';
import { errorText, workLoop, type RunSource } from './loop.js';
import { runKey, type RunSpec } from './plan.js';

export type ToWorker = { type: 'init'; engine: EngineOptions; plugins?: string[] } | { type: 'threads'; threads: number } | { type: 'run'; job: Omit<RunJob, 'backend'> } | { type: 'exit' };
export type FromWorker =
  | { type: 'ready'; backend: string }
  | { type: 'init-failed'; error: string; userError: boolean }
  | { type: 'progress'; key: string; text: string }
  | { type: 'done'; key: string; outcome: import('./execute.js').RunOutcome }
  | { type: 'failed'; key: string; error: string; userError: boolean };

const parent = process.ppid;
let lastCheck = 0;

function checkParent(): void {
  const now = Date.now();
  if (now - lastCheck < 250) return;
  lastCheck = now;
  if (!pidAlive(parent)) process.exit(3); // the runner is gone (killed, or an unreaped zombie)
}

function send(msg: FromWorker): void {
  try {
    if (process.connected) process.send!(msg);
  } catch {
    /* the runner is gone: 'disconnect' ends this process */
  }
}

let backend = 'onnxruntime-cpu';

/**
 * The runner as a run source (loop.ts): runs arrive as 'run' messages, one at a time; 'exit' ends the
 * loop. The runner decides what a run needs (job.addMeasures) and keeps its own claims, so there is no
 * lease to renew here: the runner sees this process die.
 */
class RunnerSource implements RunSource<Omit<RunJob, 'backend'>> {
  private waiting: ((job: Omit<RunJob, 'backend'> | null) => void) | null = null;
  private queued: (Omit<RunJob, 'backend'> | null)[] = [];

  /** A message from the runner: a run, or null for 'exit'. */
  push(job: Omit<RunJob, 'backend'> | null): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(job);
    } else this.queued.push(job);
  }

  next(): Promise<Omit<RunJob, 'backend'> | null> {
    if (this.queued.length) return Promise.resolve(this.queued.shift()!);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  spec(job: Omit<RunJob, 'backend'>) {
    return job.spec;
  }

  async plan(job: Omit<RunJob, 'backend'>) {
    return job.addMeasures ?? null;
  }

  async complete(job: Omit<RunJob, 'backend'>, outcome: RunOutcome | null) {
    send({ type: 'done', key: runKey(job.spec), outcome: outcome! });
  }

  async fail(job: Omit<RunJob, 'backend'>, e: unknown) {
    send({ type: 'failed', key: runKey(job.spec), error: errorText(e), userError: isUserError(e) });
  }
}

const source = new RunnerSource();
/** The jobs handed over by the runner, by run key (their database and checkpoint folder). */
const current = new Map<string, Omit<RunJob, 'backend'>>();
let lastSent = 0;
const progress = (spec: RunSpec, text: string, force = false) => {
  checkParent();
  const now = Date.now();
  if (force || now - lastSent >= 500) {
    lastSent = now;
    send({ type: 'progress', key: runKey(spec), text });
  }
};

process.on('disconnect', () => process.exit(3));

process.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') {
    void (async () => {
      try {
        for (const p of msg.plugins ?? []) await importPlugin(p);
        backend = await initEngine(msg.engine);
      } catch (e) {
        send({ type: 'init-failed', error: errorText(e), userError: isUserError(e) });
        process.exit(2);
      }
      send({ type: 'ready', backend });
      await workLoop(source, {
        job: (spec) => {
          const job = current.get(runKey(spec))!;
          return { db: job.db, checkpoints: job.checkpoints, backend };
        },
        hooks: (spec) => ({
          onEpoch: (rec) => progress(spec, `epoch ${rec.epoch} loss ${rec.loss.toFixed(3)}`),
          onPhase: (text) => progress(spec, text, true),
        }),
      });
      process.disconnect();
      process.exit(0);
    })();
  } else if (msg.type === 'threads') {
    // cores freed by workers that ran out of runs: applied at this process's next engine call
    setEngineThreads(msg.threads);
  } else if (msg.type === 'run') {
    current.set(runKey(msg.job.spec), msg.job);
    source.push(msg.job);
  } else if (msg.type === 'exit') {
    source.push(null);
  }
});

