/**
 * The artefact store of a sweep: the checkpoints folder, one folder per training configuration
 * (checkpoints/<train key>/: model.json, weights.bin, initial/, run.json), written atomically (a temporary
 * sibling, then a rename). Workers on several machines share it when it is on shared storage; where a
 * checkpoint is absent, a run is trained again (its key fixes every random choice, so with the same
 * numbers).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadNetwork } from '../models/io.js';
import type { Network } from '../models/network.js';
import { saveRun, trainRun, type RunRecord } from '../train/run.js';
import { TrainingDivergedError } from '../train/sgd.js';
import { canonicalJson, type RunSpec } from './plan.js';
import type { RunHooks } from './execute.js';

const CHECKPOINT_FILES = ['run.json', 'model.json', 'weights.bin', path.join('initial', 'model.json'), path.join('initial', 'weights.bin')];

/** Whether a checkpoint folder holds a complete run (trainRun writes it atomically, so it should). */
export function isCompleteCheckpoint(dir: string): boolean {
  return CHECKPOINT_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

/** A run's checkpoint, loaded: its record and its trained and initial networks. */
export interface LoadedCheckpoint {
  record: RunRecord;
  net: Network;
  initial: Network;
}

/** Thrown when a checkpoint holds a run of another configuration: never deleted, the run is recorded as failed. */
class ForeignCheckpointError extends Error {}

/**
 * Load a complete checkpoint folder. A folder that cannot be read as a run (bad JSON, truncated or
 * non-finite weights, …) throws; one that holds a run of another configuration throws a
 * ForeignCheckpointError.
 */
export function loadCheckpoint(spec: RunSpec, dir: string): LoadedCheckpoint {
  let record: RunRecord;
  try {
    record = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunRecord;
  } catch (e) {
    throw new Error(`${path.join(dir, 'run.json')} cannot be read (${(e as Error).message.split('\n')[0]})`);
  }
  if (!record || typeof record !== 'object' || !record.config || typeof record.config !== 'object') {
    throw new Error(`${path.join(dir, 'run.json')} is not a run record (no "config")`);
  }
  if (canonicalJson(record.config) !== canonicalJson(spec.config)) {
    throw new ForeignCheckpointError(`the checkpoint ${dir} holds a run of another configuration (${canonicalJson(record.config)})`);
  }
  const net: Network = loadNetwork(path.join(dir, 'model.json'));
  const initial: Network = loadNetwork(path.join(dir, 'initial', 'model.json'));
  return { record, net, initial };
}

/** A failure of one run, not bad input for the whole sweep: recorded as failed, the sweep goes on. */
function runFailure(message: string): Error {
  const e = new Error(message);
  e.stack = message; // no stack trace: not a bug
  return e;
}

/**
 * The checkpoint of a run's training configuration: reuse it if complete and loadable, else train and
 * save it. A complete checkpoint that cannot be loaded (corrupt or truncated files, NaN weights) is
 * removed and the run retrained; a checkpoint of another configuration is left alone and the run fails,
 * naming the folder. A training run that diverges is a failure of this run (recorded as failed), not a
 * UserError that would stop the sweep.
 */
export async function trainOrReuse(spec: RunSpec, dir: string, backend: string, hooks: RunHooks = {}): Promise<{ record: RunRecord; reused: boolean; loaded: LoadedCheckpoint }> {
  if (fs.existsSync(dir)) {
    if (isCompleteCheckpoint(dir)) {
      try {
        const loaded = loadCheckpoint(spec, dir);
        return { record: loaded.record, reused: true, loaded };
      } catch (e) {
        if (e instanceof ForeignCheckpointError) throw e;
        hooks.onPhase?.(`checkpoint ${dir} cannot be loaded (${(e as Error).message.split('\n')[0]}): retraining`);
      }
    }
    discard(dir); // not a usable run: start afresh
  }
  hooks.onPhase?.('training');
  let trained;
  try {
    trained = await trainRun(spec.config, backend, { out: null, onEpoch: (rec) => hooks.onEpoch?.(rec) });
  } catch (e) {
    if (e instanceof TrainingDivergedError) throw runFailure(`training diverged at epoch ${e.epoch} (${e.reason}; learning rate ${spec.config.lr}): not saved, not measured`);
    throw e;
  }
  const { record, net, initial } = trained;
  try {
    saveRun(dir, record, net, initial, false);
  } catch (e) {
    // Another process saved the same (deterministic) training run first: use its folder.
    if (!isCompleteCheckpoint(dir)) throw e;
    const loaded = loadSaved(spec, dir);
    return { record: loaded.record, reused: true, loaded };
  }
  return { record, reused: false, loaded: loadSaved(spec, dir) };
}

/** The checkpoint just written, loaded back (a fresh and a resumed run are measured from the same bytes). */
function loadSaved(spec: RunSpec, dir: string): LoadedCheckpoint {
  try {
    return loadCheckpoint(spec, dir);
  } catch (e) {
    throw runFailure(`the checkpoint ${dir} cannot be loaded after training (${(e as Error).message.split('\n')[0]}); delete the folder to retrain the run`);
  }
}

/** Remove a checkpoint folder that is not a usable run: renamed aside first, so no half-removed folder is ever seen as a checkpoint. */
function discard(dir: string): void {
  const aside = path.join(path.dirname(dir), `.${path.basename(dir)}.tmp-discarded-${process.pid}-${Date.now()}`);
  try {
    fs.renameSync(dir, aside);
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

