/**
 * Training as in the paper's released code: SGD with momentum (PyTorch convention: v ← μv + g,
 * w ← w − lr·v), mini-batches of 64 drawn from a seeded reshuffle each epoch (the last partial batch
 * kept), mean cross-entropy loss, no weight decay, no augmentation. Stops when the epoch-average
 * training cross-entropy (averaged over the epoch's mini-batches, as they were seen) falls below the
 * target, or at the epoch / time cap ("did not converge").
 */
import { Dataset, exampleSize } from '../data/types.js';
import { Network, cloneNetwork, parameterArrays, weightLayers } from '../models/network.js';
import { SgdProgram, lossGrad, stepFlops } from '../engine/programs.js';
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
  const n = data.n;
  for (let epoch = 1; epoch <= config.maxEpochs; epoch++) {
    const t0 = Date.now();
    const perm = new Rng(deriveSeed(config.seed, `epoch:${epoch}`)).permutation(n);
    const order = new BigInt64Array(n);
    for (let i = 0; i < n; i++) order[i] = BigInt(perm[i]);
    const sums = { loss: 0, wrong: 0 };
    for (let first = 0; first < batches; first += perCall) {
      const r = await sgd.steps(data.x, y64, order, n, first, Math.min(perCall, batches - first));
      sums.loss += r.lossSum;
      sums.wrong += r.wrong;
    }
    const rec: EpochRecord = { epoch, loss: sums.loss / n, error: sums.wrong / n, seconds: (Date.now() - t0) / 1000 };
    history.push(rec);
    cb.onEpoch?.(rec, config);
    if (!Number.isFinite(rec.loss)) {
      stopReason = `did not converge: the loss diverged (${rec.loss}) at epoch ${epoch}`;
      break;
    }
    if (rec.loss < config.targetLoss) {
      converged = true;
      stopReason = `epoch-average cross-entropy ${rec.loss.toPrecision(3)} < ${config.targetLoss} at epoch ${epoch}`;
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
  return { net, history, converged, stopReason, seconds: (Date.now() - start) / 1000 };
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
