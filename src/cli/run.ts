/** `genmeasures run`: run one of the paper's experiments (a sweep of networks), resumable, in parallel. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { UserError } from '../errors.js';
import { parseDevice, parseThreads, cores } from '../engine/index.js';
import { parseMeasureList } from '../measures/index.js';
import { fromFlags, withMeasureFlags } from '../measures/options.js';
import { buildPlan } from '../experiments/experiments.js';
import { EXPERIMENT_NAMES, PRESET_NAMES, parseSeedList, parseSizeList, runKey, trainKey, type ExperimentPlan, type PlanOverrides, type StoredMeasureOptions } from '../experiments/plan.js';
import { formatRunLine, runName, runPlan } from '../experiments/runner.js';
import { DEFAULT_DB } from '../experiments/store.js';
import { enqueuePlan } from '../experiments/distributed.js';
import { DEFAULT_LEASE_SECONDS, DEFAULT_RETRIES } from '../experiments/queue.js';
import { redactUrl } from '../experiments/postgres.js';
import { isPostgresUrl, openResults } from '../experiments/sink.js';
import { dbUserError } from '../util/output.js';
import { dbOption, resolveDb } from './db.js';
import { fileURLToPath } from 'node:url';
import { fork } from 'node:child_process';
import { formatDuration } from '../util/progress.js';
import { importPlugin, preparePlugin } from '../util/plugins.js';

export const command: CommandDef = {
  name: 'run',
  summary: 'run one of the paper\'s experiments: train, measure and record every network of a sweep (resumable)',
  usage: 'genmeasures run random-labels|confusion|width [--preset quick|paper] [--data SPEC] [--model SPEC] [--workers N] [--db FILE|URL [--enqueue]] [--seed S | --seeds LIST]',
  positionals: true,
  // a getter: read after prepare imported the --plugin, whose options are flags too (measures/options.ts)
  get options() {
    return withMeasureFlags('run', {
    preset: { type: 'string', value: 'NAME', default: 'quick', choices: [...PRESET_NAMES], help: 'quick: embedded MNIST, minutes; paper: the paper\'s sizes, hours' },
    data: { type: 'string', value: 'SPEC', help: 'data set instead of the preset\'s (paper presets of random-labels and confusion need cifar10:DIR)' },
    model: { type: 'string', value: 'SPEC', help: 'network instead of the preset\'s (random-labels, confusion)' },
    seed: { type: 'int', value: 'S', help: 'seed of every run (subsets, labels, initialisation, batch order) [default: 1]' },
    seeds: { type: 'string', value: 'LIST', help: 'run every configuration once with each seed, e.g. 1,2,3 (the report shows the mean and the range over seeds); excludes --seed [default: one seed]' },
    workers: { type: 'int', value: 'N', min: 1, default: os.availableParallelism(), help: 'worker processes, one run each at a time (the default is the number of cores)' },
    db: dbOption(`results database: a SQLite file (checkpoints go to checkpoints/ beside it), or a PostgreSQL URL postgres://USER:PASSWORD@HOST:PORT/DATABASE shared by many machines [default: $DATABASE_URL if set, else ${DEFAULT_DB}]`),
    enqueue: { type: 'boolean', help: 'PostgreSQL only: put the sweep\'s runs in the database\'s queue and return; `genmeasures worker` processes on any machines do them' },
    lease: { type: 'int', value: 'S', min: 1, default: DEFAULT_LEASE_SECONDS, help: 'PostgreSQL: seconds a run stays with a worker that stopped renewing its lease (died) before it goes back to the queue' },
    retries: { type: 'int', value: 'N', min: 0, default: DEFAULT_RETRIES, help: 'PostgreSQL: times a failed run is retried before it is recorded as failed' },
    checkpoints: { type: 'string', value: 'DIR', help: 'checkpoint folder [default: checkpoints/ beside a SQLite file; runs/checkpoints with PostgreSQL]' },
    sizes: { type: 'string', value: 'LIST', help: 'random-labels: training-set sizes, e.g. 500,1000,2K' },
    'confusion-sizes': { type: 'string', value: 'LIST', help: 'confusion: confusion-set sizes, e.g. 0,250,500' },
    widths: { type: 'string', value: 'LIST', help: 'width: hidden-layer widths, e.g. 8,32,128' },
    'train-size': { type: 'int', value: 'N', min: 1, help: 'confusion: size of the true-labelled set; width: training-set size' },
    'max-epochs': { type: 'int', value: 'N', min: 1, help: 'epoch cap of every run (then "did not converge")' },
    'max-minutes': { type: 'number', value: 'MIN', help: 'wall-clock cap of every run in minutes (then "did not converge")' },
    'target-loss': { type: 'number', value: 'L', min: 0, help: 'stop when the epoch-average training cross-entropy is below L [default: 0.01]' },
    measures: { type: 'string', value: 'LIST', help: 'compute only these measures [default: all]' },
    threads: { type: 'int', value: 'N', min: 1, help: 'ONNX Runtime threads per worker [default: cores / workers, at least 1, and once no run is left to start, the cores of idle workers go to the busy ones]' },
    device: { type: 'string', value: 'NAME', default: 'cpu', choices: ['cpu', 'webgpu', 'cuda'], help: 'execution provider of the workers' },
    plugin: { type: 'string', value: 'FILE', help: 'an ES module to import first (here and in every worker), e.g. one whose top level calls defineMeasure: its measures are computed and recorded like the others' },
    'dry-run': { type: 'boolean', help: 'print the plan (every run, its key, and whether the database holds it) and stop' },
    quiet: { type: 'boolean', help: 'no progress output (the summary is still printed)' },
    } as CommandDef['options'], { withDefaults: false });
  },
  epilog: [
    'Experiments (paper section 3):',
    '  random-labels  for each training-set size, one network on true and one on random labels (Fig. 1, 2)',
    '  confusion      a true-labelled set plus random-labelled confusion sets of growing size (Fig. 3)',
    '  width          one-hidden-layer MLPs of growing width on MNIST (Fig. 4)',
    '',
    'Every run trains (or reuses its checkpoint), computes every measure and is recorded in the database as',
    'one row. Running the same command again skips finished runs: an interrupted sweep resumes. A run that',
    'fails is recorded as failed and retried next time. A finished run that lacks a measure now asked for',
    '(a longer --measures list, a new measure) is measured again for the missing ones only, from its',
    'checkpoint. Export the results with genmeasures export.',
    '',
    'Examples:',
    '  genmeasures run width --preset quick --workers 2',
    '  genmeasures run random-labels --preset paper --data cifar10:/data/cifar-10-batches-bin',
    '  genmeasures run confusion --dry-run',
    '  genmeasures run width --seeds 1,2,3           # every width with three seeds; the report shows mean and range',
    '  genmeasures run width --plugin ./my-measure.mjs     # a measure of your own, added to the runs recorded before',
    '  genmeasures run width --db postgres://gm:secret@db.lab/sweeps --enqueue   # then: genmeasures worker --db … on any machines',
    '',
    'With a PostgreSQL --db and no --enqueue, the sweep is queued and --workers local worker processes drain',
    'the queue (the same workers as genmeasures worker). See docs/distributed.md.',
  ].join('\n'),
};

/** Before parsing: import the --plugin (its measures and option flags must be known to the parser and --help). */
export const prepare = preparePlugin;

function overridesOf(o: ParsedOptions): PlanOverrides {
  const list = (name: string, min: number) => (o[name] === undefined ? undefined : parseSizeList(String(o[name]), `--${name}`, min));
  const measureOptions: Partial<StoredMeasureOptions> = {};
  if (o.measures !== undefined) measureOptions.measures = parseMeasureList(String(o.measures));
  Object.assign(measureOptions, fromFlags('run', o)); // every measure option's flag (measures/options.ts)
  if (o['max-minutes'] !== undefined && !(Number(o['max-minutes']) > 0)) throw new UserError(`--max-minutes: ${o['max-minutes']} must be a positive number`);
  if (o.seed !== undefined && o.seeds !== undefined) throw new UserError('--seed and --seeds exclude each other (give the one seed as --seeds S)');
  return {
    seeds: o.seeds === undefined ? undefined : parseSeedList(String(o.seeds)),
    data: o.data === undefined ? undefined : String(o.data),
    model: o.model === undefined ? undefined : String(o.model),
    seed: o.seed === undefined ? undefined : Number(o.seed),
    sizes: list('sizes', 1),
    confusionSizes: list('confusion-sizes', 0),
    widths: list('widths', 1),
    trainSize: o['train-size'] === undefined ? undefined : Number(o['train-size']),
    maxEpochs: o['max-epochs'] === undefined ? undefined : Number(o['max-epochs']),
    maxMinutes: o['max-minutes'] === undefined ? undefined : Number(o['max-minutes']),
    targetLoss: o['target-loss'] === undefined ? undefined : Number(o['target-loss']),
    measureOptions,
  };
}

async function printPlan(plan: ExperimentPlan, dbFile: string): Promise<void> {
  let statuses = new Map<string, string>();
  if (isPostgresUrl(dbFile) || fs.existsSync(dbFile)) {
    let sink;
    try {
      sink = await openResults(dbFile, { mustExist: true });
    } catch (e) {
      // a PostgreSQL database without genmeasures tables yet: nothing is recorded
      if (!(isPostgresUrl(dbFile) && /holds no genmeasures results/.test((e as Error).message))) throw e;
    }
    if (sink) {
      try {
        statuses = await sink.statuses(plan.runs.map(runKey));
        const have = await sink.measureNames(plan.runs.map(runKey));
        for (const r of plan.runs) {
          const missing = have.has(runKey(r)) ? r.measureOptions.measures.filter((n) => !have.get(runKey(r))!.includes(n)) : [];
          if (missing.length) statuses.set(runKey(r), `done, to add ${missing.join(',')}`);
        }
      } finally {
        await sink.close();
      }
    }
  }
  const c0 = plan.runs[0].config;
  const mo = plan.runs[0].measureOptions;
  const seeds = [...new Set(plan.runs.map((r) => r.config.seed))];
  console.log(`${plan.experiment} (preset ${plan.preset}): ${plan.runs.length} runs`);
  console.log(plan.description);
  console.log(
    `training: data ${c0.data}, ${seeds.length > 1 ? `seeds ${seeds.join(', ')}` : `seed ${c0.seed}`}, SGD lr ${c0.lr} momentum ${c0.momentum} batch ${c0.batchSize}, stop at cross-entropy < ${c0.targetLoss} or ${c0.maxEpochs} epochs${c0.maxMinutes !== null ? ` or ${c0.maxMinutes} min` : ''}`,
  );
  console.log(
    `measures: ${mo.measures.length === 0 ? 'none' : mo.measures.join(', ')}; margin ε ${mo.marginEps}, sharpness α ${mo.alpha} (${mo.sharpnessSteps} steps, ≤ ${mo.sharpnessPoints} points), ${mo.samples} samples per α/σ, δ ${mo.delta}`,
  );
  const rows = plan.runs.map((r) => [
    r.label,
    r.config.model,
    r.config.trainSize === null ? 'all' : String(r.config.trainSize),
    r.config.labels,
    String(r.config.confusion),
    runKey(r).slice(0, 12),
    trainKey(r.config).slice(0, 12),
    statuses.get(runKey(r)) ?? 'to run',
  ]);
  const head = ['run', 'model', 'train size', 'labels', 'confusion', 'key', 'checkpoint', 'status'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  console.log('');
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
}

/** A bar on a terminal (stderr), plain status lines every 30 s otherwise; run lines go to stdout. */
function sweepProgress(quiet: boolean) {
  const err = process.stderr;
  const tty = !!err.isTTY && !quiet;
  let done = 0;
  let total = 0;
  let status = '';
  let eta: number | null = null;
  let lastPlain = Date.now();
  const start = Date.now();
  const bar = () => {
    const frac = total ? done / total : 0;
    const filled = Math.round(frac * 24);
    const text = `runs ${'█'.repeat(filled)}${'░'.repeat(24 - filled)} ${done}/${total} ETA ${eta === null ? '?' : formatDuration(eta)} ${status}`;
    return text.slice(0, (err.columns || 100) - 1);
  };
  const draw = () => {
    if (tty && total > 0) err.write(`\r\x1b[2K${bar()}`);
  };
  return {
    setTotal(d: number, t: number) {
      done = d;
      total = t;
      draw();
    },
    update(d: number, e: number | null) {
      done = d;
      eta = e;
      draw();
    },
    status(text: string) {
      status = text;
      if (quiet) return;
      if (tty) draw();
      else if (Date.now() - lastPlain >= 30000) {
        lastPlain = Date.now();
        err.write(`runs ${done}/${total}, elapsed ${formatDuration(Date.now() - start)}, ETA ${eta === null ? '?' : formatDuration(eta)}: ${text}\n`);
      }
    },
    line(text: string) {
      if (tty) err.write('\r\x1b[2K');
      process.stdout.write(text + '\n');
      draw();
    },
    note(text: string) {
      if (quiet) return;
      if (tty) err.write('\r\x1b[2K');
      err.write(text + '\n');
      draw();
    },
    end() {
      if (tty) err.write('\r\x1b[2K');
    },
  };
}

export async function run(o: ParsedOptions, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UserError(`name an experiment: genmeasures run ${EXPERIMENT_NAMES.join('|')} (see genmeasures run --help)`);
  if (positionals.length > 1) throw new UserError(`one experiment at a time (got ${positionals.join(', ')})`);
  // before the plan: the default measure list and --measures see the plugin's measures
  const plugins = o.plugin === undefined ? [] : [path.resolve(String(o.plugin))];
  for (const p of plugins) await importPlugin(p);
  const plan = buildPlan(positionals[0], String(o.preset), overridesOf(o));
  const dbFile = resolveDb(o);
  const workerCount = Number(o.workers);
  const device = parseDevice(String(o.device));
  const threads = o.threads === undefined ? Math.max(1, Math.floor(cores() / Math.max(1, workerCount))) : parseThreads(Number(o.threads));
  if (o['dry-run']) {
    try {
      await printPlan(plan, dbFile);
    } catch (e) {
      throw dbUserError(e, '--db', dbFile);
    }
    return 0;
  }
  if (isPostgresUrl(dbFile)) return runOnPostgres(o, plan, dbFile, workerCount, threads);
  if (o.enqueue) throw new UserError(`--enqueue needs a PostgreSQL database (--db postgres://USER:PASSWORD@HOST/DATABASE, or DATABASE_URL); ${dbFile} is a SQLite file: run the sweep here without --enqueue`);
  const quiet = !!o.quiet;
  const p = sweepProgress(quiet);
  // Ctrl-C: stop starting runs, stop the workers, say how far the sweep got (exit code 130). A second
  // Ctrl-C (the listener is gone after the first) ends the process at once.
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  const result = await runPlan(plan, {
    db: dbFile,
    ...(o.checkpoints !== undefined ? { checkpoints: path.resolve(String(o.checkpoints)) } : {}),
    workers: workerCount,
    engine: { device, threads },
    adaptiveThreads: o.threads === undefined,
    signal: interrupt.signal,
    plugins,
    events: {
      onStart: ({ total, skipped, pending, workers, retrying, adding }) => {
        p.note(
          `${plan.experiment} (preset ${plan.preset}): ${total} run${total === 1 ? '' : 's'}${skipped ? `, ${skipped} already done` : ''}${retrying ? `, ${retrying} failed before (retrying)` : ''}${adding ? `, ${adding} done before without some measures (adding them)` : ''}` +
            (pending ? `; ${pending} to run on ${workers} worker${workers > 1 ? 's' : ''}` : '; nothing to do') + ` (db ${dbFile})`,
        );
        p.setTotal(skipped, total);
      },
      onRunDone: ({ done, total, spec, outcome, etaMs }) => {
        const extra =
          (outcome.reusedCheckpoint ? ', checkpoint reused' : '') +
          (outcome.added?.length ? `, added measures ${outcome.added.join(', ')}` : '') +
          (outcome.result === 'exists' ? '; another process recorded it first' : '');
        p.line(formatRunLine(done, total, spec.experiment, outcome.summary, extra));
        p.update(done, etaMs);
      },
      onRunFailed: ({ done, total, spec, error }) => {
        p.line(`[${done}/${total}] ${runName(spec.experiment, spec.label)}: FAILED: ${error.split('\n')[0]}`);
        p.update(done, null);
      },
      onRunSkipped: ({ done, total, spec }) => {
        p.line(`[${done}/${total}] ${runName(spec.experiment, spec.label)}: recorded by another process (skipped)`);
        p.update(done, null);
      },
      onStatus: (text) => p.status(text),
    },
  }).finally(() => process.removeListener('SIGINT', onSigint));
  p.end();
  if (result.interrupted) {
    console.error(`interrupted: ${result.recorded} of ${result.total} runs recorded; run the same command to resume`);
    return 130;
  }
  const took = formatDuration(result.seconds * 1000);
  const finished = result.skipped + result.done + result.added + result.byOthers;
  const parts = [`${result.done} now`];
  if (result.skipped) parts.push(`${result.skipped} before`);
  if (result.added) parts.push(`${result.added} with new measures`);
  if (result.byOthers) parts.push(`${result.byOthers} by another process`);
  console.log(
    `${plan.experiment}: ${finished} of ${result.total} runs recorded (${parts.join(', ')}) in ${took}; db ${dbFile}` +
      (result.failed.length ? `; ${result.failed.length} FAILED` : ''),
  );
  if (result.failed.length) {
    // One line, and a non-zero exit status without a stack trace: the errors are in the database.
    console.error(
      `genmeasures run: ${result.failed.length} of ${result.total} runs failed (first: ${runName(plan.experiment, result.failed[0].spec.label)}: ${result.failed[0].error.split('\n')[0]}); they are recorded as failed in ${dbFile} with their errors (genmeasures export shows them) and are retried when you run the command again`,
    );
    return 1;
  }
  console.log(`export: genmeasures export --db ${dbFile} --format csv`);
  return 0;
}

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/**
 * A sweep on a PostgreSQL database: its runs go into the database's queue (as many machines' workers
 * share it). With --enqueue that is all; otherwise --workers local worker processes (the same as
 * `genmeasures worker --until-empty`) drain the queue, and the sweep's counts are printed at the end.
 */
async function runOnPostgres(o: ParsedOptions, plan: ExperimentPlan, db: string, workers: number, threads: number): Promise<number> {
  const where = redactUrl(db);
  const q = await enqueuePlan(plan, { db, lease: Number(o.lease), retries: Number(o.retries) });
  const pending = q.total - q.done;
  console.error(
    `${plan.experiment} (preset ${plan.preset}): ${q.total} run${q.total === 1 ? '' : 's'}` +
      (q.done ? `, ${q.done} already done` : '') +
      `; ${q.queued} queued now` +
      (q.waiting ? `, ${q.waiting} already in the queue` : '') +
      ` (db ${where}, sweep ${q.planKey.slice(0, 8)})`,
  );
  if (o.enqueue) {
    if (pending > 0) console.log(`start workers on any machines: genmeasures worker --db ${where.includes('***') ? "'postgres://…'" : where}${o.checkpoints !== undefined ? ` --checkpoints ${o.checkpoints}` : ''} [--concurrency N]; progress: genmeasures status --db …`);
    return 0;
  }
  if (pending === 0) {
    console.log(`${plan.experiment}: ${q.total} of ${q.total} runs recorded (nothing to do); db ${where}`);
    return 0;
  }
  const n = Math.min(workers, pending);
  const args = ['worker', '--db', db, '--concurrency', String(n), '--threads', String(threads), '--until-empty', '--poll', '0.5', '--device', String(o.device)];
  if (o.threads === undefined) args.push('--share-cores'); // as a local sweep: idle workers' cores go to the busy ones
  if (o.checkpoints !== undefined) args.push('--checkpoints', String(o.checkpoints));
  if (o.plugin !== undefined) args.push('--plugin', String(o.plugin));
  if (o.quiet) args.push('--quiet');
  const start = Date.now();
  const child = fork(MAIN, args, { stdio: 'inherit', execArgv: process.execArgv.filter((a) => !a.startsWith('--test')) });
  const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 130 : 1))));
  if (code === 130) {
    console.error('interrupted: the runs not done stay in the queue; run the same command (or genmeasures worker) to go on');
    return 130;
  }
  if (code !== 0) return code;
  const sink = await openResults(db, { mustExist: true });
  try {
    const statuses = await sink.statuses(plan.runs.map(runKey));
    const done = [...statuses.values()].filter((s) => s === 'done').length;
    const failed = [...statuses.values()].filter((s) => s === 'failed').length;
    console.log(`${plan.experiment}: ${done} of ${plan.runs.length} runs recorded in ${formatDuration(Date.now() - start)}; db ${where}${failed ? `; ${failed} FAILED` : ''}`);
    if (failed) {
      console.error(`genmeasures run: ${failed} of ${plan.runs.length} runs failed; they are recorded as failed with their errors (genmeasures export --status failed) and are queued again when you run the command again`);
      return 1;
    }
  } finally {
    await sink.close();
  }
  return 0;
}
