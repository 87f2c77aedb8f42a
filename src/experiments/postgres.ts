/**
 * Results in PostgreSQL (the `pg` driver): the same tables and the same rules as the SQLite file of
 * store.ts, in the schema `genmeasures` of the database the URL names, so that many machines record into
 * one place (and the job queue, queue.ts, lives beside it in the schema `pgboss`).
 *
 *   - one transaction per write; a run's row, its measures and its curve are written together or not at all
 *   - writes of one run key are serialised by a transaction-level advisory lock on the key: two workers
 *     recording the same run (a lease that expired while the first still worked) give one row, the second
 *     finding it recorded ('exists')
 *   - numbers are `double precision` (the float64 the measures computed, bit for bit); the JSON columns
 *     hold the same text the SQLite file holds
 *   - migrations are versioned: meta.schema_version, each step applied once under an advisory lock, so
 *     that many workers starting at once migrate once
 *
 * Connection trouble: opening fails at once with a one-line UserError (bad URL, server down, wrong password,
 * no such database). A sink opened with `retryForMs` (workers) retries a write or read that fails because
 * the connection broke (the server restarting) for that long before giving up.
 */
import pg from 'pg';
import { UserError } from '../errors.js';
import type { MeasureReport, PacBayesPoint } from '../measures/index.js';
import { type ExperimentPlan, runKey } from './plan.js';
import type { AddMeasuresResult, PlanCounts, ResultSink } from './sink.js';
import { RUN_COLUMNS, SCHEMA_VERSION, finite, measuresAddition, parseRow, planKey, type RunRow, type StoredRun } from './store.js';

const S = 'genmeasures';

/** Versioned migrations: version → SQL. Version 2 is the first in PostgreSQL (it matches the SQLite schema 2). */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 2,
    sql: `
CREATE TABLE IF NOT EXISTS ${S}.runs (
  key             TEXT PRIMARY KEY,
  train_key       TEXT NOT NULL,
  experiment      TEXT NOT NULL,
  label           TEXT NOT NULL,
  train_size      INTEGER,
  labels          TEXT NOT NULL,
  confusion       INTEGER NOT NULL,
  width           INTEGER,
  data            TEXT NOT NULL,
  model           TEXT NOT NULL,
  seed            BIGINT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('done', 'failed')),
  converged       INTEGER,
  stop_reason     TEXT,
  epochs          INTEGER,
  m               INTEGER,
  true_count      INTEGER,
  measured_on     INTEGER,
  params          BIGINT,
  train_loss      DOUBLE PRECISION,
  train_error     DOUBLE PRECISION,
  test_loss       DOUBLE PRECISION,
  test_error      DOUBLE PRECISION,
  gen_gap         DOUBLE PRECISION,
  backend         TEXT,
  train_seconds   DOUBLE PRECISION,
  measure_seconds DOUBLE PRECISION,
  checkpoint      TEXT,
  config          TEXT NOT NULL,
  measure_options TEXT NOT NULL,
  record          TEXT,
  measures        TEXT,
  components      TEXT,
  pac_bayes_curve TEXT,
  notes           TEXT,
  timings         TEXT,
  error           TEXT,
  created_at      TEXT NOT NULL,
  finished_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON ${S}.runs (experiment, status, converged);
CREATE TABLE IF NOT EXISTS ${S}.measures (
  key   TEXT NOT NULL REFERENCES ${S}.runs (key) ON DELETE CASCADE,
  name  TEXT NOT NULL,
  value DOUBLE PRECISION,
  PRIMARY KEY (key, name)
);
CREATE INDEX IF NOT EXISTS measures_by_name ON ${S}.measures (name);
CREATE TABLE IF NOT EXISTS ${S}.pac_bayes_curve (
  key                TEXT NOT NULL REFERENCES ${S}.runs (key) ON DELETE CASCADE,
  alpha              DOUBLE PRECISION NOT NULL,
  kl                 DOUBLE PRECISION,
  expected_sharpness DOUBLE PRECISION,
  std_error          DOUBLE PRECISION,
  bound              DOUBLE PRECISION,
  PRIMARY KEY (key, alpha)
);
CREATE TABLE IF NOT EXISTS ${S}.plans (
  plan_key    TEXT PRIMARY KEY,
  experiment  TEXT NOT NULL,
  preset      TEXT NOT NULL,
  description TEXT NOT NULL,
  run_count   INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  last_run_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${S}.plan_runs (
  plan_key TEXT NOT NULL REFERENCES ${S}.plans (plan_key) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key      TEXT NOT NULL,
  label    TEXT NOT NULL,
  PRIMARY KEY (plan_key, position)
);
CREATE OR REPLACE VIEW ${S}.comparable_runs AS
  SELECT * FROM ${S}.runs WHERE status = 'done' AND converged = 1;
CREATE OR REPLACE VIEW ${S}.measure_values AS
  SELECT r.key, r.experiment, r.label, r.train_size, r.labels, r.confusion, r.width, r.seed, r.converged,
         r.train_error, r.test_error, r.gen_gap, m.name, m.value
  FROM ${S}.runs r JOIN ${S}.measures m ON m.key = r.key
  WHERE r.status = 'done';
`,
  },
];

/** The URL with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

/** SQLSTATE classes and socket errors that mean "the connection broke or the server is (re)starting". */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(code)) return true;
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  const msg = (e as Error)?.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down)/i.test(msg);
}

/** One line for a connection failure: what is wrong with the server or the URL. */
export function connectionUserError(e: unknown, url: string, option = '--db'): UserError {
  const err = e as { code?: string; message?: string };
  const where = `${option} ${redactUrl(url)}`;
  let cause: string;
  switch (err.code) {
    case 'ECONNREFUSED':
      cause = 'connection refused (is the PostgreSQL server running, and on that host and port?)';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      cause = 'unknown host';
      break;
    case 'ETIMEDOUT':
      cause = 'the connection timed out';
      break;
    case '28P01':
    case '28000':
      cause = `authentication failed (${err.message})`;
      break;
    case '3D000':
      cause = `${err.message} (create it first: createdb NAME)`;
      break;
    case '57P03':
      cause = 'the server is starting up or shutting down; try again';
      break;
    default:
      cause = (err.message ?? String(e)).split('\n')[0] || `connection failed (${err.code ?? 'unknown error'})`;
  }
  return new UserError(`${where}: ${cause}`);
}

/** Parse a postgres:// URL far enough to say what is wrong with it before connecting. */
export function checkPostgresUrl(url: string, option = '--db'): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`${option} ${redactUrl(url)}: not a valid URL (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)`);
  }
  if (!u.hostname && !u.searchParams.get('host')) throw new UserError(`${option} ${redactUrl(url)}: no host (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE)`);
  if (u.port && !(Number(u.port) > 0 && Number(u.port) < 65536)) throw new UserError(`${option} ${redactUrl(url)}: port ${u.port} is not a port number`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run fn; while it fails because the connection broke (the server restarting), try again with a growing
 * pause (0.25 s … 5 s), for up to forMs; any other error, or one past that time, is thrown.
 */
export async function retryOnLostConnection<T>(fn: () => Promise<T>, forMs: number, onLost?: (e: Error) => void): Promise<T> {
  const until = Date.now() + forMs;
  for (let wait = 250; ; wait = Math.min(5000, wait * 2)) {
    try {
      return await fn();
    } catch (e) {
      if (!isConnectionError(e) || Date.now() + wait > until) throw e;
      onLost?.(e as Error);
      await sleep(wait);
    }
  }
}

export interface PostgresOpenOptions {
  option?: string;
  /** Do not create or migrate anything; the schema must exist. */
  readonly?: boolean;
  /** Retry operations that fail on a broken connection for this long (default 0: fail at once). */
  retryForMs?: number;
}

export class PostgresSink implements ResultSink {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly pool: pg.Pool;
  private readonly retryForMs: number;

  private constructor(pool: pg.Pool, url: string, retryForMs: number) {
    this.pool = pool;
    this.location = redactUrl(url);
    this.retryForMs = retryForMs;
  }

  /** Connect, check (or create and migrate) the schema. Every failure is a one-line UserError. */
  static async open(url: string, opts: PostgresOpenOptions = {}): Promise<PostgresSink> {
    const option = opts.option ?? '--db';
    checkPostgresUrl(url, option);
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 15000, idleTimeoutMillis: 10000 });
    // an idle connection dropped by the server (a restart) must not crash the process: the next query reconnects
    pool.on('error', () => {});
    const sink = new PostgresSink(pool, url, opts.retryForMs ?? 0);
    try {
      if (opts.readonly) await sink.checkSchema(option, url);
      else await sink.migrate();
    } catch (e) {
      await pool.end().catch(() => {});
      if (e instanceof UserError) throw e;
      throw connectionUserError(e, url, option);
    }
    return sink;
  }

  private async checkSchema(option: string, url: string): Promise<void> {
    const { rows } = await this.pool.query<{ t: string | null }>(`SELECT to_regclass('${S}.meta')::text AS t`);
    if (!rows[0].t) throw new UserError(`${option} ${redactUrl(url)}: the database holds no genmeasures results (no schema "${S}"; run an experiment first: genmeasures run width --preset quick --db URL)`);
    const v = await this.pool.query<{ value: string }>(`SELECT value FROM ${S}.meta WHERE name = 'schema_version'`);
    const version = Number(v.rows[0]?.value);
    if (version !== SCHEMA_VERSION) throw new UserError(`${option} ${redactUrl(url)}: schema version ${v.rows[0]?.value ?? 'unknown'}; this genmeasures reads version ${SCHEMA_VERSION}`);
  }

  /** Create the schema and apply the migrations this version knows, once, whoever else starts at the same time. */
  private async migrate(): Promise<void> {
    await this.transaction(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtext('genmeasures-migrate'))");
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${S}.meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      const v = await c.query<{ value: string }>(`SELECT value FROM ${S}.meta WHERE name = 'schema_version'`);
      const current = v.rows.length ? Number(v.rows[0].value) : 0;
      if (current > SCHEMA_VERSION) throw new UserError(`--db: the database has genmeasures schema version ${current}; this genmeasures reads version ${SCHEMA_VERSION} (upgrade genmeasures)`);
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        await c.query(m.sql);
        await c.query(`INSERT INTO ${S}.meta (name, value) VALUES ('schema_version', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, [String(m.version)]);
      }
    }, false);
  }

  /** Run fn in a transaction; retried from the start when the connection breaks (if retryForMs allows). */
  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>, retry = true): Promise<T> {
    return this.retrying(async () => {
      const c = await this.pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (e) {
        broken = isConnectionError(e);
        if (!broken) await c.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        c.release(broken);
      }
    }, retry);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.retrying(async () => (await this.pool.query<R>(sql, params)).rows);
  }

  private async retrying<T>(fn: () => Promise<T>, retry = true): Promise<T> {
    return retryOnLostConnection(fn, retry ? this.retryForMs : 0);
  }

  async registerPlan(plan: ExperimentPlan): Promise<string> {
    const key = planKey(plan);
    const now = new Date().toISOString();
    await this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`plan:${key}`]);
      const exists = await c.query(`SELECT 1 FROM ${S}.plans WHERE plan_key = $1`, [key]);
      if (exists.rowCount) {
        await c.query(`UPDATE ${S}.plans SET last_run_at = $1 WHERE plan_key = $2`, [now, key]);
        return;
      }
      await c.query(`INSERT INTO ${S}.plans (plan_key, experiment, preset, description, run_count, created_at, last_run_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        key, plan.experiment, plan.preset, plan.description, plan.runs.length, now, now,
      ]);
      const keys = plan.runs.map(runKey);
      await c.query(`INSERT INTO ${S}.plan_runs (plan_key, position, key, label) SELECT $1, p - 1, k, l FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(k, l, p)`, [
        key, keys, plan.runs.map((r) => r.label),
      ]);
    });
    return key;
  }

  async statuses(keys: string[]): Promise<Map<string, 'done' | 'failed'>> {
    const rows = await this.query<{ key: string; status: 'done' | 'failed' }>(`SELECT key, status FROM ${S}.runs WHERE key = ANY($1::text[])`, [keys]);
    return new Map(rows.map((r) => [r.key, r.status]));
  }

  async measureNames(keys: string[]): Promise<Map<string, string[]>> {
    const rows = await this.query<{ key: string; measures: string | null }>(`SELECT key, measures FROM ${S}.runs WHERE key = ANY($1::text[]) AND status = 'done'`, [keys]);
    return new Map(rows.map((r) => [r.key, Object.keys(JSON.parse(r.measures ?? '{}') as object)]));
  }

  async recordDone(row: RunRow): Promise<'inserted' | 'exists'> {
    if (row.status !== 'done') throw new Error('recordDone needs a done row');
    return this.transaction(async (c) => {
      if (!(await replaceUnlessDone(c, row))) return 'exists';
      const measures = JSON.parse(row.measures ?? '{}') as Record<string, number | null>;
      const names = Object.keys(measures);
      if (names.length) {
        await c.query(`INSERT INTO ${S}.measures (key, name, value) SELECT $1, n, v FROM unnest($2::text[], $3::float8[]) AS t(n, v)`, [row.key, names, names.map((n) => measures[n])]);
      }
      await insertCurve(c, row.key, JSON.parse(row.pac_bayes_curve ?? '[]') as PacBayesPoint[]);
      return 'inserted';
    });
  }

  async recordFailed(row: RunRow): Promise<'inserted' | 'exists'> {
    return this.transaction(async (c) => ((await replaceUnlessDone(c, row)) ? 'inserted' : 'exists'));
  }

  async addMeasures(key: string, report: MeasureReport, measureSeconds: number): Promise<AddMeasuresResult> {
    return this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      const { rows } = await c.query<RunRow>(`SELECT * FROM ${S}.runs WHERE key = $1`, [key]);
      const row = rows[0];
      if (!row || row.status !== 'done') throw new Error(`run ${key} is not recorded as done: no measures can be added to it`);
      const a = measuresAddition(row, report);
      if (a.added.length === 0) return { result: 'exists', added: a.added, measures: a.measures };
      await c.query(
        `UPDATE ${S}.runs SET measures = $1, components = $2, notes = $3, timings = $4, pac_bayes_curve = $5, measure_options = $6, measure_seconds = coalesce(measure_seconds, 0) + $7 WHERE key = $8`,
        [a.row.measures, a.row.components, a.row.notes, a.row.timings, a.row.pac_bayes_curve, a.row.measure_options, measureSeconds, key],
      );
      await c.query(
        `INSERT INTO ${S}.measures (key, name, value) SELECT $1, n, v FROM unnest($2::text[], $3::float8[]) AS t(n, v) ON CONFLICT (key, name) DO UPDATE SET value = EXCLUDED.value`,
        [key, a.added, a.added.map((n) => a.measures[n])],
      );
      if (a.newCurve) await insertCurve(c, key, a.newCurve);
      return { result: 'updated', added: a.added, measures: a.measures };
    });
  }

  async listRuns(filter: { experiment?: string; status?: 'done' | 'failed' } = {}): Promise<StoredRun[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.experiment) {
      params.push(filter.experiment);
      where.push(`experiment = $${params.length}`);
    }
    if (filter.status) {
      params.push(filter.status);
      where.push(`status = $${params.length}`);
    }
    // the same order as SQLite's (byte order of the text, not the database's collation)
    const sql = `SELECT * FROM ${S}.runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY experiment COLLATE "C", finished_at COLLATE "C", key COLLATE "C"`;
    return (await this.query<RunRow>(sql, params)).map((r) => parseRow(normalise(r)));
  }

  async count(): Promise<{ done: number; failed: number }> {
    const rows = await this.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${S}.runs GROUP BY status`);
    return { done: Number(rows.find((r) => r.status === 'done')?.n ?? 0), failed: Number(rows.find((r) => r.status === 'failed')?.n ?? 0) };
  }

  async plans(): Promise<PlanCounts[]> {
    const rows = await this.query<{ plan_key: string; experiment: string; preset: string; run_count: number; created_at: string; last_run_at: string; keys: string[] }>(
      `SELECT p.plan_key, p.experiment, p.preset, p.run_count, p.created_at, p.last_run_at,
              array(SELECT key FROM ${S}.plan_runs r WHERE r.plan_key = p.plan_key ORDER BY position) AS keys
       FROM ${S}.plans p ORDER BY p.created_at, p.plan_key`,
    );
    return rows.map((p) => ({ planKey: p.plan_key, experiment: p.experiment, preset: p.preset, runCount: p.run_count, createdAt: p.created_at, lastRunAt: p.last_run_at, keys: p.keys }));
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

/** BIGINT columns come back as text: numbers, as SQLite gives them. */
function normalise(r: RunRow): RunRow {
  const out = { ...r } as Record<string, unknown>;
  for (const c of ['seed', 'params'] as const) if (typeof out[c] === 'string') out[c] = Number(out[c]);
  return out as unknown as RunRow;
}

/**
 * Inside a transaction: lock the run's key, and unless it is recorded as done, replace its row (a failed
 * one) with `row`. False when it is done: a finished run is never replaced.
 */
async function replaceUnlessDone(c: pg.PoolClient, row: RunRow): Promise<boolean> {
  await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [row.key]);
  const existing = await c.query<{ status: string }>(`SELECT status FROM ${S}.runs WHERE key = $1`, [row.key]);
  if (existing.rows[0]?.status === 'done') return false;
  if (existing.rowCount) await c.query(`DELETE FROM ${S}.runs WHERE key = $1`, [row.key]);
  await insertRow(c, row);
  return true;
}

async function insertRow(c: pg.PoolClient, row: RunRow): Promise<void> {
  const cols = RUN_COLUMNS.join(', ');
  const params = RUN_COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
  await c.query(`INSERT INTO ${S}.runs (${cols}) VALUES (${params})`, RUN_COLUMNS.map((k) => row[k]));
}

async function insertCurve(c: pg.PoolClient, key: string, curve: PacBayesPoint[]): Promise<void> {
  if (curve.length === 0) return;
  await c.query(
    `INSERT INTO ${S}.pac_bayes_curve (key, alpha, kl, expected_sharpness, std_error, bound)
     SELECT $1, a, k, e, s, b FROM unnest($2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[]) AS t(a, k, e, s, b)
     ON CONFLICT (key, alpha) DO UPDATE SET kl = EXCLUDED.kl, expected_sharpness = EXCLUDED.expected_sharpness, std_error = EXCLUDED.std_error, bound = EXCLUDED.bound`,
    [key, curve.map((p) => p.alpha), curve.map((p) => finite(p.kl)), curve.map((p) => finite(p.expected_sharpness)), curve.map((p) => finite(p.std_error)), curve.map((p) => finite(p.bound))],
  );
}
