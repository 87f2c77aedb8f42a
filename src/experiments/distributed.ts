/**
 * A sweep across machines, from the side of the one who starts it: enqueuePlan puts a plan's runs in the
 * queue of a PostgreSQL results database (queue.ts) and returns; `genmeasures worker` processes anywhere
 * drain it (queueWorker.ts); sweepStatus says, per sweep, how many runs are queued, running, done and failed.
 */
import { UserError } from '../errors.js';
import { runKey, type ExperimentPlan } from './plan.js';
import { PostgresSink } from './postgres.js';
import { RunQueue, type JobState, type LeaseOptions } from './queue.js';
import { isPostgresUrl, openResults } from './sink.js';
import { estimateCost } from './runner.js';

export interface EnqueueResult {
  planKey: string;
  total: number;
  /** Runs recorded with every measure the plan asks for: not queued. */
  done: number;
  /** Runs put in the queue now (including runs recorded without some measures: the worker adds them). */
  queued: number;
  /** Runs already waiting in the queue or being worked on (another --enqueue, or workers at it). */
  waiting: number;
}

export async function enqueuePlan(plan: ExperimentPlan, opts: { db: string } & LeaseOptions): Promise<EnqueueResult> {
  if (!isPostgresUrl(opts.db)) throw new UserError(`--enqueue needs a PostgreSQL database (--db postgres://USER:PASSWORD@HOST/DATABASE or DATABASE_URL); ${opts.db} is a SQLite file (run the sweep here without --enqueue)`);
  const sink = await PostgresSink.open(opts.db);
  let queue: RunQueue | null = null;
  try {
    queue = await RunQueue.open(opts.db);
    const planKey = await sink.registerPlan(plan);
    const keys = plan.runs.map(runKey);
    const have = await sink.measureNames(keys);
    const result: EnqueueResult = { planKey, total: plan.runs.length, done: 0, queued: 0, waiting: 0 };
    // longest first, as a local sweep schedules them (workers take the highest priority first): the
    // sweep ends sooner than when its largest run starts last
    const byCost = plan.runs.map((r, i) => ({ i, cost: estimateCost(r) })).sort((a, b) => a.cost - b.cost);
    const priority = new Map(byCost.map((c, rank) => [plan.runs[c.i], rank]));
    for (const spec of plan.runs) {
      const key = runKey(spec);
      const names = have.get(key);
      if (names && spec.measureOptions.measures.every((n) => names.includes(n))) {
        result.done++;
        continue;
      }
      const r = await queue.enqueue({ spec, planKey }, key, { ...opts, priority: priority.get(spec) });
      if (r === 'queued') result.queued++;
      else result.waiting++;
    }
    return result;
  } finally {
    await queue?.close();
    await sink.close();
  }
}

export interface SweepStatus {
  planKey: string;
  experiment: string;
  preset: string;
  total: number;
  queued: number;
  running: number;
  done: number;
  failed: number;
  /** Neither recorded nor in the queue (a local sweep not finished, or a queue emptied by hand). */
  notQueued: number;
  lastRunAt: string;
}

/**
 * Per registered sweep: queued (waiting in the queue, or waiting for a retry), running (a worker holds
 * its lease), done, failed (recorded as failed and not queued again), not queued. A SQLite file has no
 * queue: its runs are done, failed or not run.
 */
export async function sweepStatus(db: string): Promise<SweepStatus[]> {
  const sink = await openResults(db, { mustExist: true, readonly: true });
  let queue: RunQueue | null = null;
  try {
    if (sink.kind === 'postgres') queue = await RunQueue.open(db);
    const out: SweepStatus[] = [];
    for (const p of await sink.plans()) {
      const statuses = await sink.statuses(p.keys);
      const states: Map<string, JobState> = queue ? await queue.states(p.keys) : new Map();
      const s: SweepStatus = { planKey: p.planKey, experiment: p.experiment, preset: p.preset, total: p.keys.length, queued: 0, running: 0, done: 0, failed: 0, notQueued: 0, lastRunAt: p.lastRunAt };
      for (const k of p.keys) {
        const st = statuses.get(k);
        const job = states.get(k);
        if (st === 'done') s.done++;
        else if (job === 'active') s.running++;
        else if (job === 'created' || job === 'retry') s.queued++;
        else if (st === 'failed' || job === 'failed') s.failed++;
        else s.notQueued++;
      }
      out.push(s);
    }
    return out;
  } finally {
    await queue?.close();
    await sink.close();
  }
}
