/**
 * Several sweeps on one database, and interrupted sweeps:
 *   - two `genmeasures run` commands started together on one database record every run once, each run
 *     is done by one of them (claims), and each says which runs it recorded and which the other did;
 *   - a run recorded by another process after the plan was read is skipped, not re-measured;
 *   - claims of dead processes (or not touched for 2 minutes) are taken over, live ones respected;
 *   - Ctrl-C (SIGINT to the process group, as a terminal sends it, or to the runner alone) stops the sweep
 *     with "interrupted: N of M runs recorded; run the same command to resume", exit code 130, no worker
 *     left, no run recorded as failed; the same command then finishes the sweep.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CLI, runCli } from '../cli/cli.js';
import { executeRun } from '../../src/experiments/execute.js';
import { runKey } from '../../src/experiments/plan.js';
import { widthPlan } from '../../src/experiments/width.js';
import { CLAIM_STALE_MS, RunClaims, runPlan, type RunnerEvents } from '../../src/experiments/runner.js';
import { Store, checkpointsDir } from '../../src/experiments/store.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-concurrent-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DATA = 'synthetic:n=256,test=128,shape=6x6x1,classes=4';
/** CLI options of sweeps whose runs take a second or more each (the target loss is out of reach: every run trains to the cap). */
const SLOW = ['--train-size', '2000', '--data', 'synthetic:n=2400,test=128,shape=8x8x1,classes=4', '--max-epochs', '1000', '--target-loss', '0.000001', '--measures', 'margin,l2', '--threads', '1'];

interface Out {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], opts: { detached?: boolean } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { detached: !!opts.detached, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Out>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

function rows(db: string): { key: string; status: string }[] {
  const d = new Database(db, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    return d.prepare('SELECT key, status FROM runs ORDER BY key').all() as { key: string; status: string }[];
  } finally {
    d.close();
  }
}

function doneCount(db: string): number {
  if (!fs.existsSync(db)) return 0;
  try {
    return rows(db).filter((r) => r.status === 'done').length;
  } catch {
    return 0; // not created yet
  }
}

/** "N of M runs recorded (a now, b before, c by another process)" → the numbers. */
function summary(stdout: string): { recorded: number; total: number; now: number; before: number; others: number } {
  const m = /^width: (\d+) of (\d+) runs recorded \(([^)]*)\)/m.exec(stdout);
  assert.ok(m, `no summary line in:\n${stdout}`);
  const part = (name: string) => Number(new RegExp(`(\\d+) ${name}`).exec(m[3])?.[1] ?? 0);
  return { recorded: Number(m[1]), total: Number(m[2]), now: part('now'), before: part('before'), others: part('by another process') };
}

/** The mode mkdir gives a new folder here (0777 less the umask). */
function mkdirMode(): number {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-mode-'));
  fs.mkdirSync(path.join(d, 'x'));
  return fs.statSync(path.join(d, 'x')).mode & 0o777;
}

test('two run commands on one database: every run recorded once, by one of them, and each says who recorded what', async (t) => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const args = ['run', 'width', '--widths', '8,12,16,20', ...SLOW, '--workers', '1', '--db', db];
  const [a, b] = await Promise.all([start(args).done, start(args).done]);
  for (const r of [a, b]) assert.equal(r.code, 0, r.stderr);
  const sa = summary(a.stdout);
  const sb = summary(b.stdout);
  for (const s of [sa, sb]) {
    assert.equal(s.total, 4);
    assert.equal(s.recorded, 4, 'each command ends with the whole sweep recorded');
    assert.equal(s.now + s.before + s.others, 4);
  }
  t.diagnostic(`first command: ${JSON.stringify(sa)}; second: ${JSON.stringify(sb)}`);
  // Each run was recorded by exactly one of the two: together they recorded 4 now.
  assert.equal(sa.now + sb.now, 4, `${a.stdout}\n${b.stdout}`);
  // The counts agree with the run lines: one line per run, "recorded by another process" for the others'.
  for (const [r, s] of [[a, sa], [b, sb]] as const) {
    const lines = r.stdout.split('\n').filter((l) => /^\[\d\/4\] width=\d+: /.test(l));
    assert.equal(lines.length, s.now + s.others, r.stdout);
    assert.equal(lines.filter((l) => /recorded by another process|another process recorded it first/.test(l)).length, s.others, r.stdout);
  }
  // Claims kept the two apart: no run was done by both (the second finding it recorded).
  assert.ok(!/another process recorded it first/.test(a.stdout + b.stdout), `${a.stdout}\n${b.stdout}`);
  // "width=16", not "width width=16"
  assert.ok(!/width width=/.test(a.stdout + b.stdout));
  const r = rows(db);
  assert.equal(r.length, 4);
  assert.ok(r.every((x) => x.status === 'done'));
  const ckpt = checkpointsDir(db);
  assert.ok(!fs.existsSync(path.join(ckpt, '.claims')), 'no claim is left behind');
  // run folders (checkpoints) get the mode mkdir gives (the umask), not mkdtemp's 0700
  const folders = fs.readdirSync(ckpt).filter((n) => !n.startsWith('.'));
  assert.equal(folders.length, 4);
  for (const f of folders) assert.equal((fs.statSync(path.join(ckpt, f)).mode & 0o777).toString(8), mkdirMode().toString(8), f);
});

test('runner: a run claimed by another process is left to it, and skipped once that process records it', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plan = widthPlan('quick', { data: DATA, widths: [4, 8], trainSize: 64, maxEpochs: 20, measureOptions: { measures: ['margin', 'l2'] } });
  const w8 = plan.runs[1];
  const checkpoints = checkpointsDir(db);
  Store.open(db).close();
  // "another process" holds the claim of width=8 (a live pid: this one)
  const other = new RunClaims(checkpoints, db);
  assert.ok(other.tryClaim(runKey(w8)));
  const order: string[] = [];
  let otherDone: Promise<void> | null = null;
  const events: RunnerEvents = {
    onRunDone: ({ spec }) => {
      order.push(`done ${spec.label}`);
      // once the runner has done width=4 and waits, the other process records width=8 and lets go
      otherDone ??= (async () => {
        await sleep(300);
        await executeRun({ spec: w8, db, checkpoints, backend: 'onnxruntime-cpu' });
        other.release(runKey(w8));
        order.push('other recorded width=8');
      })();
    },
    onRunSkipped: ({ spec, done, total }) => order.push(`skipped ${spec.label} ${done}/${total}`),
  };
  const r = await runPlan(plan, { db, workers: 1, engine: { device: 'cpu', threads: 1 }, pollMs: 100, events });
  await otherDone;
  assert.deepEqual(order, ['done width=4', 'other recorded width=8', 'skipped width=8 2/2']);
  assert.equal(r.done, 1);
  assert.equal(r.byOthers, 1);
  assert.equal(r.skipped, 0);
  assert.equal(r.recorded, 2);
  assert.equal(r.interrupted, false);
  other.releaseAll();
  assert.ok(!fs.existsSync(path.join(checkpoints, '.claims')));
  const s = Store.open(db, { mustExist: true });
  assert.deepEqual(s.count(), { done: 2, failed: 0 });
  s.close();
});

test('runner: a claim released without a record (the other process failed or stopped) is taken over', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plan = widthPlan('quick', { data: DATA, widths: [4, 8], trainSize: 64, maxEpochs: 20, measureOptions: { measures: ['margin'] } });
  const checkpoints = checkpointsDir(db);
  const other = new RunClaims(checkpoints, db);
  assert.ok(other.tryClaim(runKey(plan.runs[1])));
  const order: string[] = [];
  const r = await runPlan(plan, {
    db,
    workers: 1,
    engine: { device: 'cpu', threads: 1 },
    pollMs: 100,
    events: {
      onRunDone: ({ spec }) => {
        order.push(spec.label);
        if (spec.label === 'width=4') setTimeout(() => other.release(runKey(plan.runs[1])), 300);
      },
    },
  });
  assert.deepEqual(order, ['width=4', 'width=8']);
  assert.equal(r.done, 2);
  assert.equal(r.byOthers, 0);
});

test('claims: exclusive while their process lives and touches them; a dead process\'s claim or an old one is taken over', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const a = new RunClaims(path.join(d, 'checkpoints'), db);
  const b = new RunClaims(path.join(d, 'checkpoints'), db);
  assert.ok(a.tryClaim('k1'));
  assert.ok(a.tryClaim('k1'), 'a claim is held again by its holder');
  assert.ok(!b.tryClaim('k1'), 'a live claim is respected');
  assert.ok(b.heldByOther('k1'));
  // another database in the same folder has claims of its own
  assert.ok(new RunClaims(path.join(d, 'checkpoints'), path.join(d, 'other.db')).tryClaim('k1'));
  const file = a.file('k1');
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).pid, process.pid);
  // a process that is gone (a pid that cannot exist) leaves a stale claim
  fs.writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname() }));
  assert.ok(!b.heldByOther('k1'));
  assert.ok(b.tryClaim('k1'), 'the stale claim is taken over');
  assert.ok(a.tryClaim('k2'));
  // a claim not touched for CLAIM_STALE_MS is stale even if its pid lives (the pid may be reused)
  const k2 = a.file('k2');
  const past = new Date(Date.now() - CLAIM_STALE_MS - 1000);
  fs.utimesSync(k2, past, past);
  assert.ok(b.tryClaim('k2'));
  b.releaseAll();
  a.releaseAll();
});

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

test('Ctrl-C: the sweep stops with "interrupted: N of M runs recorded", exit code 130, no worker left, nothing failed; the same command resumes', async () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const args = ['run', 'width', '--widths', '8,10,12,14,16,18,20,22', ...SLOW, '--workers', '2', '--db', db];
  const interruptAfter = async (target: 'group' | 'runner') => {
    const before = doneCount(db);
    const { child, done } = start(args, { detached: true });
    const t0 = Date.now();
    while (doneCount(db) < before + 1) {
      assert.ok(Date.now() - t0 < 120000, 'a run should be recorded within 2 minutes');
      await sleep(40);
    }
    // a terminal's Ctrl-C reaches the whole foreground process group (runner and workers)
    process.kill(target === 'group' ? -child.pid! : child.pid!, 'SIGINT');
    const r = await done;
    const t1 = Date.now();
    while (groupAlive(child.pid!)) {
      assert.ok(Date.now() - t1 < 10000, 'worker processes outlived the interrupted runner');
      await sleep(50);
    }
    return r;
  };
  for (const target of ['group', 'runner'] as const) {
    const r = await interruptAfter(target);
    const n = doneCount(db);
    assert.ok(n < 8, `${target}: the sweep ended before it was interrupted; make its runs longer`);
    assert.equal(r.code, 130, `${target}: exit code; stderr: ${r.stderr}`);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.equal(last, `interrupted: ${n} of 8 runs recorded; run the same command to resume`, `${target}: ${r.stderr}`);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    assert.ok(rows(db).every((x) => x.status === 'done'), `${target}: no run recorded as failed`);
    assert.ok(!fs.existsSync(path.join(checkpointsDir(db), '.claims')), 'claims released');
  }
  const rest = runCli(args, { timeoutMs: 300000 });
  assert.equal(rest.code, 0, rest.stderr);
  assert.match(rest.stdout, /^width: 8 of 8 runs recorded/m);
  assert.equal(doneCount(db), 8);
});
