/**
 * The PostgreSQL result sink against a real, throw-away server (test/postgres.ts): the same rows and the
 * same rules as the SQLite file (store.ts), read back identically.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPostgres, TestPostgres } from '../postgres.js';
import { PostgresSink, redactUrl } from '../../src/experiments/postgres.js';
import { SqliteSink, type ResultSink } from '../../src/experiments/sink.js';
import { buildPlan } from '../../src/experiments/experiments.js';
import { failedRow, type RunRow } from '../../src/experiments/store.js';
import type { MeasureReport } from '../../src/measures/index.js';

const bins = findPostgres();
const skip = typeof bins === 'string' ? bins : false;

const plan = buildPlan('width', 'quick', { widths: [8, 16], trainSize: 100 });

function doneRowOf(i: number, measures: Record<string, number | null>): RunRow {
  const f = failedRow(plan.runs[i], '', '2026-01-01T00:00:00.000Z');
  return {
    ...f,
    status: 'done',
    error: null,
    converged: 1,
    epochs: 12,
    params: 123456789012,
    train_error: 0.1 + 1e-17,
    test_error: 1 / 3,
    gen_gap: 1 / 3 - 0.1,
    measures: JSON.stringify(measures),
    components: JSON.stringify({ log10: { l2_path_sum: 12.5 }, widths: [784, 8, 10] }),
    pac_bayes_curve: JSON.stringify([{ alpha: 1e-4, kl: 3.5, expected_sharpness: 0.01, std_error: 0.001, bound: Infinity }]),
    notes: JSON.stringify(['a note']),
    timings: JSON.stringify({ l2: 1.5 }),
    finished_at: `2026-01-01T00:00:0${i}.000Z`,
  };
}

const failed = (i: number, error: string): RunRow => ({ ...failedRow(plan.runs[i], error, '2026-01-01T00:00:00.000Z'), finished_at: '2026-01-02T00:00:00.000Z' });

const report = (measures: Record<string, number | null>): MeasureReport => ({ measures, components: { log10: { extra: 1 } }, pac_bayes_curve: [], notes: ['added'], timings_ms: { margin: 2 } });

/** The same operations on any sink; what it holds at the end. */
async function exercise(sink: ResultSink) {
  await sink.registerPlan(plan);
  await sink.registerPlan(plan); // twice: one plan
  assert.equal(await sink.recordFailed(failed(0, 'boom')), 'inserted');
  assert.equal(await sink.recordDone(doneRowOf(0, { l2: Math.PI, margin: null })), 'inserted'); // replaces the failed row
  assert.equal(await sink.recordDone(doneRowOf(0, { l2: 1 })), 'exists'); // a done row is never replaced
  assert.equal(await sink.recordFailed(failed(0, 'late')), 'exists');
  assert.equal(await sink.recordFailed(failed(1, 'boom\nwith a second line')), 'inserted');
  const added = await sink.addMeasures(failedRow(plan.runs[0], '', '').key, report({ l2: 99, sharpness: 0.1 + 0.2 }), 1.25);
  assert.deepEqual(added.added, ['sharpness']);
  assert.equal(added.measures.l2, Math.PI);
  assert.equal((await sink.addMeasures(failedRow(plan.runs[0], '', '').key, report({ sharpness: 5 }), 1)).result, 'exists');
  const keys = plan.runs.map((r) => failedRow(r, '', '').key);
  return {
    statuses: [...(await sink.statuses(keys)).entries()].sort(),
    names: [...(await sink.measureNames(keys)).entries()].sort(),
    count: await sink.count(),
    plans: (await sink.plans()).map((p) => ({ ...p, createdAt: '', lastRunAt: '' })),
    runs: await sink.listRuns(),
    failed: await sink.listRuns({ status: 'failed', experiment: 'width' }),
  };
}

describe('PostgreSQL result sink', { skip }, () => {
  let server: TestPostgres;
  let dir: string;
  before(async () => {
    server = await TestPostgres.start(bins as Exclude<typeof bins, string>);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-pgsink-'));
  });
  after(() => {
    server?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('opens and migrates once when many processes start at once', async () => {
    const url = await server.createDatabase();
    const sinks = await Promise.all([0, 1, 2, 3].map(() => PostgresSink.open(url)));
    assert.deepEqual(await sinks[0].count(), { done: 0, failed: 0 });
    for (const s of sinks) await s.close();
  });

  test('holds and reads back exactly what the SQLite file holds (rows, numbers bit for bit, rules)', async () => {
    const pgSink = await PostgresSink.open(await server.createDatabase());
    const sqlite = SqliteSink.open(path.join(dir, 'same.db'));
    try {
      const a = await exercise(pgSink);
      const b = await exercise(sqlite);
      assert.deepEqual(a, b);
      assert.equal(a.runs.length, 2);
      assert.equal(a.runs[0].measures!.sharpness, 0.1 + 0.2);
      assert.equal(a.runs[0].params, 123456789012);
      assert.equal(a.failed[0].error, 'boom\nwith a second line');
    } finally {
      await pgSink.close();
      await sqlite.close();
    }
  });

  test('read-only opens of a database without results say so; the password never shows', async () => {
    const url = await server.createDatabase();
    await assert.rejects(PostgresSink.open(url, { readonly: true }), (e: Error) => /holds no genmeasures results/.test(e.message) && !e.message.includes('gm-test-secret'));
    assert.equal(redactUrl('postgres://u:p%40ss@h:5/db'), 'postgres://u:***@h:5/db');
  });
});
