/**
 * Sweeps across machines, against a real, throw-away PostgreSQL server (test/postgres.ts): enqueue, workers
 * draining the queue, killed workers, a restarted database, two enqueues at once, connection errors.
 * Every check compares with what the embedded SQLite sweep records for the same plan, bit for bit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CLI, assertUserError, runCli } from '../cli/cli.js';
import { findPostgres, TestPostgres, PG_USER } from '../postgres.js';

const bins = findPostgres();
const skip = typeof bins === 'string' ? bins : false;

/** A small width sweep: 3 runs of about a second each. */
const SMALL = ['run', 'width', '--widths', '8,16,32', '--train-size', '300', '--max-epochs', '6', '--measures', 'l2,margin,l2_path,spectral,sharpness,expected_sharpness,pac_bayes', '--samples', '2', '--sharpness-points', '200', '--quiet'];
/** Runs long enough to be killed while training: a few seconds each. */
const SLOW = ['run', 'width', '--widths', '96,128,160', '--train-size', '1500', '--max-epochs', '25', '--target-loss', '0.0001', '--measures', 'l2,margin,sharpness,pac_bayes', '--samples', '2', '--sharpness-points', '300', '--quiet'];

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves when stderr (or stdout) matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

function start(args: string[], cwd: string): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(out) || w.re.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    check();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    check();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor(re, timeoutMs = 120000) {
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stdout: ${out}\nstderr: ${err}`)), timeoutMs);
        waiters.push({ re, resolve: () => (clearTimeout(t), resolve()) });
        check();
        void exited.then(() => setTimeout(() => reject(new Error(`exited before ${re}; stdout: ${out}\nstderr: ${err}`)), 50));
      });
    },
  };
}

async function finished(r: Running, timeoutMs = 240000): Promise<number | null> {
  const t = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  const code = await r.exited;
  clearTimeout(t);
  return code;
}

interface ExportedRun {
  key: string;
  status: string;
  measures: Record<string, number | null> | null;
  pac_bayes_curve: unknown;
  components: unknown;
  epochs: number;
  train_error: number;
  test_error: number;
}

function exported(db: string, cwd: string): ExportedRun[] {
  const r = runCli(['export', '--db', db, '--format', 'json'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as ExportedRun[]).sort((a, b) => a.key.localeCompare(b.key));
}

/** The same table: keys, status, training results, measures, curves and components, bit for bit. */
function assertSameTable(actual: ExportedRun[], expected: ExportedRun[]): void {
  assert.deepEqual(actual.map((r) => r.key), expected.map((r) => r.key));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    assert.equal(a.status, 'done');
    assert.equal(e.status, 'done');
    assert.deepEqual([a.epochs, a.train_error, a.test_error], [e.epochs, e.train_error, e.test_error]);
    assert.deepEqual(a.measures, e.measures, `measures of ${a.key}`);
    assert.deepEqual(a.pac_bayes_curve, e.pac_bayes_curve);
    assert.deepEqual(a.components, e.components);
  }
}

async function jobCount(url: string): Promise<{ total: number; states: Record<string, number> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ state: string; n: string }>("SELECT state::text AS state, count(*) AS n FROM pgboss.job WHERE name = 'genmeasures-runs' GROUP BY state");
    const states: Record<string, number> = {};
    for (const row of r.rows) states[row.state] = Number(row.n);
    return { total: Object.values(states).reduce((a, b) => a + b, 0), states };
  } finally {
    await c.end();
  }
}

describe('sweeps on PostgreSQL: queue, workers, result sink', { skip, timeout: 900000 }, () => {
  let server: TestPostgres;
  let dir: string;
  const reference = new Map<string, ExportedRun[]>();
  /** The table a local SQLite sweep of a plan records (computed once per plan). */
  const sqliteTable = (name: string, args: string[]) => {
    if (!reference.has(name)) {
      const db = path.join(dir, `${name}.db`);
      const r = runCli([...args, '--db', db, '--workers', '2'], { cwd: dir, timeoutMs: 300000 });
      assert.equal(r.code, 0, r.stderr);
      reference.set(name, exported(db, dir));
    }
    return reference.get(name)!;
  };
  before(async () => {
    server = await TestPostgres.start(bins as Exclude<typeof bins, string>);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-dist-'));
  });
  after(() => {
    server?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a sweep enqueued once and drained by 3 workers records exactly the SQLite table', async () => {
    const url = await server.createDatabase();
    const q = runCli([...SMALL, '--db', url, '--enqueue'], { cwd: dir });
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stderr, /3 runs; 3 queued now/);
    assert.match(q.stdout, /genmeasures worker --db/);
    assert.ok(!q.stdout.includes(server.url().split('@')[0].split(':')[2]), 'the password is not printed');
    const status = runCli(['status', '--db', url], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /width \(quick\) \w+\s+3\s+3\s+0\s+0\s+0\s+0/);
    const workers = [0, 1, 2].map(() => start(['worker', '--db', url, '--until-empty', '--poll', '0.2', '--checkpoints', path.join(dir, 'ck-a')], dir));
    const codes = await Promise.all(workers.map((w) => finished(w)));
    assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.err()).join('\n'));
    const lines = workers.flatMap((w) => w.out().trim().split('\n')).filter((l) => /^width=/.test(l));
    assert.equal(lines.length, 3, `each run done once: ${lines.join(' | ')}`);
    assertSameTable(exported(url, dir), sqliteTable('small', SMALL));
    const after = runCli(['status', '--db', url], { cwd: dir });
    assert.match(after.stdout, /width \(quick\) \w+\s+3\s+0\s+0\s+3\s+0\s+0/);
    // the report reads PostgreSQL too
    const rep = runCli(['report', '--db', url, '--out', path.join(dir, 'report-pg')], { cwd: dir });
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stdout, /^3 runs/);
    // enqueueing a finished sweep queues nothing
    const again = runCli([...SMALL, '--db', url, '--enqueue'], { cwd: dir });
    assert.match(again.stderr, /3 already done; 0 queued now/);
  });

  test('SIGKILL of a worker mid-training and of another mid-recording: every run recorded once, same numbers', async () => {
    const url = await server.createDatabase();
    const ck = path.join(dir, 'ck-kill');
    const q = runCli([...SLOW, '--db', url, '--enqueue', '--lease', '2'], { cwd: dir });
    assert.equal(q.code, 0, q.stderr);
    const a = start(['worker', '--db', url, '--verbose', '--poll', '0.2', '--maintenance', '1', '--checkpoints', ck], dir);
    await a.waitFor(/: training/);
    a.child.kill('SIGKILL');
    await a.exited;
    const b = start(['worker', '--db', url, '--verbose', '--poll', '0.2', '--maintenance', '1', '--checkpoints', ck], dir);
    await b.waitFor(/: recording/);
    b.child.kill('SIGKILL');
    await b.exited;
    const rest = [0, 1].map(() => start(['worker', '--db', url, '--until-empty', '--verbose', '--poll', '0.2', '--maintenance', '1', '--checkpoints', ck], dir));
    const codes = await Promise.all(rest.map((w) => finished(w)));
    assert.deepEqual(codes, [0, 0], rest.map((w) => w.err()).join('\n'));
    // the killed runs came back (a retry), and no run was recorded twice
    assert.match(rest.map((w) => w.err()).join('\n'), /started \(try [23]\)/);
    const table = exported(url, dir);
    assert.equal(table.length, 3);
    assertSameTable(table, sqliteTable('slow', SLOW));
    const jobs = await jobCount(url);
    assert.deepEqual(jobs.states, { completed: 3 });
  });

  test('the database restarted mid-sweep: workers wait, then finish every run once', async () => {
    const url = await server.createDatabase();
    const q = runCli([...SMALL, '--seed', '7', '--db', url, '--enqueue', '--lease', '60'], { cwd: dir });
    assert.equal(q.code, 0, q.stderr);
    const ws = [0, 1].map(() => start(['worker', '--db', url, '--until-empty', '--verbose', '--poll', '0.2', '--checkpoints', path.join(dir, 'ck-restart')], dir));
    await Promise.all(ws.map((w) => w.waitFor(/taking runs from/)));
    await ws[0].waitFor(/: started/);
    server.stopServer();
    await new Promise((r) => setTimeout(r, 3000));
    server.startServer();
    const codes = await Promise.all(ws.map((w) => finished(w)));
    assert.deepEqual(codes, [0, 0], ws.map((w) => w.err()).join('\n'));
    const table = exported(url, dir);
    assert.equal(table.length, 3);
    assert.ok(table.every((r) => r.status === 'done'));
    assert.deepEqual((await jobCount(url)).states, { completed: 3 });
  });

  test('two --enqueue of the same sweep at once queue each run once', async () => {
    const url = await server.createDatabase();
    const both = [0, 1].map(() => start([...SMALL, '--db', url, '--enqueue'], dir));
    assert.deepEqual(await Promise.all(both.map((r) => finished(r))), [0, 0], both.map((r) => r.err()).join('\n'));
    const queued = both.map((r) => Number(/(\d+) queued now/.exec(r.err())?.[1]));
    assert.equal(queued[0] + queued[1], 3, both.map((r) => r.err()).join('\n'));
    assert.equal((await jobCount(url)).total, 3);
    // and `run` without --enqueue drains it with local workers
    const r = runCli([...SMALL, '--db', url, '--workers', '2', '--checkpoints', path.join(dir, 'ck-two')], { cwd: dir, timeoutMs: 300000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /3 of 3 runs recorded/);
    assertSameTable(exported(url, dir), sqliteTable('small', SMALL));
  });

  test('a run that fails on every try is retried, then recorded as failed with its error', async () => {
    const url = await server.createDatabase();
    const missing = path.join(dir, 'no-such-idx-folder');
    const q = runCli(['run', 'width', '--widths', '8', '--train-size', '50', '--data', `idx:${missing}`, '--measures', 'l2', '--db', url, '--enqueue', '--retries', '1'], { cwd: dir });
    assert.equal(q.code, 0, q.stderr);
    const w = start(['worker', '--db', url, '--until-empty', '--poll', '0.2', '--maintenance', '1', '--checkpoints', path.join(dir, 'ck-fail')], dir);
    assert.equal(await finished(w), 0, w.err());
    assert.match(w.err(), /FAILED \(try 1 of 2; back in the queue\)/);
    assert.match(w.err(), /FAILED \(try 2 of 2\)/);
    assert.match(w.err(), /recorded as failed/);
    const failed = JSON.parse(runCli(['export', '--db', url, '--format', 'json', '--status', 'failed'], { cwd: dir }).stdout) as { error: string }[];
    assert.equal(failed.length, 1);
    assert.match(failed[0].error, /no-such-idx-folder/);
    assert.match(failed[0].error, /tried 2 times/);
    assert.match(runCli(['status', '--db', url], { cwd: dir }).stdout, /width \(quick\) \w+\s+1\s+0\s+0\s+0\s+1\s+0/);
    // enqueueing the sweep again queues its failed run again
    assert.match(runCli(['run', 'width', '--widths', '8', '--train-size', '50', '--data', `idx:${missing}`, '--measures', 'l2', '--db', url, '--enqueue'], { cwd: dir }).stderr, /1 queued now/);
  });

  test('Ctrl-C stops a worker at once and its run goes back to the queue', async () => {
    const url = await server.createDatabase();
    const q = runCli(['run', 'width', '--widths', '2048', '--train-size', '3000', '--measures', 'l2,sharpness', '--db', url, '--enqueue'], { cwd: dir });
    assert.equal(q.code, 0, q.stderr);
    const w = start(['worker', '--db', url, '--verbose', '--poll', '0.2', '--checkpoints', path.join(dir, 'ck-int')], dir);
    await w.waitFor(/: training/);
    const t0 = Date.now();
    w.child.kill('SIGINT');
    assert.equal(await finished(w, 30000), 130, w.err());
    assert.ok(Date.now() - t0 < 10000, 'the worker ended without finishing the run');
    assert.match(w.err(), /stopped; the run is back in the queue/);
    assert.match(runCli(['status', '--db', url], { cwd: dir }).stdout, /width \(quick\) \w+\s+1\s+1\s+0\s+0\s+0\s+0/);
  });

  test('a bad connection string, a wrong password, a server that is down: one line, exit 2', async () => {
    const url = await server.createDatabase();
    const wrong = url.replace(/:[^:@/]+@/, ':not-the-password@');
    for (const args of [['status', '--db', wrong], ['export', '--format', 'csv', '--db', wrong], ['worker', '--db', wrong], [...SMALL, '--db', wrong, '--enqueue']]) {
      assertUserError(runCli(args, { cwd: dir }), /authentication failed/, `postgres://${PG_USER}:***@`);
    }
    const down = `postgres://${PG_USER}:x@127.0.0.1:1/nothing`;
    for (const args of [['status', '--db', down], ['report', '--db', down, '--out', path.join(dir, 'r-down')], ['worker', '--db', down]]) {
      assertUserError(runCli(args, { cwd: dir }), /connection refused/);
    }
    assertUserError(runCli(['status', '--db', 'postgres://gm@:bad:port/x'], { cwd: dir }), /not a valid URL|port/);
    assertUserError(runCli(['status', '--db', server.url('no_such_db')], { cwd: dir }), /does not exist/);
    assertUserError(runCli(['worker', '--db', path.join(dir, 'x.db')], { cwd: dir }), /needs a PostgreSQL database/);
    assertUserError(runCli([...SMALL, '--db', path.join(dir, 'x.db'), '--enqueue'], { cwd: dir }), /--enqueue needs a PostgreSQL database/);
    assert.ok(!fs.existsSync(path.join(dir, 'r-down')));
  });
});
