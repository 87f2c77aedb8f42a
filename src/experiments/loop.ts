/**
 * The loop every worker runs, local or remote: take a run from a source, do it (execute.ts: train or
 * reuse the checkpoint, measure, record in the result sink), report how it ended to the source, take the
 * next. Sources differ only in where runs come from and where their end goes:
 *
 *   - a local sweep's worker process (worker.ts): the runner (runner.ts) hands it runs over IPC and hears
 *     back 'done' or 'failed'; the results go to the SQLite file
 *   - a queue worker (queueWorker.ts): runs come from the PostgreSQL queue (queue.ts) with a lease that is
 *     renewed while the run is worked on; the results go to PostgreSQL
 */
import { isUserError } from '../errors.js';
import { releasePrograms } from '../engine/index.js';
import { executeRun, type RunHooks, type RunJob, type RunOutcome } from './execute.js';
import type { RunSpec } from './plan.js';

export interface RunSource<R> {
  /** The next run, or null when the worker should end (no more runs, or stopped). */
  next(): Promise<R | null>;
  spec(run: R): RunSpec;
  /**
   * What to do with a run: null — the whole run; a list — only these measures (it is recorded without
   * them); 'recorded' — nothing (it is recorded with every measure its plan asks for).
   */
  plan(run: R): Promise<string[] | null | 'recorded'>;
  complete(run: R, outcome: RunOutcome | null): Promise<void>;
  fail(run: R, error: unknown): Promise<void>;
  /** The run starts being worked on: e.g. start renewing its lease; returns what to do when it ends. */
  working?(run: R): () => void;
}

export interface LoopEvents {
  onTake?(spec: RunSpec): void;
  onDone?(spec: RunSpec, outcome: RunOutcome | null): void;
  onError?(spec: RunSpec, error: string): void;
}

export interface LoopResult {
  /** Runs done here (trained and measured, or measures added). */
  done: number;
  /** Runs found recorded (nothing to do, or recorded by another worker first). */
  alreadyRecorded: number;
  /** Runs that threw here. */
  errors: number;
}

/** One line of an error for a user: a UserError's message, or a bug's stack. */
export function errorText(e: unknown): string {
  const err = e as Error;
  return isUserError(e) ? err.message : (err?.stack ?? String(e));
}

/**
 * Drain a source. `job(spec)` gives what executeRun needs besides the spec (sink or database,
 * checkpoints, backend); `hooks(spec)` the run's progress hooks.
 */
export async function workLoop<R>(
  source: RunSource<R>,
  ctx: { job: (spec: RunSpec) => Omit<RunJob, 'spec' | 'addMeasures'>; hooks?: (spec: RunSpec) => RunHooks; events?: LoopEvents },
): Promise<LoopResult> {
  const result: LoopResult = { done: 0, alreadyRecorded: 0, errors: 0 };
  for (let run = await source.next(); run !== null; run = await source.next()) {
    const spec = source.spec(run);
    ctx.events?.onTake?.(spec);
    const stop = source.working?.(run);
    let stopped = false;
    const ended = () => {
      if (!stopped) stop?.();
      stopped = true;
    };
    try {
      const what = await source.plan(run);
      let outcome: RunOutcome | null = null;
      if (what === 'recorded') {
        result.alreadyRecorded++;
      } else {
        outcome = await executeRun({ spec, ...ctx.job(spec), ...(what ? { addMeasures: what } : {}) }, ctx.hooks?.(spec) ?? {});
        if (outcome.result === 'exists') result.alreadyRecorded++;
        else result.done++;
      }
      ended();
      await source.complete(run, outcome);
      ctx.events?.onDone?.(spec, outcome);
    } catch (e) {
      ended();
      result.errors++;
      ctx.events?.onError?.(spec, errorText(e));
      await source.fail(run, e);
    } finally {
      // the next run may have another architecture: free this one's sessions (a long sweep must not grow)
      await releasePrograms();
    }
  }
  return result;
}
