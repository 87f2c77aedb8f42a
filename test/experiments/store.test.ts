import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Store, doneRow, failedRow, runKey, widthPlan, type RunSpec } from '../../src/experiments/index.js';
import type { MeasureReport } from '../../src/measures/index.js';
import type { RunRecord } from '../../src/train/run.js';
import { UserError } from '../../src/errors.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-store-'));
const here = path.dirname(fileURLToPath(import.meta.url));

function fakeRecord(spec: RunSpec): RunRecord {
  return {
    format: 1,
    generatedBy: 'test',
    config: spec.config,
    backend: 'wasm',
    data: { spec: spec.config.data, m: 100, trueCount: 100, numClasses: 10, inputShape: [28, 28, 1], testSize: 50, normalization: { mean: [0.1], std: [0.3] } },
    model: { spec: spec.config.model, params: 1234, widths: [8, 10] },
    converged: true,
    stopReason: 'converged',
    epochs: 3,
    history: [1, 2, 3].map((epoch) => ({ epoch, loss: 1 / epoch, error: 0.1 / epoch, seconds: 0.1 })),
    final: { trainLoss: 0.005, trainError: 0, testLoss: 0.4, testError: 0.125 },
    seconds: 0.3,
    secondsPerEpoch: 0.1,
    startedAt: 'now',
    finishedAt: 'now',
  };
}

function fakeReport(v: number): MeasureReport {
  return {
    measures: { margin: v, l2: 10 * v, sharpness: null },
    components: { widths: [8, 10] },
    pac_bayes_curve: [{ alpha: 1e-3, kl: 5, expected_sharpness: 0.1, std_error: 0.01, bound: 2 }, { alpha: 1e-2, kl: 0.5, expected_sharpness: 0.3, std_error: 0.02, bound: 1.5 }],
    notes: ['sharpness is null: test'],
    timings_ms: { margin: 1, l2: 1, sharpness: 0 },
  };
}

const specs = () => widthPlan('quick', { widths: [8, 16, 32, 64], measureOptions: { measures: ['margin', 'l2', 'sharpness'] } }).runs;
const info = { measuredOn: 100, measureSeconds: 0.5, checkpoint: 'checkpoints/x', createdAt: 'then' };

test('store: a finished run is one row with its measures and curve; it is recorded once and never replaced', () => {
  const d = tmp();
  const file = path.join(d, 'sub', 'g.db');
  const store = Store.open(file);
  const [a, b] = specs();
  assert.equal(store.recordDone(doneRow(a, fakeRecord(a), fakeReport(1), info)), 'inserted');
  assert.equal(store.recordDone(doneRow(a, fakeRecord(a), fakeReport(2), info)), 'exists');
  assert.equal(store.recordFailed(failedRow(a, 'boom', 'then')), 'exists', 'a failure never replaces a finished run');
  // a failed run is replaced when it succeeds
  assert.equal(store.recordFailed(failedRow(b, 'Error: boom\n  at x', 'then')), 'inserted');
  assert.equal(store.statuses([runKey(a), runKey(b)]).get(runKey(b)), 'failed');
  assert.equal(store.recordDone(doneRow(b, fakeRecord(b), fakeReport(3), info)), 'inserted');
  const runs = store.listRuns();
  assert.equal(runs.length, 2);
  const ra = runs.find((r) => r.key === runKey(a))!;
  assert.equal(ra.status, 'done');
  assert.equal(ra.converged, 1);
  assert.deepEqual(ra.measures, { margin: 1, l2: 10, sharpness: null });
  assert.equal(ra.width, 8);
  assert.equal(ra.test_error, 0.125);
  assert.equal(ra.gen_gap, 0.125);
  assert.equal(ra.record!.history.length, 3);
  assert.deepEqual(ra.config, JSON.parse(JSON.stringify(a.config)));
  assert.equal(ra.error, null);
  const db = store.db;
  assert.deepEqual(db.prepare('SELECT name, value FROM measures WHERE key = ? ORDER BY name').all(runKey(a)), [
    { name: 'l2', value: 10 },
    { name: 'margin', value: 1 },
    { name: 'sharpness', value: null },
  ]);
  assert.equal((db.prepare('SELECT count(*) AS n FROM pac_bayes_curve').get() as { n: number }).n, 4);
  assert.equal((db.prepare('SELECT count(*) AS n FROM comparable_runs').get() as { n: number }).n, 2);
  assert.equal((db.prepare("SELECT count(*) AS n FROM measure_values WHERE name = 'l2'").get() as { n: number }).n, 2);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  store.close();
  // reopening keeps everything
  const again = Store.open(file, { mustExist: true });
  assert.equal(again.listRuns().length, 2);
  assert.deepEqual(again.count(), { done: 2, failed: 0 });
  again.close();
});

test('store: plans are registered once with the order of their runs', () => {
  const store = Store.open(path.join(tmp(), 'g.db'));
  const plan = widthPlan('quick');
  const k1 = store.registerPlan(plan);
  const k2 = store.registerPlan(widthPlan('quick'));
  assert.equal(k1, k2);
  const rows = store.db.prepare('SELECT position, key, label FROM plan_runs WHERE plan_key = ? ORDER BY position').all(k1) as { key: string; label: string }[];
  assert.deepEqual(rows.map((r) => r.label), plan.runs.map((r) => r.label));
  assert.deepEqual(rows.map((r) => r.key), plan.runs.map(runKey));
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM plans').get() as { n: number }).n, 1);
  store.close();
});

test('store: bad files are one-line user errors', () => {
  const d = tmp();
  assert.throws(() => Store.open(path.join(d, 'missing.db'), { mustExist: true }), (e) => e instanceof UserError && /does not exist/.test(e.message));
  fs.writeFileSync(path.join(d, 'text.db'), 'this is not a database, just some text that is long enough '.repeat(20));
  assert.throws(() => Store.open(path.join(d, 'text.db'), { mustExist: true }), (e) => e instanceof UserError && /not a SQLite database/.test(e.message));
  assert.throws(() => Store.open(d), (e) => e instanceof UserError && /is a folder/.test(e.message));
  const other = new Database(path.join(d, 'other.db'));
  other.exec('CREATE TABLE t (x)');
  other.close();
  assert.throws(() => Store.open(path.join(d, 'other.db'), { mustExist: true }), (e) => e instanceof UserError && /not a genmeasures results database/.test(e.message));
});

test('store: two processes writing at once record every run exactly once', async () => {
  const d = tmp();
  const file = path.join(d, 'g.db');
  Store.open(file).close();
  const storeModule = path.resolve(here, '../../src/experiments/index.js');
  const script = path.join(d, 'writer.mjs');
  // Each writer records the same 40 runs (a width plan of 40 widths), in opposite orders, as fast as it can.
  fs.writeFileSync(
    script,
    `import { Store, widthPlan, doneRow } from ${JSON.stringify(storeModule)};
const [file, order, tag] = process.argv.slice(2);
const runs = widthPlan('quick', { widths: Array.from({ length: 40 }, (_, i) => i + 1), measureOptions: { measures: ['margin', 'l2'] } }).runs;
if (order === 'reverse') runs.reverse();
const results = { inserted: 0, exists: 0 };
for (const spec of runs) {
  const store = Store.open(file);
  const record = { config: spec.config, backend: tag, data: { m: 1, trueCount: 1 }, model: { params: 1 }, converged: true, stopReason: '', epochs: 1, history: [], final: { trainLoss: 0, trainError: 0, testLoss: 0, testError: 0 }, seconds: 0 };
  const report = { measures: { margin: spec.width, l2: 2 * spec.width }, components: {}, pac_bayes_curve: [], notes: [], timings_ms: {} };
  results[store.recordDone(doneRow(spec, record, report, { measuredOn: 1, measureSeconds: 0, checkpoint: '', createdAt: '' }))]++;
  store.close();
}
console.log(JSON.stringify(results));
`,
  );
  const runWriter = (order: string, tag: string) =>
    new Promise<{ inserted: number; exists: number }>((resolve, reject) => {
      const p = spawn(process.execPath, [script, file, order, tag], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (x) => (out += x));
      p.stderr.on('data', (x) => (err += x));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}: ${err}`))));
    });
  const [r1, r2] = await Promise.all([runWriter('forward', 'one'), runWriter('reverse', 'two')]);
  assert.equal(r1.inserted + r2.inserted, 40);
  assert.equal(r1.exists + r2.exists, 40);
  const store = Store.open(file, { mustExist: true });
  const db = store.db;
  assert.equal((db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n, 40);
  assert.equal((db.prepare('SELECT count(DISTINCT key) AS n FROM runs').get() as { n: number }).n, 40);
  assert.equal((db.prepare('SELECT count(*) AS n FROM measures').get() as { n: number }).n, 80);
  // every row is whole: its measures are those of its width, whichever writer recorded it
  for (const r of store.listRuns()) assert.deepEqual(r.measures, { margin: r.width, l2: 2 * r.width! });
  store.close();
});
