/**
 * The work of one run, as a worker process does it: train (or reuse the run's complete checkpoint),
 * measure, and record the row — in that order, so that the row exists only when everything is done.
 *
 *   1. The checkpoint (checkpoints.ts, the artefact store): checkpoints/<train key>/ complete and
 *      loadable? reuse it; otherwise (missing, incomplete or corrupt) train with trainRun and save the
 *      folder atomically. A run whose training diverges fails (recorded as failed).
 *   2. Load the trained and the initial network from the checkpoint (a fresh and a resumed run are then
 *      measured from the very same bytes), prepare the run's data exactly as training did, and compute
 *      every measure on the true-labelled part (the first trueCount points: all of them except the
 *      confusion set) with workers: 1 (one run per core; measures do not start threads of their own).
 *   3. Record the row, its measures and its curve in one transaction, in the result sink (sink.ts: the
 *      SQLite file, or PostgreSQL).
 *
 * A run recorded as done that lacks some of the measures now asked for (job.addMeasures) is not redone:
 * its checkpoint is loaded (or, if gone, the run is trained again: the key fixes the result), only the
 * missing measures are computed, and they are merged into the row (sink.addMeasures).
 */
import path from 'node:path';
import { computeMeasures, type MeasureReport } from '../measures/index.js';
import type { Dataset } from '../data/types.js';
import { prepareData } from '../train/prepare.js';
import type { RunRecord } from '../train/run.js';
import type { EpochRecord } from '../train/sgd.js';
import { runKey, trainKey, type RunSpec } from './plan.js';
import { loadCheckpoint, trainOrReuse, type LoadedCheckpoint } from './checkpoints.js';
import { doneRow } from './store.js';
import { SqliteSink, type ResultSink } from './sink.js';

export interface RunJob {
  spec: RunSpec;
  /** Results database: a SQLite file (opened per run) unless `sink` is given. */
  db: string;
  /** The open result sink to record into (a worker's PostgreSQL connection); default: the SQLite file `db`. */
  sink?: ResultSink;
  /** Folder holding the checkpoints (checkpoints/ beside the db). */
  checkpoints: string;
  /** Backend name in use in this process. */
  backend: string;
  /** The run is recorded as done without these measures: compute only them and add them to its row. */
  addMeasures?: string[];
}

export interface RunHooks {
  /** Training progress (one call per epoch). */
  onEpoch?(rec: EpochRecord): void;
  /** What the run is doing now: 'training', 'measuring <measure>', 'recording'. */
  onPhase?(text: string): void;
}

export interface RunOutcome {
  key: string;
  /** 'inserted': this process recorded the row; 'exists': another process recorded it first. */
  result: 'inserted' | 'exists';
  reusedCheckpoint: boolean;
  summary: RunSummary;
  /** Set when measures were added to a run recorded before (job.addMeasures): the names this process added. */
  added?: string[];
}

/** The key numbers of a finished run, for the one-line report. */
export interface RunSummary {
  label: string;
  converged: boolean;
  stopReason: string;
  epochs: number;
  trainError: number;
  testError: number | null;
  measures: Record<string, number | null>;
  trainSeconds: number;
  measureSeconds: number;
  /** Wall time of the whole run in this process (training, measuring, recording). */
  seconds: number;
}

export { isCompleteCheckpoint, loadCheckpoint, trainOrReuse, type LoadedCheckpoint } from './checkpoints.js';

/** The first n points of a data set (no copy). */
export function head(ds: Dataset, n: number): Dataset {
  if (n >= ds.n) return ds;
  const size = ds.shape[0] * ds.shape[1] * ds.shape[2];
  return { ...ds, n, x: ds.x.subarray(0, n * size), y: ds.y.subarray(0, n) };
}

/** Compute a run's measures from its checkpoint (loaded, or loaded here), on the true-labelled part of its training set. */
export async function measureCheckpoint(spec: RunSpec, dir: string, hooks: RunHooks = {}, loaded?: LoadedCheckpoint): Promise<{ report: MeasureReport; measuredOn: number; seconds: number }> {
  const { net, initial } = loaded ?? loadCheckpoint(spec, dir);
  const prepared = prepareData(spec.config);
  const data = head(prepared.train, prepared.trueCount);
  const t0 = performance.now();
  const report = await computeMeasures(
    net,
    data,
    { ...spec.measureOptions, initial },
    (label) => {
      hooks.onPhase?.(`measuring ${label}`);
      return { update() {}, log() {}, done() {} };
    },
  );
  if (prepared.trueCount < prepared.train.n) {
    report.notes.unshift(`measured on the ${prepared.trueCount} true-labelled training points (the ${prepared.train.n - prepared.trueCount} random-labelled confusion points left out)`);
  }
  return { report, measuredOn: data.n, seconds: (performance.now() - t0) / 1000 };
}

/** Do one run completely and record it. Throws on failure (the caller records failures). */
export async function executeRun(job: RunJob, hooks: RunHooks = {}): Promise<RunOutcome> {
  const t0 = performance.now();
  const createdAt = new Date().toISOString();
  const { spec } = job;
  const key = runKey(spec);
  const dir = path.join(job.checkpoints, trainKey(spec.config));
  const { record, reused, loaded } = await trainOrReuse(spec, dir, job.backend, hooks);
  hooks.onPhase?.('measuring');
  const adding = job.addMeasures !== undefined;
  const measuring = adding ? { ...spec, measureOptions: { ...spec.measureOptions, measures: job.addMeasures! } } : spec;
  const { report, measuredOn, seconds } = await measureCheckpoint(measuring, dir, hooks, loaded);
  hooks.onPhase?.('recording');
  const sink = job.sink ?? SqliteSink.open(job.db);
  try {
    if (adding) {
      const added = await sink.addMeasures(key, report, seconds);
      return {
        key,
        result: added.result === 'updated' ? 'inserted' : 'exists',
        reusedCheckpoint: reused,
        added: added.added,
        summary: summaryOf(spec, record, added.measures, seconds, t0),
      };
    }
    const row = doneRow(spec, record, report, {
      measuredOn,
      measureSeconds: seconds,
      // a SQLite file names the checkpoint relative to itself; a shared database by its train key (the
      // folder's name under every machine's --checkpoints)
      checkpoint: sink.kind === 'sqlite' ? path.relative(path.dirname(path.resolve(job.db)), dir) : path.basename(dir),
      createdAt,
    });
    const result = await sink.recordDone(row);
    return {
      key,
      result,
      reusedCheckpoint: reused,
      summary: summaryOf(spec, record, report.measures, seconds, t0),
    };
  } finally {
    if (!job.sink) await sink.close();
  }
}

function summaryOf(spec: RunSpec, record: RunRecord, measures: Record<string, number | null>, measureSeconds: number, t0: number): RunSummary {
  return {
    label: spec.label,
    converged: record.converged,
    stopReason: record.stopReason,
    epochs: record.epochs,
    trainError: record.final.trainError,
    testError: record.final.testError,
    measures,
    trainSeconds: record.seconds,
    measureSeconds,
    seconds: (performance.now() - t0) / 1000,
  };
}
