/**
 * The loop of a queue worker (`genmeasures worker`): take a run from the queue, train or reuse its
 * checkpoint, measure, record, complete — the same work (execute.ts executeRun) a local sweep's worker
 * does, with the queue of queue.ts in place of the local runner and the PostgreSQL sink in place of the
 * SQLite file.
 *
 *   - What is done is decided by the results, not by the queue: a run recorded with every measure its plan
 *     asks for is completed at once; one recorded without some gets only those (added to its row).
 *   - While a run is worked on, its lease is renewed every lease/4 seconds. A worker killed mid-run stops
 *     renewing; its run goes back to the queue when the lease expires (pg-boss's maintenance, which every
 *     worker takes part in) and another worker takes it, with the checkpoint if it was saved (the run
 *     key fixes the result, so retraining gives the same numbers).
 *   - A run that throws is failed in the queue (retried up to its limit); one out of retries reaches the
 *     dead-letter queue, and the worker that takes it records it as failed with the error.
 *   - A lost connection (the server restarting) is waited out: reads, writes and the queue calls are
 *     retried for up to `reconnectMs` before the worker gives up.
 *   - untilEmpty: stop when no run is waiting or active in the queue (a drained sweep); otherwise wait for
 *     more, polling every pollMs.
 *   - signal (SIGINT/SIGTERM in the CLI): take no new run; the run in progress is failed back to the queue
 *     with "worker stopped" (another worker retries it at once) and the worker ends.
 */
import os from 'node:os';
import { initEngine, type EngineOptions } from '../engine/index.js';
import { importPlugin } from '../util/plugins.js';
import type { RunOutcome } from './execute.js';
import { errorText, workLoop, type RunSource } from './loop.js';
import { runKey, type RunSpec } from './plan.js';
import { PostgresSink, retryOnLostConnection } from './postgres.js';
import { FAILED_QUEUE, RunQueue, type TakenRun } from './queue.js';
import { failedRow } from './store.js';
import { CoreShare } from './coreShare.js';

export interface QueueWorkerEvents {
  onReady?(info: { backend: string; worker: string }): void;
  onTake?(info: { spec: RunSpec; retryCount: number }): void;
  onPhase?(info: { spec: RunSpec; text: string }): void;
  onDone?(info: { spec: RunSpec; outcome: RunOutcome | null }): void;
  /** A run threw: failed back to the queue (retried while it has tries left). */
  onRunError?(info: { spec: RunSpec; error: string; retryCount: number; retryLimit: number }): void;
  /** A run out of retries was recorded as failed. */
  onRecordedFailed?(info: { spec: RunSpec; error: string }): void;
  /**
   * The worker was stopped (options.signal) while it worked on a run, and the run is back in the queue:
   * the run's work in this process is abandoned (a CLI ends the process here rather than let it finish).
   */
  onReleased?(info: { spec: RunSpec }): void;
  /** The database could not be reached; the worker waits and tries again. */
  onConnectionLost?(info: { error: string }): void;
}

export interface QueueWorkerOptions {
  /** postgres:// URL of the results database (the queue lives in it too). */
  db: string;
  /** Checkpoints folder (shared storage lets workers reuse each other's training). */
  checkpoints: string;
  engine?: EngineOptions;
  plugins?: string[];
  untilEmpty?: boolean;
  pollMs?: number;
  /** How often this worker takes part in pg-boss's maintenance (expiring leases), in seconds (default 30). */
  maintenanceSeconds?: number;
  /** How long a lost connection is waited out (default 10 minutes). */
  reconnectMs?: number;
  signal?: AbortSignal;
  events?: QueueWorkerEvents;
  /**
   * Give this machine's idle workers' cores to its busy ones (coreShare.ts): the thread count of
   * `engine.threads` grows up to `cores` while fewer workers than cores are busy. Default false.
   */
  shareCores?: { cores: number };
}

export interface QueueWorkerResult {
  /** Runs this worker recorded (trained and measured, or measures added). */
  done: number;
  /** Runs it found recorded already (completed without work). */
  alreadyRecorded: number;
  /** Runs that threw here (failed back to the queue). */
  errors: number;
  /** Runs out of retries it recorded as failed. */
  recordedFailed: number;
  seconds: number;
  stopped: boolean;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export async function workQueue(opts: QueueWorkerOptions): Promise<QueueWorkerResult> {
  const start = Date.now();
  const ev = opts.events ?? {};
  const reconnectMs = opts.reconnectMs ?? 10 * 60000;
  const worker = `${os.hostname()}:${process.pid}`;
  for (const p of opts.plugins ?? []) await importPlugin(p);
  const sink = await PostgresSink.open(opts.db, { retryForMs: reconnectMs });
  let queue: RunQueue;
  try {
    queue = await RunQueue.open(opts.db, { supervise: true, maintenanceSeconds: opts.maintenanceSeconds ?? 30 });
  } catch (e) {
    await sink.close();
    throw e;
  }
  const result: QueueWorkerResult = { done: 0, alreadyRecorded: 0, errors: 0, recordedFailed: 0, seconds: 0, stopped: false };
  const share = opts.shareCores ? new CoreShare(opts.db, opts.shareCores.cores, opts.engine?.threads ?? 1) : null;
  /** Retry a queue call through a lost connection (pg-boss does not retry by itself). */
  const patiently = <T>(fn: () => Promise<T>): Promise<T> => retryOnLostConnection(fn, reconnectMs, (e) => ev.onConnectionLost?.({ error: e.message }));
  try {
    const backend = await initEngine(opts.engine ?? { device: 'cpu', threads: 1 });
    ev.onReady?.({ backend, worker });
    const source: RunSource<TakenRun> = {
      async next() {
        while (!opts.signal?.aborted) {
          // pg-boss's fetch answers "nothing" when the database cannot be reached: look at the queue ourselves
          const taken = await patiently(() => queue.take());
          if (!taken) {
            const { waiting, active } = await patiently(() => queue.unfinished());
            if (opts.untilEmpty && waiting === 0 && active === 0) return null;
            await sleep(opts.pollMs ?? 2000, opts.signal);
            continue;
          }
          if (taken.queue !== FAILED_QUEUE) return taken;
          // out of retries: record it as failed with its last error
          const spec = taken.data.spec;
          const error = `${taken.lastError} (tried ${taken.retryLimit + 1} times)`;
          await sink.recordFailed(failedRow(spec, error, new Date().toISOString()));
          await patiently(() => queue.complete(taken));
          result.recordedFailed++;
          ev.onRecordedFailed?.({ spec, error });
        }
        return null;
      },
      spec: (taken) => taken.data.spec,
      // the results decide what is done, not the queue
      async plan(taken) {
        const spec = taken.data.spec;
        const key = runKey(spec);
        const have = (await sink.measureNames([key])).get(key);
        if (!have) return null;
        const missing = spec.measureOptions.measures.filter((n) => !have.includes(n));
        return missing.length ? missing : 'recorded';
      },
      async complete(taken, outcome) {
        if (opts.signal?.aborted) return; // failed back to the queue already; it finds the row recorded
        await patiently(() => queue.complete(taken));
        ev.onDone?.({ spec: taken.data.spec, outcome });
      },
      async fail(taken, e) {
        if (opts.signal?.aborted) return;
        const message = errorText(e);
        ev.onRunError?.({ spec: taken.data.spec, error: message.split('\n')[0], retryCount: taken.retryCount, retryLimit: taken.retryLimit });
        await patiently(() => queue.fail(taken, message)).catch(() => {});
      },
      working(taken) {
        ev.onTake?.({ spec: taken.data.spec, retryCount: taken.retryCount });
        share?.mark(true);
        const renew = setInterval(() => {
          queue.renewLease(taken).catch(() => {}); // a missed renewal is retried at the next tick
        }, Math.max(250, leaseOf(taken) / 4));
        // stopped by the user: the run goes back to the queue now rather than when its lease expires
        const onAbort = () =>
          void queue
            .fail(taken, `worker ${worker} stopped`)
            .catch(() => {})
            .finally(() => ev.onReleased?.({ spec: taken.data.spec }));
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        return () => {
          clearInterval(renew);
          share?.mark(false);
          opts.signal?.removeEventListener('abort', onAbort);
        };
      },
    };
    const loop = await workLoop(source, {
      job: () => ({ db: opts.db, sink, checkpoints: opts.checkpoints, backend }),
      hooks: (spec) => ({ onPhase: (text) => ev.onPhase?.({ spec, text }) }),
    });
    result.done = loop.done;
    result.alreadyRecorded = loop.alreadyRecorded;
    result.errors = loop.errors;
    result.stopped = !!opts.signal?.aborted;
  } finally {
    result.seconds = (Date.now() - start) / 1000;
    share?.close();
    await queue.close();
    await sink.close();
  }
  return result;
}

/** A taken run's lease in ms (the job's expiry; pg-boss returns it with the job). */
function leaseOf(run: TakenRun): number {
  return Math.max(1000, 1000 * (run.leaseSeconds ?? 120));
}
