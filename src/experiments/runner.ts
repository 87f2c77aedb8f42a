/**
 * Running a sweep: runPlan(plan, options) trains and measures every run of a plan that the database does
 * not hold as finished, in `workers` child processes (worker.ts), and records each run as it completes.
 *
 * Resume: a run is recorded (store.recordDone) only when it is complete, in one transaction, and a run's
 * training is saved as an atomic checkpoint folder first. Killing the runner and its workers at any moment
 * loses at most the work in progress; running the same plan again skips the finished runs, reuses the
 * complete checkpoints of runs that were being measured, and ignores temporary folders (.NAME.tmp-*) left
 * by a kill (those older than `staleTmpMs` are removed).
 *
 * New measures: a run's key leaves the measure list out (plan.ts runKey), so a finished run that lacks some
 * of the measures the plan asks for (a measure added to the registry, or a longer --measures list) is
 * not skipped: it is measured again for the missing names only, from its checkpoint, and they are added
 * to its row (counted in `added`, not `done`).
 *
 * Failures: a run that throws a bug or whose worker dies is recorded as 'failed' with its error and the
 * sweep goes on (the next run of the same command retries it); a UserError in a run (bad input: data that
 * cannot be read, a size larger than the data…) stops the sweep, since every run would meet it, and is
 * rethrown naming the run.
 *
 * Several sweeps on one database (two `genmeasures run` commands at once): before a run is handed to a
 * worker, the runner looks it up in the database (another process may have recorded it since the plan was
 * read: it is skipped and counted as recorded by another process) and claims it, with a file
 * checkpoints/.claims/<db>-<run key> that it creates exclusively and touches every 20 s. A run claimed by
 * another live process is left to it: the runner does the other runs, then waits for the claimed ones to
 * be recorded (skipped) or released unrecorded (then it does them). A claim is stale, and taken over, when
 * its process is gone or it was not touched for 2 minutes (a process killed with SIGKILL leaves its claims).
 * Claims only avoid doing a run twice: two processes that still do one (a stale claim taken over by both)
 * both record it safely, the second finding it recorded ('exists', counted as by another process).
 *
 * Interruption (options.signal, Ctrl-C in the CLI): no run is started any more, the workers are stopped
 * (SIGTERM; their runs in progress are lost, finished checkpoints kept), claims are released, and the
 * result says how many runs of the plan the database holds (`interrupted`, `recorded`). A worker that dies
 * of SIGINT (Ctrl-C reaches the whole process group) interrupts the sweep too, rather than failing its run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { pidAlive } from '../util/process.js';
import type { EngineOptions } from '../engine/index.js';
import { parseModelSpec } from '../models/spec.js';
import type { RunOutcome, RunSummary } from './execute.js';
import { runKey, trainKey, type ExperimentPlan, type RunSpec } from './plan.js';
import { Store, checkpointsDir, failedRow } from './store.js';
import type { FromWorker, ToWorker } from './worker.js';

export interface RunnerEvents {
  /** Before any run: the plan's size, what is already done, how many workers start. */
  onStart?(info: { total: number; skipped: number; pending: number; workers: number; retrying: number; adding: number }): void;
  /** A run finished and was recorded; `done` counts finished runs of the plan (skipped ones included). */
  onRunDone?(info: { done: number; total: number; spec: RunSpec; outcome: RunOutcome; etaMs: number | null }): void;
  /** A run failed and was recorded as failed. */
  onRunFailed?(info: { done: number; total: number; spec: RunSpec; error: string }): void;
  /** A run of the plan was found recorded by another process (after the plan was read) and skipped. */
  onRunSkipped?(info: { done: number; total: number; spec: RunSpec }): void;
  /** What the workers are doing now, e.g. "size=4000 labels=random: epoch 12 loss 1.2 · width=512: measuring sharpness". */
  onStatus?(text: string): void;
}

export interface RunnerOptions {
  /** Results database (created if missing). */
  db: string;
  /** Worker processes (default: os.availableParallelism()). */
  workers?: number;
  /** Device and threads of every worker process (default: cpu, 1 thread). */
  engine?: EngineOptions;
  /**
   * Once no run is left to start, give the cores of idle workers to the busy ones (their thread count
   * becomes ⌊cores / busy workers⌋; results do not depend on it). Default false; `cores` is what is shared.
   */
  adaptiveThreads?: boolean;
  cores?: number;
  /** Checkpoint folder (default: checkpoints/ beside the db). */
  checkpoints?: string;
  /** Temporary checkpoint folders older than this are removed at start (default 10 minutes). */
  staleTmpMs?: number;
  /** Interrupts the sweep (see the module's comment): runPlan then resolves with `interrupted: true`. */
  signal?: AbortSignal;
  /** How often idle workers look again at runs claimed by another process (default 1 s). */
  pollMs?: number;
  events?: RunnerEvents;
  /** ES modules every worker imports before its first run (e.g. files that call defineMeasure). */
  plugins?: string[];
}

export interface SweepResult {
  total: number;
  /** Runs already finished before this call. */
  skipped: number;
  /** Runs finished and recorded by this call. */
  done: number;
  /** Runs recorded before that lacked some of the plan's measures, and got them from this call. */
  added: number;
  /** Runs recorded by another process while this call ran (skipped, or done here but recorded there first). */
  byOthers: number;
  failed: { spec: RunSpec; error: string }[];
  seconds: number;
  /** The sweep was interrupted (options.signal or a worker killed by SIGINT) before its end. */
  interrupted: boolean;
  /** Runs of the plan that the database holds as done when the call ends. */
  recorded: number;
}

export const WORKER_MODULE = fileURLToPath(new URL('./worker.js', import.meta.url));

/** Rough relative cost of a run, for scheduling (longest first) and the ETA: points × hidden units × a label factor. */
export function estimateCost(spec: RunSpec): number {
  const plan = parseModelSpec(spec.config.model);
  const units = plan.family === 'mlp' ? plan.hidden.reduce((a, b) => a + b, 0) + 10 : plan.blocks.reduce<number>((a, b) => a + (typeof b === 'number' ? 30 * b : 0), 10) + (plan.dense ?? []).reduce((a, b) => a + b, 0);
  const m = (spec.config.trainSize ?? 50000) + spec.config.confusion;
  const fit = spec.config.labels === 'random' ? 3 : 1 + (2 * spec.config.confusion) / Math.max(1, spec.config.trainSize ?? 50000);
  return m * units * (1 + fit);
}

/** Remove temporary checkpoint folders (.NAME.tmp-*) older than maxAgeMs: left by a killed run. */
export function cleanStaleTemporaries(dir: string, maxAgeMs: number): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  const now = Date.now();
  for (const name of fs.readdirSync(dir)) {
    if (!/^\..+\.tmp-/.test(name)) continue;
    const p = path.join(dir, name);
    try {
      if (now - fs.statSync(p).mtimeMs >= maxAgeMs) {
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(name);
      }
    } catch {
      /* removed by someone else meanwhile */
    }
  }
  return removed;
}

/** Fail early, before starting workers, on data that cannot exist. */
function checkData(plan: ExperimentPlan): void {
  for (const spec of new Set(plan.runs.map((r) => r.config.data))) {
    const m = /^(idx|cifar10):(.*)$/.exec(spec);
    if (m && !fs.existsSync(m[2])) throw new UserError(`--data ${spec}: the folder ${m[2]} does not exist`);
  }
}

/** Claims older than this (not touched by their process) are stale. */
export const CLAIM_STALE_MS = 120000;
const CLAIM_HEARTBEAT_MS = 20000;

/**
 * The runs this process has claimed in a checkpoints folder (see the module's comment): one file per run,
 * checkpoints/.claims/<hash of the db path>-<run key>, created exclusively, holding {pid, host}.
 */
export class RunClaims {
  readonly dir: string;
  private readonly prefix: string;
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(checkpoints: string, db: string) {
    this.dir = path.join(checkpoints, '.claims');
    this.prefix = createHash('sha256').update(path.resolve(db)).digest('hex').slice(0, 12);
  }

  /** The claim file of a run. */
  file(key: string): string {
    return path.join(this.dir, `${this.prefix}-${key}`);
  }

  /** Whether the claim file of a run belongs to another process that is alive and keeps it fresh. */
  heldByOther(key: string): boolean {
    const file = this.file(key);
    if (this.held.has(file)) return false;
    let text: string;
    let mtime: number;
    try {
      text = fs.readFileSync(file, 'utf8');
      mtime = fs.statSync(file).mtimeMs;
    } catch {
      return false; // no claim
    }
    if (Date.now() - mtime >= CLAIM_STALE_MS) return false;
    try {
      const { pid, host } = JSON.parse(text) as { pid: number; host: string };
      if (host === os.hostname() && !pidAlive(pid)) return false;
    } catch {
      /* being written right now: fresh */
    }
    return true;
  }

  /**
   * Claim a run: true if this process now holds it, false if another live process does. Claims only
   * spare work: where they cannot be written (a read-only or foreign folder), every run is "claimed"
   * (the database still keeps one row per run).
   */
  tryClaim(key: string): boolean {
    const file = this.file(key);
    if (this.held.has(file)) return true;
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        fs.mkdirSync(this.dir, { recursive: true });
        try {
          fs.writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname(), at: new Date().toISOString() }), { flag: 'wx' });
          this.held.add(file);
          this.heartbeat();
          return true;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue; // the folder was removed (emptied) by another process meanwhile
          if (code !== 'EEXIST') throw e;
          if (this.heldByOther(key)) return false;
          fs.rmSync(file, { force: true }); // stale: its process is gone
        }
      }
      return false;
    } catch {
      return true; // no claims here: go ahead
    }
  }

  release(key: string): void {
    const file = this.file(key);
    if (!this.held.delete(file)) return;
    fs.rmSync(file, { force: true });
  }

  /** Release every claim, and remove the claims folder if no process has one left. */
  releaseAll(): void {
    for (const file of this.held) fs.rmSync(file, { force: true });
    this.held.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      fs.rmdirSync(this.dir); // fails (ENOTEMPTY) while another process holds a claim
    } catch {
      /* not empty, or not there */
    }
  }

  private heartbeat(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = new Date();
      for (const file of this.held) {
        try {
          fs.utimesSync(file, now, now);
        } catch {
          /* removed by hand: the run goes on */
        }
      }
    }, CLAIM_HEARTBEAT_MS);
    this.timer.unref();
  }
}

/** How a run is named in messages: "random-labels size=1000 labels=random", but "width=16" (not "width width=16"). */
export function runName(experiment: string, label: string): string {
  return label.startsWith(`${experiment}=`) ? label : `${experiment} ${label}`;
}

interface Slot {
  child: ChildProcess;
  ready: boolean;
  threads: number;
  spec: RunSpec | null;
  status: string;
  stderr: string;
}

export async function runPlan(plan: ExperimentPlan, opts: RunnerOptions): Promise<SweepResult> {
  const start = Date.now();
  const events = opts.events ?? {};
  checkData(plan);
  const store = Store.open(opts.db);
  const checkpoints = opts.checkpoints ?? checkpointsDir(opts.db);
  const claims = new RunClaims(checkpoints, opts.db);
  const keys = plan.runs.map(runKey);
  /** The plan's measures that a run's 'done' row lacks; null when the run has no done row. */
  const missingOf = (spec: RunSpec): string[] | null => {
    const have = store.measureNames([runKey(spec)]).get(runKey(spec));
    return have ? spec.measureOptions.measures.filter((n) => !have.includes(n)) : null;
  };
  const complete = (spec: RunSpec) => missingOf(spec)?.length === 0;
  const recordedNow = () => plan.runs.filter(complete).length;
  let removeAbortListener = () => {};
  try {
    store.registerPlan(plan);
    fs.mkdirSync(checkpoints, { recursive: true });
    cleanStaleTemporaries(checkpoints, opts.staleTmpMs ?? 10 * 60000);

    const total = plan.runs.length;
    const statuses = store.statuses(keys);
    const pending = plan.runs.filter((r) => !complete(r));
    const retrying = pending.filter((r) => statuses.get(runKey(r)) === 'failed').length;
    const adding = pending.filter((r) => statuses.get(runKey(r)) === 'done').length;
    const skipped = total - pending.length;
    const requested = opts.workers ?? os.availableParallelism();
    if (!(Number.isInteger(requested) && requested >= 1)) throw new UserError(`--workers: ${requested} is not a whole number ≥ 1`);
    const workerCount = Math.min(requested, pending.length);
    // Announced once the first worker is ready (a backend that cannot start is then the only message).
    let announced = false;
    const announce = () => {
      if (!announced) events.onStart?.({ total, skipped, pending: pending.length, workers: workerCount, retrying, adding });
      announced = true;
    };
    const result: SweepResult = { total, skipped, done: 0, added: 0, byOthers: 0, failed: [], seconds: 0, interrupted: false, recorded: skipped };
    if (opts.signal?.aborted) {
      result.interrupted = true;
      return result;
    }
    if (pending.length === 0) {
      announce();
      return result;
    }

    // Longest first (a stable sort keeps the plan's order among equals): the sweep ends sooner.
    const queue = [...pending].sort((a, b) => estimateCost(b) - estimateCost(a));
    const totalCost = pending.reduce((s, r) => s + estimateCost(r), 0);
    let doneCost = 0;
    let finished = skipped;
    let abort: Error | null = null;
    let interrupted = false;
    const slots: Slot[] = [];
    const inFlight = () => new Set(slots.filter((s) => s.spec).map((s) => trainKey(s.spec!.config)));
    const doneInDb = complete; // recorded with every measure of the plan

    await new Promise<void>((resolve) => {
      let settled = false;
      let poll: NodeJS.Timeout | null = null;
      const finish = () => {
        if (settled) return;
        if (slots.some((s) => s.spec) && !abort) return;
        if (queue.length > 0 && !abort) return;
        settled = true;
        if (poll) clearTimeout(poll);
        for (const s of slots) {
          if (abort) s.child.kill('SIGKILL');
          else if (s.child.connected) s.child.send({ type: 'exit' } satisfies ToWorker);
        }
        resolve();
      };
      const interrupt = () => {
        if (settled) return;
        settled = true;
        interrupted = true;
        if (poll) clearTimeout(poll);
        for (const s of slots) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
        resolve();
      };
      const onAbort = () => interrupt();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      removeAbortListener = () => opts.signal?.removeEventListener('abort', onAbort);
      const status = () => {
        events.onStatus?.(slots.filter((s) => s.spec).map((s) => `${s.spec!.label}: ${s.status}`).join(' · '));
      };
      const eta = (): number | null => {
        if (doneCost <= 0) return null;
        const elapsed = Date.now() - start;
        return (elapsed / doneCost) * (totalCost - doneCost);
      };
      const recordedElsewhere = (spec: RunSpec) => {
        result.byOthers++;
        finished++;
        doneCost += estimateCost(spec);
        events.onRunSkipped?.({ done: finished, total, spec });
      };
      // Idle workers look again, now and then, at runs claimed by another process.
      const schedulePoll = () => {
        if (poll || settled) return;
        poll = setTimeout(() => {
          poll = null;
          if (settled) return;
          for (const s of slots) assign(s);
          finish();
        }, opts.pollMs ?? 1000);
      };
      const assign = (slot: Slot) => {
        if (abort || settled || !slot.ready || slot.spec) return;
        const busy = inFlight();
        let waiting = false;
        for (let i = 0; i < queue.length; i++) {
          const spec = queue[i];
          // Two runs with one training configuration never train at once: the second reuses the first's checkpoint.
          if (busy.has(trainKey(spec.config))) continue;
          const key = runKey(spec);
          // Recorded by another process since the plan was read: skip it.
          if (doneInDb(spec)) {
            queue.splice(i--, 1);
            recordedElsewhere(spec);
            continue;
          }
          if (!claims.tryClaim(key)) {
            waiting = true; // another process is doing it
            continue;
          }
          if (doneInDb(spec)) {
            // recorded (and released) by another process between the look-up and the claim
            claims.release(key);
            queue.splice(i--, 1);
            recordedElsewhere(spec);
            continue;
          }
          queue.splice(i, 1);
          slot.spec = spec;
          slot.status = 'starting';
          const missing = missingOf(spec); // a done row: add only what it lacks
          slot.child.send({ type: 'run', job: { spec, db: opts.db, checkpoints, ...(missing ? { addMeasures: missing } : {}) } } satisfies ToWorker);
          status();
          return;
        }
        if (queue.length === 0) shareCores();
        else if (waiting) schedulePoll();
        finish();
      };
      const shareCores = () => {
        if (!opts.adaptiveThreads || abort) return;
        const busySlots = slots.filter((s) => s.spec && s.child.connected);
        if (busySlots.length === 0) return;
        const each = Math.max(1, Math.floor((opts.cores ?? os.availableParallelism()) / busySlots.length));
        for (const s of busySlots) {
          if (each > s.threads) {
            s.threads = each;
            s.child.send({ type: 'threads', threads: each } satisfies ToWorker);
          }
        }
      };
      const fail = (spec: RunSpec, error: string) => {
        claims.release(runKey(spec));
        if (missingOf(spec)?.length) {
          // adding measures to a done row failed: the row keeps what it had (no failed row replaces it)
          result.failed.push({ spec, error });
          finished++;
          doneCost += estimateCost(spec);
          events.onRunFailed?.({ done: finished, total, spec, error });
          return;
        }
        if (store.recordFailed(failedRow(spec, error, new Date().toISOString())) === 'exists') {
          // another process recorded it (done) meanwhile: the run is not missing
          recordedElsewhere(spec);
          return;
        }
        result.failed.push({ spec, error });
        finished++;
        doneCost += estimateCost(spec);
        events.onRunFailed?.({ done: finished, total, spec, error });
      };
      const spawn = () => {
        const child = fork(WORKER_MODULE, [], {
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
          execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
          serialization: 'advanced',
        });
        const slot: Slot = { child, ready: false, threads: opts.engine?.threads ?? 1, spec: null, status: '', stderr: '' };
        slots.push(slot);
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (d: string) => {
          slot.stderr = (slot.stderr + d).slice(-4000);
        });
        child.on('message', (msg: FromWorker) => {
          if (interrupted) return;
          if (msg.type === 'ready') {
            slot.ready = true;
            announce();
            assign(slot);
          } else if (msg.type === 'init-failed') {
            abort ??= msg.userError ? new UserError(msg.error) : new Error(`an experiment worker could not start: ${msg.error}`);
            finish();
          } else if (msg.type === 'progress') {
            slot.status = msg.text;
            status();
          } else if (msg.type === 'done') {
            const spec = slot.spec!;
            slot.spec = null;
            claims.release(runKey(spec));
            if (msg.outcome.result === 'exists') result.byOthers++;
            else if (msg.outcome.added) result.added++;
            else result.done++;
            finished++;
            doneCost += estimateCost(spec);
            events.onRunDone?.({ done: finished, total, spec, outcome: msg.outcome, etaMs: eta() });
            status();
            assign(slot);
            finish();
          } else if (msg.type === 'failed') {
            const spec = slot.spec!;
            slot.spec = null;
            if (msg.userError) {
              claims.release(runKey(spec));
              abort ??= new UserError(`${runName(plan.experiment, spec.label)}: ${msg.error}`);
              finish();
              return;
            }
            fail(spec, msg.error);
            assign(slot);
            finish();
          }
        });
        child.on('error', (e) => {
          // fork failed or the IPC channel broke: the 'exit' handler (if the process ran) does the rest
          slot.stderr += `\n${e.message}`;
          if (child.pid === undefined && !settled) {
            abort ??= new Error(`an experiment worker could not be started: ${e.message}`);
            finish();
          }
        });
        child.on('exit', (code, signal) => {
          const i = slots.indexOf(slot);
          if (i >= 0) slots.splice(i, 1);
          if (settled) return;
          // Ctrl-C on a terminal reaches the whole process group: the sweep is interrupted, the run did not fail.
          if (signal === 'SIGINT') {
            interrupt();
            return;
          }
          const how = signal ? `signal ${signal}` : `exit code ${code}`;
          const tail = slot.stderr.trim() ? `; its last output: ${slot.stderr.trim().split('\n').slice(-5).join(' | ')}` : '';
          if (!slot.ready) {
            abort ??= new Error(`an experiment worker could not start (${how})${tail}`);
            finish();
            return;
          }
          if (slot.spec) {
            const spec = slot.spec;
            slot.spec = null;
            fail(spec, `the worker process died (${how}) while running it${tail}`);
          }
          if (queue.length > 0 && !abort) spawn();
          finish();
        });
        child.send({ type: 'init', engine: opts.engine ?? { device: 'cpu', threads: 1 }, plugins: opts.plugins } satisfies ToWorker);
      };
      for (let i = 0; i < workerCount; i++) spawn();
    });
    // Wait for the workers to end (they exit after 'exit' or were killed).
    await Promise.all(
      slots.map((s) => new Promise<void>((res) => (s.child.pid === undefined || s.child.exitCode !== null || s.child.signalCode !== null ? res() : s.child.once('exit', () => res())))),
    );
    result.seconds = (Date.now() - start) / 1000;
    result.interrupted = interrupted;
    result.recorded = recordedNow();
    if (abort) throw abort;
    return result;
  } finally {
    removeAbortListener();
    claims.releaseAll();
    store.close();
  }
}

/** The one-line report of a finished run, e.g.
 * `[3/8] random-labels size=1000 labels=random: 142 epochs, train err 0.0%, test err 89.1%, l2 3.1e+05, sharpness 0.12 (38s)`. */
export function formatRunLine(done: number, total: number, experiment: string, s: RunSummary, extra = ''): string {
  return `[${done}/${total}] ${formatRunSummary(experiment, s, extra)}`;
}

/** A finished run in one line without the counter: "width=16: 12 epochs, train err 0.0%, … (5s)". */
export function formatRunSummary(experiment: string, s: RunSummary, extra = ''): string {
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`);
  const num = (v: number | null | undefined) => (v === null || v === undefined ? 'null' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : v.toPrecision(2));
  const parts = [
    s.converged ? `${s.epochs} epochs` : `DID NOT CONVERGE (${s.stopReason.replace(/^did not converge:?\s*/, '')})`,
    `train err ${pct(s.trainError)}`,
    `test err ${pct(s.testError)}`,
  ];
  for (const name of ['l2', 'l1_path', 'sharpness', 'pac_bayes']) if (name in s.measures) parts.push(`${name} ${num(s.measures[name])}`);
  return `${runName(experiment, s.label)}: ${parts.join(', ')} (${Math.round(s.seconds)}s${extra})`;
}
