/**
 * Training as in the paper's released code: SGD with momentum (PyTorch convention: v ← μv + g,
 * w ← w − lr·v), mini-batches of 64 drawn from a seeded reshuffle each epoch (the last partial batch
 * kept), mean cross-entropy loss, no weight decay, no augmentation. Stops when the epoch-average
 * training cross-entropy (averaged over the epoch's mini-batches, as they were seen) falls below the
 * target, or at the epoch / time cap ("did not converge"), or as soon as the loss or a weight becomes NaN or
 * infinite ("diverged at epoch E: …"; TrainResult.diverged, and throwIfDiverged for callers that save runs).
 */
import type { Dataset } from '../data/types.js';
import { Network, cloneNetwork, parameterArrays, weightLayers } from '../models/network.js';
import { SgdProgram, lossGrad, stepFlops } from '../engine/programs.js';
import { UserError } from '../errors.js';
import { Rng, deriveSeed } from '../util/random.js';
import { RunConfig } from './config.js';

export interface EpochRecord {
  epoch: number;
  /** Epoch-average training cross-entropy over the mini-batches as they were seen. */
  loss: number;
  /** Fraction of training points misclassified in their mini-batch during the epoch. */
  error: number;
  seconds: number;
}

export interface TrainResult {
  net: Network;
  history: EpochRecord[];
  converged: boolean;
  stopReason: string;
  seconds: number;
  /**
   * Set when training stopped because the loss or a weight became NaN or infinite (then converged is
   * false and stopReason is "diverged at epoch E: …"); the weights in `net` are not a usable model.
   */
  diverged: { epoch: number; loss: number; reason: string } | null;
}

/**
 * A training run that diverged (its loss or a weight became NaN or infinite). A user error for `train`
 * (a smaller --lr helps); a sweep records the run as failed and goes on (experiments/execute.ts).
 */
export class TrainingDivergedError extends UserError {
  constructor(message: string, readonly epoch: number, readonly reason: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

/** Throw a TrainingDivergedError if the run diverged: a diverged run must not be saved as a trained model. */
export function throwIfDiverged(result: TrainResult, config: Pick<RunConfig, 'lr'>): void {
  const d = result.diverged;
  if (!d) return;
  throw new TrainingDivergedError(`training diverged at epoch ${d.epoch} (${d.reason}); try a smaller --lr (it was ${config.lr})`, d.epoch, d.reason);
}

/** The first parameter array holding a NaN or an infinity: which one, and how many such values it has. */
export function nonFiniteParams(params: Float32Array[]): { index: number; nan: number; inf: number } | null {
  for (let k = 0; k < params.length; k++) {
    const a = params[k];
    let nan = 0;
    let inf = 0;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v - v !== 0) {
        // NaN or ±Infinity (v − v is NaN for both, 0 for every finite v)
        if (v !== v) nan++;
        else inf++;
      }
    }
    if (nan + inf > 0) return { index: k, nan, inf };
  }
  return null;
}

const fmtLoss = (v: number) => (Number.isFinite(v) ? v.toPrecision(4) : String(v));

/**
 * `value` (below `bound`) with enough significant digits (at least `digits`) that the printed number is
 * still below `bound`: 0.009998 against 0.01 is "0.009998", not "0.0100".
 */
export function formatBelow(value: number, bound: number, digits = 4): string {
  if (!Number.isFinite(value)) return String(value);
  for (let p = digits; p <= 17; p++) {
    const s = value.toPrecision(p);
    if (value < bound ? Number(s) < bound : Number(s) !== bound) return s;
  }
  return String(value);
}

export interface TrainCallbacks {
  onEpoch?(rec: EpochRecord, config: RunConfig): void;
}

/** Labels as the int64 array the engine takes. */
export function labels64(y: Int32Array): BigInt64Array {
  const out = new BigInt64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = BigInt(y[i]);
  return out;
}

/** About this many floating-point operations go into one engine call (a chunk of an epoch; ~1 s). */
const FLOPS_PER_CALL = 4e10;

export async function train(initial: Network, data: Dataset, config: RunConfig, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const net = cloneNetwork(initial);
  const sgd = new SgdProgram(net, parameterArrays(net), config.batchSize, config.lr, config.momentum);
  const y64 = labels64(data.y);
  const batches = Math.ceil(data.n / config.batchSize);
  const perCall = Math.max(1, Math.floor(FLOPS_PER_CALL / stepFlops(net, config.batchSize)));
  const history: EpochRecord[] = [];
  const start = Date.now();
  const deadline = config.maxMinutes !== null ? start + config.maxMinutes * 60000 : Infinity;
  let converged = false;
  let stopReason = '';
  let diverged: TrainResult['diverged'] = null;
  const n = data.n;
  // parameter array → "dense_2/kernel", as model.json names it (io.ts: one counter per layer kind)
  const counters: Record<string, number> = {};
  const layerOfParam = weightLayers(net).flatMap((l) => {
    const name = `${l.kind}_${(counters[l.kind] = (counters[l.kind] ?? 0) + 1)}`;
    return l.bias ? [`${name}/kernel`, `${name}/bias`] : [`${name}/kernel`];
  });
  for (let epoch = 1; epoch <= config.maxEpochs; epoch++) {
    const t0 = Date.now();
    const perm = new Rng(deriveSeed(config.seed, `epoch:${epoch}`)).permutation(n);
    const order = new BigInt64Array(n);
    for (let i = 0; i < n; i++) order[i] = BigInt(perm[i]);
    const sums = { loss: 0, wrong: 0 };
    let bad: string | null = null;
    let seen = 0;
    for (let first = 0; first < batches; first += perCall) {
      const count = Math.min(perCall, batches - first);
      const r = await sgd.steps(data.x, y64, order, n, first, count);
      sums.loss += r.lossSum;
      sums.wrong += r.wrong;
      seen = Math.min(n, (first + count) * config.batchSize);
      // Stop as soon as the loss or a weight is NaN or infinite: nothing after that can recover.
      if (!Number.isFinite(r.lossSum)) {
        bad = `loss ${fmtLoss(sums.loss / seen)}`;
        break;
      }
      const nf = nonFiniteParams(sgd.params);
      if (nf) {
        const what = [nf.nan ? `${nf.nan} NaN` : '', nf.inf ? `${nf.inf} infinite` : ''].filter(Boolean).join(' and ');
        bad = `loss ${fmtLoss(sums.loss / seen)}, ${what} weight${nf.nan + nf.inf > 1 ? 's' : ''} in ${layerOfParam[nf.index] ?? `parameter ${nf.index}`}`;
        break;
      }
    }
    const rec: EpochRecord = { epoch, loss: sums.loss / (bad ? seen : n), error: sums.wrong / (bad ? seen : n), seconds: (Date.now() - t0) / 1000 };
    history.push(rec);
    cb.onEpoch?.(rec, config);
    if (bad) {
      diverged = { epoch, loss: rec.loss, reason: bad };
      stopReason = `diverged at epoch ${epoch}: ${bad}`;
      break;
    }
    if (rec.loss < config.targetLoss) {
      converged = true;
      stopReason = `epoch-average cross-entropy ${formatBelow(rec.loss, config.targetLoss)} < ${config.targetLoss} at epoch ${epoch}`;
      break;
    }
    if (Date.now() >= deadline) {
      stopReason = `did not converge: time cap of ${config.maxMinutes} minutes reached after epoch ${epoch} (loss ${rec.loss.toPrecision(3)})`;
      break;
    }
    if (epoch === config.maxEpochs) {
      stopReason = `did not converge: epoch cap of ${config.maxEpochs} reached (loss ${rec.loss.toPrecision(3)})`;
    }
  }
  // the trained weights, in the network's own arrays
  let k = 0;
  for (const l of weightLayers(net)) {
    l.kernel = sgd.params[k++];
    if (l.bias) l.bias = sgd.params[k++];
  }
  return { net, history, converged, stopReason, seconds: (Date.now() - start) / 1000, diverged };
}

export interface Evaluation {
  loss: number;
  error: number;
  n: number;
}

/** Cross-entropy and 0/1 error (arg-max, first maximum) of a network on a data set, in inference mode. */
export async function evaluate(net: Network, data: Dataset): Promise<Evaluation> {
  const { lossSum, wrong } = await lossGrad(net, parameterArrays(net), data.x, data.y, data.n, false);
  return { loss: lossSum / Math.max(1, data.n), error: wrong / Math.max(1, data.n), n: data.n };
}
