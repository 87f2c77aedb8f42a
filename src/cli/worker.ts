/** `genmeasures worker`: take runs from the queue of a PostgreSQL results database, train, measure, record. */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandDef, ParsedOptions } from './args.js';
import { UserError } from '../errors.js';
import { cores, parseDevice, parseThreads } from '../engine/index.js';
import { isPostgresUrl } from '../experiments/sink.js';
import { redactUrl } from '../experiments/postgres.js';
import { workQueue } from '../experiments/queueWorker.js';
import { formatRunSummary, runName } from '../experiments/runner.js';
import { dbOption, resolveDb } from './db.js';

export const command: CommandDef = {
  name: 'worker',
  summary: 'take runs from a sweep queued in PostgreSQL (run … --enqueue), train, measure and record them; on any number of machines',
  usage: 'genmeasures worker --db postgres://… [--concurrency N] [--checkpoints DIR] [--until-empty]',
  options: {
    db: dbOption('the PostgreSQL results database that holds the queue: postgres://USER:PASSWORD@HOST:PORT/DATABASE [default: $DATABASE_URL]'),
    concurrency: { type: 'int', value: 'N', min: 1, default: 1, help: 'runs at once on this machine, each in its own process' },
    threads: { type: 'int', value: 'N', min: 1, help: 'ONNX Runtime threads per run [default: cores / concurrency, at least 1, and while fewer runs than cores are in progress on this machine, the idle workers\' cores go to the busy ones]' },
    'share-cores': { type: 'boolean', help: 'with --threads: still give idle workers\' cores (on this machine) to busy ones (the default without --threads)' },
    device: { type: 'string', value: 'NAME', default: 'cpu', choices: ['cpu', 'webgpu', 'cuda'], help: 'execution provider' },
    checkpoints: { type: 'string', value: 'DIR', default: path.join('runs', 'checkpoints'), help: 'checkpoint folder: on shared storage, workers reuse each other\'s training; a run whose checkpoint is absent is trained again (same numbers)' },
    'until-empty': { type: 'boolean', help: 'stop when no run is queued or running (default: wait for more)' },
    poll: { type: 'number', value: 'S', min: 0.05, default: 2, help: 'seconds between looks at an empty queue' },
    maintenance: { type: 'number', value: 'S', min: 1, default: 30, help: 'how often (seconds) the workers look for runs whose worker died (lease expired) and put them back in the queue' },
    plugin: { type: 'string', value: 'FILE', help: 'an ES module to import first (e.g. one that calls defineMeasure), as given to run --plugin' },
    quiet: { type: 'boolean', help: 'only errors' },
    verbose: { type: 'boolean', help: 'also print what each run is doing (training, measuring …, recording) on stderr' },
  },
  epilog: [
    'Start a sweep with `genmeasures run EXPERIMENT --db postgres://… --enqueue`, then start workers on any',
    'machines that reach the database (and the data). A worker killed mid-run loses its lease: the run goes',
    'back to the queue after the lease (run --lease, default 120 s) and another worker takes it; after',
    'run --retries failures it is recorded as failed with its error. Ctrl-C (SIGINT) or SIGTERM: the run in',
    'progress goes back to the queue at once and the worker ends. docs/distributed.md shows Slurm and a',
    'container image.',
    '',
    'Examples:',
    '  genmeasures worker --db postgres://gm:secret@db.lab:5432/sweeps --concurrency 2',
    '  DATABASE_URL=postgres://gm:secret@db.lab/sweeps genmeasures worker --checkpoints /shared/ckpt --until-empty',
  ].join('\n'),
};

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export async function run(o: ParsedOptions): Promise<number> {
  const db = resolveDb(o);
  if (!isPostgresUrl(db)) {
    throw new UserError(o.db === undefined ? '--db: a worker needs a PostgreSQL database (--db postgres://USER:PASSWORD@HOST/DATABASE, or DATABASE_URL)' : `--db ${db}: a worker needs a PostgreSQL database (postgres://USER:PASSWORD@HOST/DATABASE); a SQLite sweep runs with genmeasures run`);
  }
  const concurrency = Number(o.concurrency);
  const threads = o.threads === undefined ? Math.max(1, Math.floor(cores() / concurrency)) : parseThreads(Number(o.threads));
  const device = parseDevice(String(o.device));
  if (concurrency > 1) return runProcesses(o, concurrency, threads);
  const plugins = o.plugin === undefined ? [] : [path.resolve(String(o.plugin))];
  const quiet = !!o.quiet;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const say = (text: string) => {
    if (!quiet) process.stderr.write(`${text}\n`);
  };
  let lostSince = 0;
  try {
    const result = await workQueue({
      db,
      checkpoints: path.resolve(String(o.checkpoints)),
      engine: { device, threads },
      plugins,
      untilEmpty: !!o['until-empty'],
      pollMs: Number(o.poll) * 1000,
      maintenanceSeconds: Number(o.maintenance),
      // with the default thread count, this machine's idle workers lend their cores (results do not change)
      ...(o.threads === undefined || o['share-cores'] ? { shareCores: { cores: cores() } } : {}),
      signal: stop.signal,
      events: {
        onReady: ({ backend, worker }) => say(`worker ${worker}: ${backend}, ${threads} thread${threads > 1 ? 's' : ''}, taking runs from ${redactUrl(db)}`),
        onPhase: ({ spec, text }) => {
          if (o.verbose) say(`${runName(spec.experiment, spec.label)}: ${text}`);
        },
        onTake: ({ spec, retryCount }) => say(`${runName(spec.experiment, spec.label)}: started${retryCount ? ` (try ${retryCount + 1})` : ''}`),
        onDone: ({ spec, outcome }) => {
          lostSince = 0;
          if (quiet) return;
          if (!outcome) console.log(`${runName(spec.experiment, spec.label)}: recorded before (nothing to do)`);
          else console.log(formatRunSummary(spec.experiment, outcome.summary, (outcome.reusedCheckpoint ? ', checkpoint reused' : '') + (outcome.added?.length ? `, added measures ${outcome.added.join(', ')}` : '') + (outcome.result === 'exists' ? '; recorded by another worker first' : '')));
        },
        onRunError: ({ spec, error, retryCount, retryLimit }) =>
          console.error(`${runName(spec.experiment, spec.label)}: FAILED (try ${retryCount + 1} of ${retryLimit + 1}${retryCount < retryLimit ? '; back in the queue' : ''}): ${error}`),
        onReleased: ({ spec }) => {
          // stopped mid-run: the run is back in the queue; its work here is abandoned
          console.error(`${runName(spec.experiment, spec.label)}: stopped; the run is back in the queue`);
          process.exit(130);
        },
        onRecordedFailed: ({ spec, error }) => console.error(`${runName(spec.experiment, spec.label)}: recorded as failed: ${error.split('\n')[0]}`),
        onConnectionLost: ({ error }) => {
          if (lostSince === 0) {
            lostSince = Date.now();
            console.error(`lost the database connection (${error.split('\n')[0]}); retrying`);
          }
        },
      },
    });
    say(`worker: ${result.done} run${result.done === 1 ? '' : 's'} recorded, ${result.alreadyRecorded} found recorded, ${result.errors} failed here, ${result.recordedFailed} recorded as failed, in ${Math.round(result.seconds)} s${result.stopped ? ' (stopped)' : ''}`);
    return result.stopped ? 130 : 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** --concurrency N: N worker processes of this machine (each its own engine), ended together. */
async function runProcesses(o: ParsedOptions, n: number, threads: number): Promise<number> {
  const args: string[] = ['worker', '--concurrency', '1', '--threads', String(threads), ...(o.threads === undefined || o['share-cores'] ? ['--share-cores'] : [])];
  for (const [name, v] of Object.entries(o)) {
    if (v === undefined || name === 'concurrency' || name === 'threads' || name === 'share-cores') continue;
    if (typeof v === 'boolean') {
      if (v) args.push(`--${name}`);
    } else args.push(`--${name}=${v}`);
  }
  const children = Array.from({ length: n }, () => fork(MAIN, args, { stdio: 'inherit', execArgv: process.execArgv.filter((a) => !a.startsWith('--test')) }));
  const forward = (sig: NodeJS.Signals) => () => {
    for (const c of children) if (c.exitCode === null) c.kill(sig);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const codes = await Promise.all(children.map((c) => new Promise<number>((resolve) => c.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 130 : 1))))));
    return Math.max(...codes);
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
}

