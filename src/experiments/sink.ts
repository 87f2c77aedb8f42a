/**
 * The result sink of a sweep: where finished runs are recorded and read back. Two kinds, one contract:
 *
 *   - a SQLite file (store.ts, the embedded default: `--db runs/genmeasures.db`)
 *   - a PostgreSQL database (postgres.ts: `--db postgres://user:password@host/db`, or DATABASE_URL), which
 *     many machines share, with the job queue of queue.ts beside it
 *
 * Both hold the same tables with the same meaning: one row per run keyed by its configuration (plan.ts
 * runKey), written in one transaction with its measures and curve when the run is complete; a 'done' row is
 * never replaced; a 'failed' row is replaced by a later success; measures a later sweep asks for are added
 * to a 'done' row in place.
 *
 * The contract is asynchronous (a PostgreSQL round trip is), the SQLite sink answers at once.
 */
import type { MeasureReport } from '../measures/index.js';
import type { ExperimentPlan } from './plan.js';
import { Store, type OpenOptions, type RunRow, type StoredRun } from './store.js';

export interface AddMeasuresResult {
  result: 'updated' | 'exists';
  added: string[];
  measures: Record<string, number | null>;
}

/** Counts of one sweep registered in the sink: its runs recorded as done and as failed. */
export interface PlanCounts {
  planKey: string;
  experiment: string;
  preset: string;
  runCount: number;
  createdAt: string;
  lastRunAt: string;
  /** The run keys of the plan, in plan order. */
  keys: string[];
}

export interface ResultSink {
  /** How messages name it: the file, or the URL without its password. */
  readonly location: string;
  readonly kind: 'sqlite' | 'postgres';
  registerPlan(plan: ExperimentPlan): Promise<string>;
  statuses(keys: string[]): Promise<Map<string, 'done' | 'failed'>>;
  measureNames(keys: string[]): Promise<Map<string, string[]>>;
  recordDone(row: RunRow): Promise<'inserted' | 'exists'>;
  recordFailed(row: RunRow): Promise<'inserted' | 'exists'>;
  addMeasures(key: string, report: MeasureReport, measureSeconds: number): Promise<AddMeasuresResult>;
  listRuns(filter?: { experiment?: string; status?: 'done' | 'failed' }): Promise<StoredRun[]>;
  count(): Promise<{ done: number; failed: number }>;
  /** Every registered sweep, oldest first. */
  plans(): Promise<PlanCounts[]>;
  close(): Promise<void>;
}

/** Whether a --db value names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The SQLite file as a ResultSink (store.ts does the work, synchronously). */
export class SqliteSink implements ResultSink {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly store: Store;

  constructor(store: Store) {
    this.store = store;
    this.location = store.file;
  }

  static open(file: string, opts: OpenOptions = {}): SqliteSink {
    return new SqliteSink(Store.open(file, opts));
  }

  async registerPlan(plan: ExperimentPlan) {
    return this.store.registerPlan(plan);
  }
  async statuses(keys: string[]) {
    return this.store.statuses(keys);
  }
  async measureNames(keys: string[]) {
    return this.store.measureNames(keys);
  }
  async recordDone(row: RunRow) {
    return this.store.recordDone(row);
  }
  async recordFailed(row: RunRow) {
    return this.store.recordFailed(row);
  }
  async addMeasures(key: string, report: MeasureReport, measureSeconds: number) {
    return this.store.addMeasures(key, report, measureSeconds);
  }
  async listRuns(filter: { experiment?: string; status?: 'done' | 'failed' } = {}) {
    return this.store.listRuns(filter);
  }
  async count() {
    return this.store.count();
  }
  async plans(): Promise<PlanCounts[]> {
    return this.store.plans();
  }
  async close() {
    this.store.close();
  }
}

/**
 * Open the results of a --db value: a PostgreSQL URL opens (and migrates) that database; anything else is
 * a SQLite file (store.ts rules: created unless mustExist; read-only opens never write).
 */
export async function openResults(db: string, opts: OpenOptions = {}): Promise<ResultSink> {
  if (isPostgresUrl(db)) {
    const { PostgresSink } = await import('./postgres.js');
    return PostgresSink.open(db, { option: opts.option ?? '--db', readonly: opts.readonly ?? !!opts.mustExist });
  }
  return SqliteSink.open(db, opts);
}
