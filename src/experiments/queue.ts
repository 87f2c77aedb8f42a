/**
 * The queue of a distributed sweep: pg-boss 10 (a maintained job queue on PostgreSQL; why this one:
 * docs/distributed.md), in the schema `pgboss` of the results database.
 *
 *   enqueue   one job per run of a plan, its id derived from the run key: enqueueing the same sweep twice,
 *             even at the same moment, gives one job per run (pg-boss inserts a job id once)
 *   take      a worker takes the oldest queued run (SELECT … FOR UPDATE SKIP LOCKED inside pg-boss): the
 *             job becomes active with a lease of `lease` seconds
 *   heartbeat while it works, the worker renews the lease every lease/4 s (renewLease); a worker that dies
 *             stops renewing, pg-boss's maintenance finds the lease expired and puts the run back in the
 *             queue (retry), up to `retries` times
 *   complete  when the run is recorded; `fail` with the error when it threw (then pg-boss retries it)
 *   failed    a run out of retries is moved by pg-boss to the dead-letter queue; a worker takes it from
 *             there and records it as failed in the results, with the last error
 *
 * The results decide what is done, not the queue: a worker that takes a run already recorded completes it
 * at once, and recording is idempotent (one row per run key), so a run done twice (a lease that expired
 * under a slow but living worker) is recorded once.
 */
import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import pg from 'pg';
import { UserError } from '../errors.js';
import { connectionUserError, checkPostgresUrl } from './postgres.js';
import type { RunSpec } from './plan.js';

export const RUN_QUEUE = 'genmeasures-runs';
export const FAILED_QUEUE = 'genmeasures-runs-failed';
const BOSS_SCHEMA = 'pgboss';

/** What a queued run carries: the full specification (a worker needs nothing else) and its sweep. */
export interface QueuedRun {
  spec: RunSpec;
  planKey: string;
}

export interface LeaseOptions {
  /** Seconds a worker holds a run without renewing its lease (default 120; renewed every lease/4). */
  lease?: number;
  /** Times a run is retried after its worker failed or died (default 2: three tries in all). */
  retries?: number;
}

export const DEFAULT_LEASE_SECONDS = 120;
export const DEFAULT_RETRIES = 2;

/** A run taken from the queue by this worker. */
export interface TakenRun {
  id: string;
  queue: string;
  data: QueuedRun;
  /** How many times the run was tried before (0 the first time). */
  retryCount: number;
  retryLimit: number;
  /** The lease of the run, in seconds (renewed every lease/4 while it is worked on). */
  leaseSeconds: number;
  /** A dead-letter job: the run's last error, as pg-boss recorded it. */
  lastError?: string;
}

/**
 * Create the two queues where missing. pg-boss creates a queue's partition without a lock, and two
 * processes creating the same queue at once can deadlock: creation is serialised here with a
 * session-level advisory lock held on a connection of its own.
 */
async function createQueues(boss: PgBoss, url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    await c.query("SELECT pg_advisory_lock(hashtext('genmeasures-create-queues'))");
    if (!(await boss.getQueue(FAILED_QUEUE))) await boss.createQueue(FAILED_QUEUE, { name: FAILED_QUEUE });
    if (!(await boss.getQueue(RUN_QUEUE))) await boss.createQueue(RUN_QUEUE, { name: RUN_QUEUE, deadLetter: FAILED_QUEUE });
    await c.query("SELECT pg_advisory_unlock(hashtext('genmeasures-create-queues'))");
  } finally {
    await c.end().catch(() => {});
  }
}

/** The job id of a run: a UUID made from its key (the same run, the same job). */
export function jobId(runKey: string): string {
  const h = createHash('sha256').update(`genmeasures-run:${runKey}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

export class RunQueue {
  readonly boss: PgBoss;
  private errors: Error[] = [];

  private constructor(boss: PgBoss) {
    this.boss = boss;
    // pg-boss reports trouble (a lost connection during maintenance) as events: kept, not thrown
    boss.on('error', (e) => {
      this.errors.push(e);
      if (this.errors.length > 20) this.errors.shift();
    });
  }

  /**
   * Connect (and create pg-boss's schema and the two queues where missing). `supervise`: this process
   * takes part in pg-boss's maintenance (expiring leases), every `maintenanceSeconds`.
   */
  static async open(url: string, opts: { option?: string; supervise?: boolean; maintenanceSeconds?: number } = {}): Promise<RunQueue> {
    const option = opts.option ?? '--db';
    checkPostgresUrl(url, option);
    const boss = new PgBoss({
      connectionString: url,
      schema: BOSS_SCHEMA,
      max: 2,
      supervise: !!opts.supervise,
      schedule: false,
      migrate: true,
      ...(opts.supervise ? { maintenanceIntervalSeconds: Math.max(1, Math.round(opts.maintenanceSeconds ?? 30)) } : {}),
    });
    const q = new RunQueue(boss);
    try {
      await boss.start();
      await createQueues(boss, url);
    } catch (e) {
      await boss.stop({ graceful: false, wait: true }).catch(() => {});
      if (e instanceof UserError) throw e;
      throw connectionUserError(e, url, option);
    }
    return q;
  }

  /**
   * Queue a run. 'queued': a job was created; 'waiting': the run is already queued or being worked on.
   * A run whose job failed (out of retries) gets one more try; a job that completed or was cancelled
   * without the run being recorded is replaced by a new one.
   */
  async enqueue(run: QueuedRun, key: string, opts: LeaseOptions & { priority?: number } = {}): Promise<'queued' | 'waiting'> {
    const id = jobId(key);
    const existing = await this.boss.getJobById<QueuedRun>(RUN_QUEUE, id);
    if (existing && (existing.state === 'created' || existing.state === 'retry' || existing.state === 'active')) return 'waiting';
    if (existing?.state === 'failed') {
      // out of retries before: one more try, in place (pg-boss flips only a failed job, so two enqueues at
      // once give it one try, not two jobs)
      await this.boss.retry(RUN_QUEUE, id);
      return 'queued';
    }
    if (existing) await this.boss.deleteJob(RUN_QUEUE, id); // completed or cancelled, yet not recorded: anew
    const sent = await this.boss.send(RUN_QUEUE, run as unknown as object, {
      id,
      retryLimit: opts.retries ?? DEFAULT_RETRIES,
      retryDelay: 1,
      expireInSeconds: opts.lease ?? DEFAULT_LEASE_SECONDS,
      deadLetter: FAILED_QUEUE,
      priority: opts.priority ?? 0,
    });
    return sent === null ? 'waiting' : 'queued';
  }

  /** Take the next run (a failed one to record first), or null when none is waiting. */
  async take(): Promise<TakenRun | null> {
    for (const queue of [FAILED_QUEUE, RUN_QUEUE]) {
      const jobs = await this.boss.fetch<QueuedRun>(queue, { batchSize: 1, includeMetadata: true });
      const j = jobs?.[0];
      if (!j) continue;
      const output = (j as { output?: unknown }).output as { message?: string; value?: { message?: string } } | null | undefined;
      const lastError = output?.message ?? output?.value?.message;
      return { id: j.id, queue, data: j.data, retryCount: j.retryCount, retryLimit: j.retryLimit, leaseSeconds: Number((j as { expireInSeconds?: unknown }).expireInSeconds) || DEFAULT_LEASE_SECONDS, ...(queue === FAILED_QUEUE ? { lastError: lastError ?? 'unknown error' } : {}) };
    }
    return null;
  }

  /**
   * Renew a run's lease: its active time starts again now. pg-boss 10 has no call for this; it expires an
   * active job when started_on + expire_in is past, so the renewal moves started_on (the one statement of
   * this project that writes pg-boss's table; false when the run is no longer active here).
   */
  async renewLease(run: TakenRun): Promise<boolean> {
    const db = await this.boss.getDb();
    const r = (await db.executeSql(`UPDATE ${BOSS_SCHEMA}.job SET started_on = now() WHERE name = $1 AND id = $2 AND state = 'active'`, [run.queue, run.id])) as { rowCount?: number };
    return (r.rowCount ?? 0) > 0;
  }

  async complete(run: TakenRun): Promise<void> {
    await this.boss.complete(run.queue, run.id);
  }

  async fail(run: TakenRun, error: string): Promise<void> {
    await this.boss.fail(run.queue, run.id, { message: error });
  }

  /** The state of the job of each given run key that has one (queued runs, and finished ones pg-boss still keeps). */
  async states(keys: string[]): Promise<Map<string, JobState>> {
    const ids = keys.map(jobId);
    const byId = new Map(keys.map((k, i) => [ids[i], k]));
    const db = await this.boss.getDb();
    const r = (await db.executeSql(`SELECT id::text AS id, state::text AS state FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND id = ANY($2::uuid[])`, [RUN_QUEUE, ids])) as { rows: { id: string; state: JobState }[] };
    return new Map(r.rows.map((row) => [byId.get(row.id)!, row.state]));
  }

  /** Jobs not finished yet, in both queues: waiting (created or retry) and active. */
  async unfinished(): Promise<{ waiting: number; active: number }> {
    const db = await this.boss.getDb();
    const r = (await db.executeSql(
      `SELECT count(*) FILTER (WHERE state IN ('created', 'retry')) AS waiting, count(*) FILTER (WHERE state = 'active') AS active FROM ${BOSS_SCHEMA}.job WHERE name IN ($1, $2)`,
      [RUN_QUEUE, FAILED_QUEUE],
    )) as { rows: { waiting: string; active: string }[] };
    return { waiting: Number(r.rows[0].waiting), active: Number(r.rows[0].active) };
  }

  /** Errors pg-boss reported in the background (maintenance on a lost connection), oldest first. */
  backgroundErrors(): Error[] {
    return [...this.errors];
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true, close: true }).catch(() => {});
  }
}
