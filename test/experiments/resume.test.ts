/**
 * THE resume test: a sweep killed with SIGKILL partway (the runner and its workers), run again, ends with
 * the same table as an uninterrupted sweep: the same keys, the same numbers, no duplicate, no half row.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CLI, runCli } from '../cli/cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-resume-'));
const MEASURES = 'margin,l2,l1_path,spectral,sharpness,pac_bayes';
const args = (db: string) => [
  'run', 'random-labels',
  '--data', 'synthetic:n=320,test=128,shape=8x8x1,classes=5',
  '--model', 'mlp:24',
  '--sizes', '64,128,192,256',
  '--max-epochs', '150',
  '--measures', MEASURES,
  '--samples', '2',
  '--workers', '2',
  '--threads', '1',
  '--db', db,
];
const RUNS = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function doneCount(db: string): number {
  if (!fs.existsSync(db)) return 0;
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true, timeout: 5000 });
    try {
      return (d.prepare("SELECT count(*) AS n FROM runs WHERE status = 'done'").get() as { n: number }).n;
    } finally {
      d.close();
    }
  } catch {
    return 0; // not created yet
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start the sweep detached (its own process group), wait until at least `after` runs are recorded, SIGKILL it. */
async function startAndKill(db: string, after: number, target: 'group' | 'runner'): Promise<number> {
  const child = spawn(process.execPath, [CLI, ...args(db)], { detached: true, stdio: 'ignore' });
  const pgid = child.pid!;
  const exited = new Promise((r) => child.once('exit', r));
  const t0 = Date.now();
  let n = doneCount(db);
  while (n < after) {
    assert.ok(Date.now() - t0 < 120000, 'the sweep should record a run within 2 minutes');
    await sleep(40);
    n = doneCount(db);
  }
  process.kill(target === 'group' ? -pgid : pgid, 'SIGKILL');
  await exited;
  // The workers die too: killed with the group, or on their own when the runner is gone.
  const t1 = Date.now();
  while (groupAlive(pgid)) {
    assert.ok(Date.now() - t1 < 30000, 'worker processes outlived the runner by 30 s');
    await sleep(100);
  }
  return n;
}

interface Row {
  key: string;
  status: string;
  converged: number;
  epochs: number;
  train_error: number;
  test_error: number;
  measures: string;
  pac_bayes_curve: string;
  losses: string;
}

function table(db: string): { rows: Row[]; measureRows: number; curveRows: number; total: number; distinct: number } {
  const d = new Database(db, { readonly: true });
  try {
    const rows = (d.prepare('SELECT key, status, converged, epochs, train_error, test_error, measures, pac_bayes_curve, record FROM runs ORDER BY key').all() as (Row & { record: string })[]).map(
      ({ record, ...r }) => ({ ...r, losses: JSON.stringify(JSON.parse(record).history.map((h: { loss: number }) => h.loss)) }),
    );
    const n = (sql: string) => (d.prepare(sql).get() as { n: number }).n;
    return { rows, measureRows: n('SELECT count(*) AS n FROM measures'), curveRows: n('SELECT count(*) AS n FROM pac_bayes_curve'), total: n('SELECT count(*) AS n FROM runs'), distinct: n('SELECT count(DISTINCT key) AS n FROM runs') };
  } finally {
    d.close();
  }
}

/** No half rows: every recorded run has every measure, in the row and in the measures table. */
function assertWhole(db: string, expectedRuns: number | null): void {
  const t = table(db);
  if (expectedRuns !== null) assert.equal(t.total, expectedRuns);
  assert.equal(t.total, t.distinct, 'no duplicate keys');
  for (const r of t.rows) {
    assert.equal(r.status, 'done');
    assert.deepEqual(Object.keys(JSON.parse(r.measures)), MEASURES.split(','));
  }
  assert.equal(t.measureRows, t.total * MEASURES.split(',').length);
  assert.equal(t.curveRows, t.total * 16);
}

test('resume: a sweep killed with SIGKILL partway and run again ends with the table of an uninterrupted sweep', async (t) => {
  const d = tmp();
  const refDb = path.join(d, 'ref', 'g.db');
  const ref = runCli(args(refDb), { timeoutMs: 300000 });
  assert.equal(ref.code, 0, ref.stderr);
  assert.match(ref.stdout, new RegExp(`${RUNS} of ${RUNS} runs recorded \\(${RUNS} now\\)`));
  assertWhole(refDb, RUNS);

  const db = path.join(d, 'cut', 'g.db');
  // 1. kill the runner and its workers (the whole process group) once a run is recorded
  const n1 = await startAndKill(db, 1, 'group');
  const after1 = table(db).total;
  assert.ok(after1 >= n1 && after1 < RUNS, `killed after ${after1} of ${RUNS} runs: the kill should come partway`);
  assertWhole(db, null);
  // A temporary folder left by a kill long ago is removed by the next sweep; a recent one is ignored.
  const ckpt = path.join(d, 'cut', 'checkpoints');
  const stale = path.join(ckpt, '.deadbeef.tmp-stale');
  fs.mkdirSync(path.join(stale, 'initial'), { recursive: true });
  fs.writeFileSync(path.join(stale, 'model.json'), '{"half": ');
  const past = new Date(Date.now() - 24 * 3600e3);
  fs.utimesSync(stale, past, past);

  // 2. kill only the runner: its workers must not outlive it
  const n2 = await startAndKill(db, Math.min(after1 + 1, RUNS), 'runner');
  const after2 = table(db).total;
  assert.ok(after2 >= n2);
  assertWhole(db, null);
  assert.ok(!fs.existsSync(stale), 'the stale temporary folder was removed');

  t.diagnostic(`killed the group after ${after1} of ${RUNS} runs, the runner alone after ${after2}`);
  // 3. run to the end
  const last = runCli(args(db), { timeoutMs: 300000 });
  assert.equal(last.code, 0, last.stderr);
  if (after2 < RUNS) assert.match(last.stderr, new RegExp(`${RUNS} runs, ${after2} already done; ${RUNS - after2} to run`));
  assert.match(last.stdout, new RegExp(`${RUNS} of ${RUNS} runs recorded`));
  assertWhole(db, RUNS);
  // The same final table: same keys, same training histories, same errors and measures (the runs are deterministic).
  assert.deepEqual(table(db).rows, table(refDb).rows);

  // and running it once more does nothing
  const again = runCli(args(db));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /8 already done; nothing to do/);
  assert.deepEqual(table(db).rows, table(refDb).rows);
});
