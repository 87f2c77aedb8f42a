/**
 * The results database: one SQLite file (better-sqlite3), default runs/genmeasures.db, with the run
 * checkpoints beside it in checkpoints/<train key>/. One row per run in `runs`, keyed by the SHA-256 of
 * its full configuration (plan.ts runKey); its measures also in long form in `measures`, its PAC-Bayes
 * curve in `pac_bayes_curve`. The schema is documented in docs/experiments.md.
 *
 * Concurrency: WAL journal, a busy timeout, and every write one IMMEDIATE transaction, so that several
 * worker processes can record runs at once. A row is written only when its run is complete (training,
 * every measure), in one transaction with its measures and curve: a killed process leaves either the
 * whole row or nothing. A finished ('done') row is never replaced; a 'failed' row is replaced when the run
 * is retried and succeeds. A 'done' row that lacks measures a later sweep asks for gets them added in
 * place (addMeasures), in one transaction.
 *
 * Schema versions: 1 keyed runs by {experiment, config, measureOptions} with the measure list; 2 leaves
 * the list out (plan.ts runKey). A writing open of a version-1 file migrates it in one transaction
 * (migrateKeys); a read-only open migrates an in-memory copy and leaves the file as it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../errors.js';
import { MEASURE_NAMES, type MeasureReport, type PacBayesPoint } from '../measures/index.js';
import type { RunRecord } from '../train/run.js';
import { canonicalJson, type ExperimentPlan, type RunSpec, runKey, trainKey } from './plan.js';
import { createHash } from 'node:crypto';

export const SCHEMA_VERSION = 2;
export const DEFAULT_DB = path.join('runs', 'genmeasures.db');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
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
  seed            INTEGER NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('done', 'failed')),
  converged       INTEGER,
  stop_reason     TEXT,
  epochs          INTEGER,
  m               INTEGER,
  true_count      INTEGER,
  measured_on     INTEGER,
  params          INTEGER,
  train_loss      REAL,
  train_error     REAL,
  test_loss       REAL,
  test_error      REAL,
  gen_gap         REAL,
  backend         TEXT,
  train_seconds   REAL,
  measure_seconds REAL,
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
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, status, converged);
CREATE TABLE IF NOT EXISTS measures (
  key   TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
  name  TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (key, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS measures_by_name ON measures (name);
CREATE TABLE IF NOT EXISTS pac_bayes_curve (
  key                TEXT NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
  alpha              REAL NOT NULL,
  kl                 REAL,
  expected_sharpness REAL,
  std_error          REAL,
  bound              REAL,
  PRIMARY KEY (key, alpha)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (
  plan_key    TEXT PRIMARY KEY,
  experiment  TEXT NOT NULL,
  preset      TEXT NOT NULL,
  description TEXT NOT NULL,
  run_count   INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  last_run_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_runs (
  plan_key TEXT NOT NULL REFERENCES plans (plan_key) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  key      TEXT NOT NULL,
  label    TEXT NOT NULL,
  PRIMARY KEY (plan_key, position)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS comparable_runs AS
  SELECT * FROM runs WHERE status = 'done' AND converged = 1;
CREATE VIEW IF NOT EXISTS measure_values AS
  SELECT r.key, r.experiment, r.label, r.train_size, r.labels, r.confusion, r.width, r.seed, r.converged,
         r.train_error, r.test_error, r.gen_gap, m.name, m.value
  FROM runs r JOIN measures m ON m.key = r.key
  WHERE r.status = 'done';
`;

/** The columns of `runs`, in table order. */
export interface RunRow {
  key: string;
  train_key: string;
  experiment: string;
  label: string;
  train_size: number | null;
  labels: string;
  confusion: number;
  width: number | null;
  data: string;
  model: string;
  seed: number;
  status: 'done' | 'failed';
  converged: number | null;
  stop_reason: string | null;
  epochs: number | null;
  m: number | null;
  true_count: number | null;
  measured_on: number | null;
  params: number | null;
  train_loss: number | null;
  train_error: number | null;
  test_loss: number | null;
  test_error: number | null;
  gen_gap: number | null;
  backend: string | null;
  train_seconds: number | null;
  measure_seconds: number | null;
  checkpoint: string | null;
  config: string;
  measure_options: string;
  record: string | null;
  measures: string | null;
  components: string | null;
  pac_bayes_curve: string | null;
  notes: string | null;
  timings: string | null;
  error: string | null;
  created_at: string;
  finished_at: string;
}

export const RUN_COLUMNS: (keyof RunRow)[] = [
  'key', 'train_key', 'experiment', 'label', 'train_size', 'labels', 'confusion', 'width', 'data', 'model', 'seed',
  'status', 'converged', 'stop_reason', 'epochs', 'm', 'true_count', 'measured_on', 'params',
  'train_loss', 'train_error', 'test_loss', 'test_error', 'gen_gap', 'backend', 'train_seconds', 'measure_seconds',
  'checkpoint', 'config', 'measure_options', 'record', 'measures', 'components', 'pac_bayes_curve', 'notes', 'timings',
  'error', 'created_at', 'finished_at',
];

/** A run as read back: the row with its JSON columns parsed. */
export interface StoredRun extends Omit<RunRow, 'config' | 'measure_options' | 'record' | 'measures' | 'components' | 'pac_bayes_curve' | 'notes' | 'timings'> {
  config: Record<string, unknown>;
  measure_options: Record<string, unknown>;
  record: RunRecord | null;
  measures: Record<string, number | null> | null;
  components: Record<string, unknown> | null;
  pac_bayes_curve: PacBayesPoint[] | null;
  notes: string[] | null;
  timings: Record<string, number> | null;
}

const JSON_COLUMNS = ['config', 'measure_options', 'record', 'measures', 'components', 'pac_bayes_curve', 'notes', 'timings'] as const;

/** The columns shared by done and failed rows: who the run is. */
function identity(spec: RunSpec): Pick<RunRow, 'key' | 'train_key' | 'experiment' | 'label' | 'train_size' | 'labels' | 'confusion' | 'width' | 'data' | 'model' | 'seed' | 'config' | 'measure_options'> {
  return {
    key: runKey(spec),
    train_key: trainKey(spec.config),
    experiment: spec.experiment,
    label: spec.label,
    train_size: spec.size,
    labels: spec.labels,
    confusion: spec.confusion,
    width: spec.width,
    data: spec.config.data,
    model: spec.config.model,
    seed: spec.config.seed,
    config: canonicalJson(spec.config),
    measure_options: canonicalJson(spec.measureOptions),
  };
}

const EMPTY_RESULT = {
  converged: null, stop_reason: null, epochs: null, m: null, true_count: null, measured_on: null, params: null,
  train_loss: null, train_error: null, test_loss: null, test_error: null, gen_gap: null, backend: null,
  train_seconds: null, measure_seconds: null, checkpoint: null, record: null, measures: null, components: null,
  pac_bayes_curve: null, notes: null, timings: null, error: null,
};

/** The row of a finished run. */
export function doneRow(
  spec: RunSpec,
  record: RunRecord,
  report: MeasureReport,
  info: { measuredOn: number; measureSeconds: number; checkpoint: string; createdAt: string },
): RunRow {
  const f = record.final;
  return {
    ...identity(spec),
    status: 'done',
    converged: record.converged ? 1 : 0,
    stop_reason: record.stopReason,
    epochs: record.epochs,
    m: record.data.m,
    true_count: record.data.trueCount,
    measured_on: info.measuredOn,
    params: record.model.params,
    train_loss: f.trainLoss,
    train_error: f.trainError,
    test_loss: f.testLoss,
    test_error: f.testError,
    gen_gap: f.testError === null ? null : f.testError - f.trainError,
    backend: record.backend,
    train_seconds: record.seconds,
    measure_seconds: info.measureSeconds,
    checkpoint: info.checkpoint,
    record: JSON.stringify(record),
    measures: JSON.stringify(report.measures),
    components: JSON.stringify(report.components),
    pac_bayes_curve: JSON.stringify(report.pac_bayes_curve),
    notes: JSON.stringify(report.notes),
    timings: JSON.stringify(report.timings_ms),
    error: null,
    created_at: info.createdAt,
    finished_at: new Date().toISOString(),
  };
}

/** The row of a run that failed (a bug or a crash, not bad input): kept with its error, retried next time. */
export function failedRow(spec: RunSpec, error: string, createdAt: string): RunRow {
  return { ...identity(spec), ...EMPTY_RESULT, status: 'failed', error, created_at: createdAt, finished_at: new Date().toISOString() };
}

export function planKey(plan: ExperimentPlan): string {
  return planKeyOf(plan.experiment, plan.preset, plan.runs.map(runKey));
}

function planKeyOf(experiment: string, preset: string, keys: string[]): string {
  return createHash('sha256').update(canonicalJson({ experiment, preset, runs: keys })).digest('hex');
}

/** Rank of a measure name in output order (unknown names after the known ones). */
const measureRank = (n: string) => {
  const i = MEASURE_NAMES.indexOf(n);
  return i < 0 ? MEASURE_NAMES.length : i;
};

/** Measure names in output order (stable for names the registry does not know). */
function inMeasureOrder(names: string[]): string[] {
  return [...names].sort((a, b) => measureRank(a) - measureRank(b));
}

/**
 * Schema 1 → 2, inside the caller's transaction: recompute every row's key from its stored experiment,
 * config and measure options with the current runKey (which leaves the measure list out), in `runs`,
 * `measures`, `pac_bayes_curve` and `plan_runs`, and the plan keys from their runs' keys.
 *
 * Rows that differed only by their measure list now share a key: one is kept — a 'done' row over a
 * 'failed' one, then the one with the most measures, then the most recently finished — and the others
 * are deleted (their checkpoint is the same; the next sweep adds any measure the kept row lacks from it).
 * Plans that now have the same key are merged into the oldest. plan_runs entries of runs that were never
 * recorded keep their old key (there is no row to recompute it from; they match nothing, as before).
 */
export function migrateKeys(db: Database.Database): { rows: number; dropped: number } {
  db.pragma('defer_foreign_keys = ON'); // keys change in parents and children: checked at commit
  type Old = { key: string; experiment: string; config: string; measure_options: string; status: string; measures: string | null; finished_at: string };
  const rows = db.prepare('SELECT key, experiment, config, measure_options, status, measures, finished_at FROM runs').all() as Old[];
  const groups = new Map<string, Old[]>();
  const newKey = new Map<string, string>();
  for (const r of rows) {
    const k = runKey({ experiment: r.experiment, config: JSON.parse(r.config), measureOptions: JSON.parse(r.measure_options) });
    newKey.set(r.key, k);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const count = (r: Old) => Object.keys(JSON.parse(r.measures ?? '{}')).length;
  const del = ['DELETE FROM measures WHERE key = ?', 'DELETE FROM pac_bayes_curve WHERE key = ?', 'DELETE FROM runs WHERE key = ?'].map((q) => db.prepare(q));
  const upd = ['UPDATE runs SET key = ? WHERE key = ?', 'UPDATE measures SET key = ? WHERE key = ?', 'UPDATE pac_bayes_curve SET key = ? WHERE key = ?', 'UPDATE plan_runs SET key = ? WHERE key = ?'].map((q) => db.prepare(q));
  let dropped = 0;
  const winners: Old[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => Number(b.status === 'done') - Number(a.status === 'done') || count(b) - count(a) || b.finished_at.localeCompare(a.finished_at) || a.key.localeCompare(b.key));
    winners.push(group[0]);
    for (const loser of group.slice(1)) {
      for (const d of del) d.run(loser.key);
      dropped++;
    }
  }
  for (const w of winners) {
    const k = newKey.get(w.key)!;
    if (k !== w.key) for (const u of upd.slice(0, 3)) u.run(k, w.key);
  }
  for (const [old, k] of newKey) if (old !== k) upd[3].run(k, old);
  // plan keys are hashes of their runs' keys
  const plans = db.prepare('SELECT plan_key, experiment, preset, created_at, last_run_at FROM plans ORDER BY created_at, plan_key').all() as { plan_key: string; experiment: string; preset: string; created_at: string; last_run_at: string }[];
  const keysOf = db.prepare<[string], { key: string }>('SELECT key FROM plan_runs WHERE plan_key = ? ORDER BY position');
  for (const p of plans) {
    const k = planKeyOf(p.experiment, p.preset, keysOf.all(p.plan_key).map((r) => r.key));
    if (k === p.plan_key) continue;
    const existing = db.prepare<[string], { last_run_at: string }>('SELECT last_run_at FROM plans WHERE plan_key = ?').get(k);
    if (existing) {
      // the same sweep run before with another measure list: one plan, last run at the later time
      if (p.last_run_at > existing.last_run_at) db.prepare('UPDATE plans SET last_run_at = ? WHERE plan_key = ?').run(p.last_run_at, k);
      db.prepare('DELETE FROM plan_runs WHERE plan_key = ?').run(p.plan_key);
      db.prepare('DELETE FROM plans WHERE plan_key = ?').run(p.plan_key);
    } else {
      db.prepare('UPDATE plans SET plan_key = ? WHERE plan_key = ?').run(k, p.plan_key);
      db.prepare('UPDATE plan_runs SET plan_key = ? WHERE plan_key = ?').run(k, p.plan_key);
    }
  }
  db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
  return { rows: rows.length, dropped };
}

/** Merge two `components` objects: the old values win; objects one level down (e.g. log10) are merged. */
function mergeComponents(old: Record<string, unknown>, add: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...add, ...old };
  const plain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  for (const k of Object.keys(add)) if (plain(old[k]) && plain(add[k])) out[k] = { ...add[k], ...old[k] };
  return out;
}

/**
 * What adding a report's measures to a 'done' row changes (the same for every sink): the measures the row
 * lacks are merged into its measures, components, notes, timings and curve (a measure the row already
 * has — e.g. added meanwhile by another process — is left as it is), and its measure list is extended.
 * `added` is empty when nothing was missing any more; `newCurve` is set when the row had no curve.
 */
export function measuresAddition(row: RunRow, report: MeasureReport): {
  added: string[];
  measures: Record<string, number | null>;
  row: Pick<RunRow, 'measures' | 'components' | 'notes' | 'timings' | 'pac_bayes_curve' | 'measure_options'>;
  newCurve: PacBayesPoint[] | null;
} {
  const old = JSON.parse(row.measures ?? '{}') as Record<string, number | null>;
  const added = inMeasureOrder(Object.keys(report.measures).filter((n) => !(n in old)));
  const merged: Record<string, number | null> = {};
  for (const n of inMeasureOrder([...Object.keys(old), ...added])) merged[n] = n in old ? old[n] : report.measures[n];
  const notes = JSON.parse(row.notes ?? '[]') as string[];
  for (const n of report.notes) if (!notes.includes(n)) notes.push(n);
  const timings = JSON.parse(row.timings ?? '{}') as Record<string, number>;
  for (const n of added) if (n in report.timings_ms) timings[n] = report.timings_ms[n];
  let curve = JSON.parse(row.pac_bayes_curve ?? '[]') as PacBayesPoint[];
  const newCurve = curve.length === 0 && report.pac_bayes_curve.length > 0;
  if (newCurve) curve = report.pac_bayes_curve;
  const options = JSON.parse(row.measure_options) as Record<string, unknown>;
  options.measures = inMeasureOrder([...new Set([...((options.measures as string[] | undefined) ?? []), ...added])]);
  return {
    added,
    measures: added.length ? merged : old,
    row: {
      measures: JSON.stringify(merged),
      components: JSON.stringify(mergeComponents(JSON.parse(row.components ?? '{}') as Record<string, unknown>, report.components)),
      notes: JSON.stringify(notes),
      timings: JSON.stringify(timings),
      pac_bayes_curve: JSON.stringify(curve),
      measure_options: canonicalJson(options),
    },
    newCurve: newCurve ? curve : null,
  };
}

/** A curve value as stored: non-finite numbers (an infinite bound) become NULL. */
export const finite = (v: number) => (Number.isFinite(v) ? v : null);

/** The checkpoints folder of a database: beside it. */
export function checkpointsDir(dbFile: string): string {
  return path.join(path.dirname(path.resolve(dbFile)), 'checkpoints');
}

export interface OpenOptions {
  /** Fail with a UserError (naming `option`) if the file does not exist, instead of creating it. */
  mustExist?: boolean;
  /**
   * Open read-only (default: mustExist): nothing is ever written to the file, not even the schema or the
   * journal mode, and a file that is not a genmeasures results database is refused as it is.
   */
  readonly?: boolean;
  option?: string;
  /** Busy timeout in ms (default 60 s). */
  busyTimeoutMs?: number;
}

/**
 * Why the open database is not a genmeasures results database of this version, or null if it is one
 * (or holds no table at all: a new, empty database). Only reads.
 */
function schemaProblem(db: Database.Database, file: string, option: string): UserError | 'empty' | 'migrate' | null {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  if (tables.length === 0) return 'empty';
  const columns = (table: string) => new Set((db.prepare(`PRAGMA table_info(${JSON.stringify(table)})`).all() as { name: string }[]).map((c) => c.name));
  const listed = tables.length <= 6 ? tables.join(', ') : `${tables.slice(0, 6).join(', ')}, …`;
  const foreign = (why: string) => new UserError(`${option}: ${file} is not a genmeasures results database (${why}; its tables: ${listed})`);
  if (!tables.includes('meta')) return foreign('no "meta" table');
  const metaCols = columns('meta');
  if (!metaCols.has('name') || !metaCols.has('value')) return foreign('its "meta" table is not genmeasures\'');
  const version = db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get() as { value: string } | undefined;
  if (!version) return foreign('no schema_version in its "meta" table');
  const old = Number(version.value) === 1; // keys with the measure list: migrated on open
  if (!old && Number(version.value) !== SCHEMA_VERSION) return new UserError(`${option}: ${file} has schema version ${version.value}; this genmeasures reads version ${SCHEMA_VERSION}`);
  if (!tables.includes('runs')) return foreign('no "runs" table');
  const runCols = columns('runs');
  const missing = RUN_COLUMNS.filter((c) => !runCols.has(c));
  if (missing.length > 0) return foreign(`its "runs" table lacks the column${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  return old ? 'migrate' : null;
}

export class Store {
  readonly db: Database.Database;
  readonly file: string;

  private constructor(db: Database.Database, file: string) {
    this.db = db;
    this.file = file;
  }

  /**
   * Open (or, unless mustExist, create) a results database. An existing file must be a genmeasures
   * results database of this schema version: any other SQLite database (another application's) is a
   * one-line UserError and is left exactly as it was. Read-only opens (export, report, --dry-run) never
   * write to the file: a 0-byte or table-less file is refused, not turned into a database.
   */
  static open(file: string, opts: OpenOptions = {}): Store {
    const option = opts.option ?? '--db';
    const readonly = opts.readonly ?? !!opts.mustExist;
    if (opts.mustExist || readonly) {
      if (!fs.existsSync(file)) throw new UserError(`${option}: ${file} does not exist (run an experiment first: genmeasures run width --preset quick --db ${file})`);
      if (fs.statSync(file).isDirectory()) throw new UserError(`${option}: ${file} is a folder, not a database file`);
      if (readonly && fs.statSync(file).size === 0) throw new UserError(`${option}: ${file} is an empty file (0 bytes), not a genmeasures results database`);
    } else {
      try {
        fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      } catch (e) {
        throw new UserError(`${option}: cannot create the folder of ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`${option}: ${file} is a folder, not a database file`);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { readonly, fileMustExist: !!opts.mustExist || readonly, timeout: opts.busyTimeoutMs ?? 60000 });
    } catch (e) {
      throw new UserError(`${option}: cannot open ${file} as a database (${(e as Error).message})`);
    }
    try {
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 60000}`);
      // Look before writing anything (the journal mode and the schema are writes).
      const problem = retryBusy(() => schemaProblem(db, file, option));
      if (problem instanceof UserError) throw problem;
      if (readonly) {
        if (problem === 'empty') throw new UserError(`${option}: ${file} is a SQLite database without any table, not a genmeasures results database`);
        if (problem === 'migrate') {
          // an old file read without writing: migrate a copy in memory
          const image = db.serialize();
          image[18] = image[19] = 1; // a WAL-mode header would make the in-memory copy unwritable
          const copy = new Database(image);
          db.close();
          db = copy;
          db.pragma('foreign_keys = ON');
          db.transaction(() => migrateKeys(db)).immediate();
        }
      } else {
        retryBusy(() => db.pragma('journal_mode = WAL'));
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        db.transaction(() => {
          db.exec(SCHEMA);
          db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
          // looked at again inside the transaction: another process may have migrated the file meanwhile
          const v = db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get() as { value: string };
          if (Number(v.value) === 1) migrateKeys(db);
        }).immediate();
      }
    } catch (e) {
      db.close();
      if (e instanceof UserError) throw e;
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new UserError(`${option}: ${file} is not a SQLite database`);
      throw e;
    }
    return new Store(db, file);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Status of every given key that has a row ('done' or 'failed'). */
  statuses(keys: string[]): Map<string, 'done' | 'failed'> {
    const out = new Map<string, 'done' | 'failed'>();
    const stmt = this.db.prepare<[string], { status: 'done' | 'failed' }>('SELECT status FROM runs WHERE key = ?');
    for (const k of keys) {
      const r = stmt.get(k);
      if (r) out.set(k, r.status);
    }
    return out;
  }

  /** The measure names of every given key that has a 'done' row. */
  measureNames(keys: string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const stmt = this.db.prepare<[string], { measures: string | null }>("SELECT measures FROM runs WHERE key = ? AND status = 'done'");
    for (const k of keys) {
      const r = stmt.get(k);
      if (r) out.set(k, Object.keys(JSON.parse(r.measures ?? '{}') as object));
    }
    return out;
  }

  /**
   * Add measures to a 'done' row, in one transaction: the report's measures that the row lacks are
   * merged into its measures, components, notes, timings and curve (a measure the row already has —
   * e.g. added meanwhile by another process — is left as it is), its measure list and measure time
   * updated, and the new values written to `measures`. 'exists' when nothing was missing any more.
   */
  addMeasures(key: string, report: MeasureReport, measureSeconds: number): { result: 'updated' | 'exists'; added: string[]; measures: Record<string, number | null> } {
    const db = this.db;
    return db.transaction(() => {
      const row = db.prepare<[string], RunRow>('SELECT * FROM runs WHERE key = ?').get(key);
      if (!row || row.status !== 'done') throw new Error(`run ${key} is not recorded as done: no measures can be added to it`);
      const a = measuresAddition(row, report);
      if (a.added.length === 0) return { result: 'exists' as const, added: a.added, measures: a.measures };
      db.prepare('UPDATE runs SET measures = ?, components = ?, notes = ?, timings = ?, pac_bayes_curve = ?, measure_options = ?, measure_seconds = coalesce(measure_seconds, 0) + ? WHERE key = ?').run(
        a.row.measures, a.row.components, a.row.notes, a.row.timings, a.row.pac_bayes_curve, a.row.measure_options, measureSeconds, key,
      );
      const m = db.prepare('INSERT OR REPLACE INTO measures (key, name, value) VALUES (?, ?, ?)');
      for (const n of a.added) m.run(key, n, a.measures[n]);
      if (a.newCurve) {
        const c = db.prepare('INSERT OR REPLACE INTO pac_bayes_curve (key, alpha, kl, expected_sharpness, std_error, bound) VALUES (?, ?, ?, ?, ?, ?)');
        for (const p of a.newCurve) c.run(key, p.alpha, finite(p.kl), finite(p.expected_sharpness), finite(p.std_error), finite(p.bound));
      }
      return { result: 'updated' as const, added: a.added, measures: a.measures };
    }).immediate();
  }

  /**
   * Record a finished run: the row, its measures and its curve, in one transaction. A run that is
   * already 'done' is left as it is ('exists'); a 'failed' row is replaced.
   */
  recordDone(row: RunRow): 'inserted' | 'exists' {
    if (row.status !== 'done') throw new Error('recordDone needs a done row');
    const db = this.db;
    return db.transaction((): 'inserted' | 'exists' => {
      const existing = db.prepare<[string], { status: string }>('SELECT status FROM runs WHERE key = ?').get(row.key);
      if (existing?.status === 'done') return 'exists';
      if (existing) db.prepare('DELETE FROM runs WHERE key = ?').run(row.key);
      this.insertRow(row);
      const measures = JSON.parse(row.measures ?? '{}') as Record<string, number | null>;
      const m = db.prepare('INSERT INTO measures (key, name, value) VALUES (?, ?, ?)');
      for (const [name, value] of Object.entries(measures)) m.run(row.key, name, value);
      const curve = JSON.parse(row.pac_bayes_curve ?? '[]') as PacBayesPoint[];
      const c = db.prepare('INSERT OR REPLACE INTO pac_bayes_curve (key, alpha, kl, expected_sharpness, std_error, bound) VALUES (?, ?, ?, ?, ?, ?)');
      for (const p of curve) c.run(row.key, p.alpha, finite(p.kl), finite(p.expected_sharpness), finite(p.std_error), finite(p.bound));
      return 'inserted';
    }).immediate();
  }

  /** Record a failed run, unless the run is already done (a concurrent or earlier success wins). */
  recordFailed(row: RunRow): 'inserted' | 'exists' {
    const db = this.db;
    return db.transaction((): 'inserted' | 'exists' => {
      const existing = db.prepare<[string], { status: string }>('SELECT status FROM runs WHERE key = ?').get(row.key);
      if (existing?.status === 'done') return 'exists';
      if (existing) db.prepare('DELETE FROM runs WHERE key = ?').run(row.key);
      this.insertRow(row);
      return 'inserted';
    }).immediate();
  }

  private insertRow(row: RunRow): void {
    const cols = RUN_COLUMNS.join(', ');
    const params = RUN_COLUMNS.map((c) => `@${c}`).join(', ');
    this.db.prepare(`INSERT INTO runs (${cols}) VALUES (${params})`).run(row as unknown as Record<string, unknown>);
  }

  /** Remember a sweep and the order of its runs (the report reads a plan's runs through plan_runs). */
  registerPlan(plan: ExperimentPlan): string {
    const key = planKey(plan);
    const now = new Date().toISOString();
    const db = this.db;
    db.transaction(() => {
      const exists = db.prepare('SELECT 1 FROM plans WHERE plan_key = ?').get(key);
      if (exists) {
        db.prepare('UPDATE plans SET last_run_at = ? WHERE plan_key = ?').run(now, key);
        return;
      }
      db.prepare('INSERT INTO plans (plan_key, experiment, preset, description, run_count, created_at, last_run_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        key, plan.experiment, plan.preset, plan.description, plan.runs.length, now, now,
      );
      const ins = db.prepare('INSERT INTO plan_runs (plan_key, position, key, label) VALUES (?, ?, ?, ?)');
      plan.runs.forEach((r, i) => ins.run(key, i, runKey(r), r.label));
    }).immediate();
    return key;
  }

  /** Every run, in the order they were recorded (optionally of one experiment), with JSON columns parsed. */
  listRuns(filter: { experiment?: string; status?: 'done' | 'failed' } = {}): StoredRun[] {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.experiment) {
      where.push('experiment = ?');
      params.push(filter.experiment);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY experiment, finished_at, key`;
    return (this.db.prepare(sql).all(...params) as RunRow[]).map(parseRow);
  }

  /** Every registered sweep, oldest first, with its run keys in plan order. */
  plans(): { planKey: string; experiment: string; preset: string; runCount: number; createdAt: string; lastRunAt: string; keys: string[] }[] {
    const rows = this.db.prepare('SELECT plan_key, experiment, preset, run_count, created_at, last_run_at FROM plans ORDER BY created_at, plan_key').all() as { plan_key: string; experiment: string; preset: string; run_count: number; created_at: string; last_run_at: string }[];
    const keysOf = this.db.prepare<[string], { key: string }>('SELECT key FROM plan_runs WHERE plan_key = ? ORDER BY position');
    return rows.map((p) => ({ planKey: p.plan_key, experiment: p.experiment, preset: p.preset, runCount: p.run_count, createdAt: p.created_at, lastRunAt: p.last_run_at, keys: keysOf.all(p.plan_key).map((r) => r.key) }));
  }

  count(): { done: number; failed: number } {
    const rows = this.db.prepare('SELECT status, count(*) AS n FROM runs GROUP BY status').all() as { status: string; n: number }[];
    return { done: rows.find((r) => r.status === 'done')?.n ?? 0, failed: rows.find((r) => r.status === 'failed')?.n ?? 0 };
  }
}

/** Retry an operation that SQLite refused with SQLITE_BUSY (e.g. switching to WAL while another process opens the file). */
function retryBusy<T>(fn: () => T, tries = 200): T {
  for (let i = 0; ; i++) {
    try {
      return fn();
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || i >= tries) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}


export function parseRow(row: RunRow): StoredRun {
  const out: Record<string, unknown> = { ...row };
  for (const c of JSON_COLUMNS) out[c] = row[c] === null ? null : JSON.parse(row[c] as string);
  return out as unknown as StoredRun;
}
