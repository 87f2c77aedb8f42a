/**
 * Run keys leave the measure list out (schema 2): a database of schema 1 (keys with the list) is
 * migrated on open, and a sweep asked for more measures adds them to its recorded runs without training.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { RUN_COLUMNS, Store, doneRow, failedRow, planKey, runKey, runPlan, trainKey, widthPlan, canonicalJson, type RunSpec } from '../../src/experiments/index.js';
import { formatRunLine } from '../../src/experiments/runner.js';
import { resolveMeasureOptions } from '../../src/experiments/plan.js';
import type { MeasureReport } from '../../src/measures/index.js';
import type { RunRecord } from '../../src/train/run.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-keys-'));
const DATA = 'synthetic:n=256,test=128,shape=6x6x1,classes=4';

/** The run key of schema 1 (kept here to build old databases): the measure list was part of it. */
function oldRunKey(spec: Pick<RunSpec, 'experiment' | 'config' | 'measureOptions'>): string {
  return createHash('sha256').update(canonicalJson({ experiment: spec.experiment, config: spec.config, measureOptions: spec.measureOptions })).digest('hex');
}

test('keys: the measure list is not part of a run key; every other measure option is', () => {
  const [a] = widthPlan('quick', { measureOptions: { measures: ['l2'] } }).runs;
  const [b] = widthPlan('quick', { measureOptions: { measures: ['l2', 'margin'] } }).runs;
  const [c] = widthPlan('quick').runs;
  assert.equal(runKey(a), runKey(b));
  assert.equal(runKey(a), runKey(c));
  assert.deepEqual(b.measureOptions.measures, ['margin', 'l2'], 'the list is still stored with the run');
  assert.notEqual(runKey(a), runKey({ ...a, measureOptions: resolveMeasureOptions({ measures: ['l2'], samples: 3 }) }));
  assert.notEqual(oldRunKey(a), oldRunKey(b), 'schema 1 keyed them apart');
});

const record = (spec: RunSpec): RunRecord => ({
  format: 1, generatedBy: 'test', config: spec.config, backend: 'wasm',
  data: { spec: spec.config.data, m: 100, trueCount: 100, numClasses: 10, inputShape: [28, 28, 1], testSize: 50, normalization: { mean: [0.1], std: [0.3] } },
  model: { spec: spec.config.model, params: 1234, widths: [8, 10] },
  converged: true, stopReason: 'converged', epochs: 3, history: [], final: { trainLoss: 0.005, trainError: 0, testLoss: 0.4, testError: 0.125 },
  seconds: 0.3, secondsPerEpoch: 0.1, startedAt: 'now', finishedAt: 'now',
});
const report = (names: string[]): MeasureReport => ({
  measures: Object.fromEntries(names.map((n, i) => [n, i + 1])),
  components: { widths: [8, 10] },
  pac_bayes_curve: [{ alpha: 1e-3, kl: 5, expected_sharpness: 0.1, std_error: 0.01, bound: 2 }],
  notes: [],
  timings_ms: {},
});

test('store: a schema-1 database is migrated on open: its rows, measures, curves and plans found under the new keys', () => {
  const d = tmp();
  const file = path.join(d, 'old.db');
  Store.open(file).close(); // the tables (the same in both versions)
  const plan = (measures: string[]) => widthPlan('quick', { widths: [8, 16, 32], measureOptions: { measures } });
  const [w8a, w16a, w32a] = plan(['margin', 'l2']).runs;
  const [w8b, w16c, w32c] = plan(['margin', 'l2', 'sharpness']).runs;
  const [w16b] = plan(['margin']).runs;
  const info = (at: string) => ({ measuredOn: 100, measureSeconds: 0.5, checkpoint: 'checkpoints/x', createdAt: at });
  const rows = [
    { ...doneRow(w8a, record(w8a), report(w8a.measureOptions.measures), info('a')), finished_at: '2024-01-02' },
    { ...doneRow(w8b, record(w8b), report(w8b.measureOptions.measures), info('b')), finished_at: '2024-01-01' }, // older, but more measures: kept
    failedRow(w16a, 'boom', 'c'),
    doneRow(w16b, record(w16b), report(['margin']), info('d')),
    { ...doneRow(w32a, record(w32a), report(w32a.measureOptions.measures), info('e')), finished_at: '2024-01-03' },
    doneRow(w16c, record(w16c), report(w16c.measureOptions.measures), info('f')),
    { ...doneRow(w32c, record(w32c), report(['margin', 'l2']), info('g')), finished_at: '2024-01-04' }, // a list that has the same number of measures: the newer is kept
  ].map((r, i) => ({ ...r, key: oldRunKey([w8a, w8b, w16a, w16b, w32a, w16c, w32c][i]) }));
  const db = new Database(file);
  const ins = db.prepare(`INSERT INTO runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  for (const r of rows) {
    ins.run(r);
    for (const [n, v] of Object.entries(JSON.parse(r.measures ?? '{}'))) db.prepare('INSERT INTO measures VALUES (?, ?, ?)').run(r.key, n, v);
    if (r.status === 'done') db.prepare('INSERT INTO pac_bayes_curve VALUES (?, 0.001, 5, 0.1, 0.01, 2)').run(r.key);
  }
  // two plans of schema 1: the same sweep with two measure lists
  const oldPlans = [plan(['margin', 'l2']), plan(['margin', 'l2', 'sharpness'])];
  oldPlans.forEach((p, i) => {
    const keys = p.runs.map(oldRunKey);
    const pk = createHash('sha256').update(canonicalJson({ experiment: p.experiment, preset: p.preset, runs: keys })).digest('hex');
    db.prepare('INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?, ?)').run(pk, p.experiment, p.preset, p.description, p.runs.length, `2024-01-0${i + 1}`, `2024-01-0${i + 1}`);
    keys.forEach((k, j) => db.prepare('INSERT INTO plan_runs VALUES (?, ?, ?, ?)').run(pk, j, k, p.runs[j].label));
  });
  db.prepare("UPDATE meta SET value = '1' WHERE name = 'schema_version'").run();
  db.close();

  // a read-only open migrates a copy in memory and leaves the file as it was
  const ro = Store.open(file, { mustExist: true });
  assert.equal(ro.statuses([runKey(w8a)]).get(runKey(w8a)), 'done');
  ro.close();
  const peek = new Database(file, { readonly: true });
  assert.equal((peek.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get() as { value: string }).value, '1');
  assert.equal((peek.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n, 7);
  peek.close();

  const store = Store.open(file);
  const s = store.db;
  assert.equal((s.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get() as { value: string }).value, '2');
  const st = store.statuses([w8a, w16a, w32a].map(runKey));
  assert.deepEqual([...st.values()], ['done', 'done', 'done']);
  assert.equal(store.count().done, 3);
  assert.equal(store.count().failed, 0);
  const runs = store.listRuns();
  const w8 = runs.find((r) => r.key === runKey(w8a))!;
  assert.deepEqual(Object.keys(w8.measures!), ['margin', 'l2', 'sharpness'], 'the row with the most measures is kept');
  assert.deepEqual(Object.keys(runs.find((r) => r.key === runKey(w16a))!.measures!), ['margin', 'l2', 'sharpness']);
  assert.equal(runs.find((r) => r.key === runKey(w32a))!.created_at, 'g', 'equal measure counts: the most recently finished row');
  assert.deepEqual(s.prepare('SELECT name FROM measures WHERE key = ? ORDER BY name').all(runKey(w8a)), [{ name: 'l2' }, { name: 'margin' }, { name: 'sharpness' }]);
  assert.equal((s.prepare('SELECT count(*) AS n FROM measures').get() as { n: number }).n, 3 + 3 + 2);
  assert.equal((s.prepare('SELECT count(*) AS n FROM pac_bayes_curve').get() as { n: number }).n, 3);
  assert.deepEqual(s.prepare('PRAGMA foreign_key_check').all(), []);
  // the two plans are one now, found under the key the runner computes: running it again registers no new plan
  const plans = s.prepare('SELECT plan_key, last_run_at FROM plans').all() as { plan_key: string; last_run_at: string }[];
  assert.deepEqual(plans, [{ plan_key: planKey(plan(['margin', 'l2'])), last_run_at: '2024-01-02' }]);
  assert.deepEqual(s.prepare('SELECT key FROM plan_runs ORDER BY position').all().map((r) => (r as { key: string }).key), [w8a, w16a, w32a].map(runKey));
  store.registerPlan(plan(['margin', 'l2', 'sharpness']));
  assert.equal((s.prepare('SELECT count(*) AS n FROM plans').get() as { n: number }).n, 1);
  store.close();
  // opened again: nothing more to migrate
  const again = Store.open(file);
  assert.equal(again.count().done, 3);
  again.close();
});

test('runner: a sweep asked for more measures adds them to its recorded runs from their checkpoints, without training', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const opts = { db, workers: 1, engine: { device: 'cpu' as const, threads: 1 } };
  const plan = (measures: string[]) => widthPlan('quick', { data: DATA, widths: [4, 8], trainSize: 64, maxEpochs: 20, measureOptions: { measures } });
  const first = await runPlan(plan(['l2']), opts);
  assert.equal(first.done, 2);
  const dir = path.join(d, 'checkpoints', trainKey(plan(['l2']).runs[0].config));
  const mtime = fs.statSync(path.join(dir, 'weights.bin')).mtimeMs;
  const store0 = Store.open(db, { mustExist: true });
  const before = store0.listRuns();
  store0.close();

  const lines: string[] = [];
  const outcomes: { reused: boolean; added?: string[] }[] = [];
  const starts: unknown[] = [];
  const r = await runPlan(plan(['l2', 'margin']), {
    ...opts,
    events: {
      onStart: (i) => starts.push(i),
      onRunDone: ({ done, total, spec, outcome }) => {
        outcomes.push({ reused: outcome.reusedCheckpoint, added: outcome.added });
        lines.push(formatRunLine(done, total, spec.experiment, outcome.summary, outcome.added ? `, added measures ${outcome.added.join(', ')}` : ''));
      },
    },
  });
  assert.deepEqual({ done: r.done, added: r.added, skipped: r.skipped, failed: r.failed.length, recorded: r.recorded }, { done: 0, added: 2, skipped: 0, failed: 0, recorded: 2 });
  assert.deepEqual(starts, [{ total: 2, skipped: 0, pending: 2, workers: 1, retrying: 0, adding: 2 }]);
  assert.deepEqual(outcomes, [{ reused: true, added: ['margin'] }, { reused: true, added: ['margin'] }]);
  for (const l of lines) assert.match(l, /, l2 \S+ \(\d+s, added measures margin\)$/);
  assert.equal(fs.statSync(path.join(dir, 'weights.bin')).mtimeMs, mtime, 'not trained again');
  const store = Store.open(db, { mustExist: true });
  const after = store.listRuns();
  assert.equal(after.length, 2);
  for (const a of after) {
    const b = before.find((x) => x.key === a.key)!;
    assert.deepEqual(Object.keys(a.measures!), ['margin', 'l2'], 'in output order');
    assert.equal(a.measures!.l2, b.measures!.l2, 'the recorded value is kept');
    assert.equal(typeof a.measures!.margin, 'number');
    assert.deepEqual(a.measure_options.measures, ['margin', 'l2']);
    assert.equal(a.epochs, b.epochs);
    assert.equal(a.created_at, b.created_at);
  }
  assert.equal((store.db.prepare("SELECT count(*) AS n FROM measures WHERE name = 'margin'").get() as { n: number }).n, 2);
  store.close();
  // everything there now: skipped; a shorter list is complete too
  const again = await runPlan(plan(['margin']), opts);
  assert.deepEqual({ done: again.done, added: again.added, skipped: again.skipped }, { done: 0, added: 0, skipped: 2 });
});
