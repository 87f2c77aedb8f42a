/**
 * One complete training run, as the library API: prepare the data, build and initialise the network,
 * train, evaluate, and save the run folder:
 *   DIR/model.json + DIR/weights.bin           trained network (TF.js LayersModel format)
 *   DIR/initial/model.json + initial/weights.bin the initial weights (for distance-from-initialisation measures)
 *   DIR/run.json                               configuration, backend, data statistics, history, final errors
 * Files are written into a temporary folder beside DIR and renamed into place at the end, so an
 * interrupted or failed run leaves nothing half-written in DIR.
 */
import path from 'node:path';
import { buildNetwork } from '../models/spec.js';
import { Network, countParams } from '../models/network.js';
import { saveNetwork } from '../models/io.js';
import { writeFileAtomic } from '../util/fsx.js';
import { makeDirLikeMkdir } from '../util/dirs.js';
import { checkOutputFolder, writeFolderAtomicSync, type FolderRule } from '../util/output.js';
import { RunConfig } from './config.js';
import { prepareData } from './prepare.js';
import { EpochRecord, evaluate, throwIfDiverged, train } from './sgd.js';

export const RUN_FORMAT_VERSION = 1;

export interface RunRecord {
  format: number;
  generatedBy: string;
  config: RunConfig;
  backend: string;
  data: {
    spec: string;
    m: number;
    trueCount: number;
    numClasses: number;
    inputShape: number[];
    testSize: number | null;
    normalization: { mean: number[]; std: number[] };
  };
  model: { spec: string; params: number; widths: number[] };
  converged: boolean;
  stopReason: string;
  epochs: number;
  history: EpochRecord[];
  final: { trainLoss: number; trainError: number; testLoss: number | null; testError: number | null };
  seconds: number;
  secondsPerEpoch: number;
  startedAt: string;
  finishedAt: string;
}

export interface TrainRunOptions {
  /** Output folder; null = do not save. */
  out: string | null;
  /** Replace an existing run in `out`. */
  force?: boolean;
  onEpoch?(rec: EpochRecord, config: RunConfig): void;
  /** Called once the data and network are ready, before the first epoch. */
  onStart?(info: { m: number; params: number; testSize: number | null }): void;
}

/** What `--out` may replace: only a genmeasures run folder (one holding run.json), and only with --force. */
function runFolderRule(force: boolean): FolderRule {
  return { marker: 'run.json', what: 'a genmeasures run folder', replace: force, replaceHint: 'choose another folder or pass --force to replace it' };
}

/**
 * Fail early (before any training) if `out` cannot be used: it must be absent, an empty folder, or (with
 * `force`) a run folder (one with run.json); any other folder is refused even with --force, so --force
 * never deletes what genmeasures did not write. Its nearest existing parent must be a writable folder.
 * A symbolic link is followed (the folder it points to is replaced). Returns the resolved path.
 */
export function checkOutDir(out: string, force: boolean, option = '--out'): string {
  return checkOutputFolder(out, option, runFolderRule(force));
}

export function widthsOf(net: Network): number[] {
  return net.layers.flatMap((l) => (l.kind === 'dense' ? [l.outSize] : l.kind === 'conv2d' ? [l.outShape[0] * l.outShape[1] * l.outShape[2]] : []));
}

export async function trainRun(config: RunConfig, backend: string, opts: TrainRunOptions): Promise<{ record: RunRecord; net: Network; initial: Network }> {
  if (opts.out) checkOutDir(opts.out, !!opts.force);
  const data = prepareData(config);
  const initial = buildNetwork(config.model, {
    inputShape: data.train.shape,
    numClasses: data.train.numClasses,
    bias: config.bias,
    seed: config.seed,
  });
  opts.onStart?.({ m: data.train.n, params: countParams(initial), testSize: data.test ? data.test.n : null });
  const startedAt = new Date().toISOString();
  const result = await train(initial, data.train, config, { onEpoch: opts.onEpoch });
  throwIfDiverged(result, config); // a diverged run is not a trained model: never saved (sgd.ts)
  const trainEval = await evaluate(result.net, data.train);
  const testEval = data.test ? await evaluate(result.net, data.test) : null;
  const record: RunRecord = {
    format: RUN_FORMAT_VERSION,
    generatedBy: 'genmeasures 0.1.0',
    config,
    backend,
    data: {
      spec: config.data,
      m: data.train.n,
      trueCount: data.trueCount,
      numClasses: data.train.numClasses,
      inputShape: data.train.shape,
      testSize: data.test ? data.test.n : null,
      normalization: data.stats,
    },
    model: { spec: config.model, params: countParams(result.net), widths: widthsOf(result.net) },
    converged: result.converged,
    stopReason: result.stopReason,
    epochs: result.history.length,
    history: result.history,
    final: {
      trainLoss: trainEval.loss,
      trainError: trainEval.error,
      testLoss: testEval ? testEval.loss : null,
      testError: testEval ? testEval.error : null,
    },
    seconds: result.seconds,
    secondsPerEpoch: result.history.length ? result.seconds / result.history.length : 0,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  if (opts.out) saveRun(opts.out, record, result.net, initial, !!opts.force);
  return { record, net: result.net, initial };
}

/**
 * Write a run folder atomically: into a temporary sibling folder, then renamed to `out` (an existing run
 * folder, replaced with `force`, is moved aside and deleted only once the new one is in place). Disk
 * full, read-only or forbidden places are one-line UserErrors naming `option` and `out`.
 */
export function saveRun(out: string, record: RunRecord, net: Network, initial: Network, force: boolean, option = '--out'): void {
  const target = checkOutDir(out, force, option);
  writeFolderAtomicSync(
    target,
    option,
    out,
    (tmp) => {
      makeDirLikeMkdir(tmp); // mkdtemp makes 0700 folders: the run folder gets the mode mkdir gives (umask)
      saveNetwork(net, path.join(tmp, 'model.json'));
      saveNetwork(initial, path.join(tmp, 'initial', 'model.json'));
      writeFileAtomic(path.join(tmp, 'run.json'), JSON.stringify(record, null, 1));
    },
    () => checkOutDir(out, force, option), // a folder that appeared meanwhile must still be replaceable
    force,
  );
}
