/**
 * Training as in the paper's released code: SGD with momentum (PyTorch convention: v ← μv + g,
 * w ← w − lr·v), mini-batches of 64 drawn from a seeded reshuffle each epoch (the last partial batch
 * kept), mean cross-entropy loss, no weight decay, no augmentation. Stops when the epoch-average
 * training cross-entropy (averaged over the epoch's mini-batches, as they were seen) falls below the
 * target, or at the epoch / time cap ("did not converge").
 */
import * as tf from '@tensorflow/tfjs';
import { Dataset, exampleSize } from '../data/types.js';
import { Network, cloneNetwork, parameterArrays } from '../models/network.js';
import { forward, parameterShapes, parameterTensors } from '../models/forward.js';
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

/** Mean softmax cross-entropy of logits [B, C] against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(labels, numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), 1)));
  });
}

/** Rows `idx[from..to)` of a data set as a batch tensor [B, ...shape] and its labels. */
export function batchTensors(ds: Dataset, idx: ArrayLike<number>, from: number, to: number): { x: tf.Tensor; y: tf.Tensor1D } {
  const size = exampleSize(ds);
  const b = to - from;
  const x = new Float32Array(b * size);
  const y = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const j = idx[from + i];
    x.set(ds.x.subarray(j * size, (j + 1) * size), i * size);
    y[i] = ds.y[j];
  }
  return { x: tf.tensor(x, [b, ...ds.shape]), y: tf.tensor1d(y, 'int32') };
}

/**
 * The state of SGD with momentum over a network's parameters: one `step` per mini-batch.
 * The weights and velocities live in JavaScript Float32Arrays (the network's own arrays) and the
 * update v ← μv + g, w ← w − lr·v runs as one plain loop: on wasm that is ~4x faster than the
 * four elementwise tensor ops it replaces. Each update is computed in float64 and stored in float32
 * (one rounding per stored value), deterministically.
 */
export class SgdState {
  private readonly weights: Float32Array[];
  private readonly velocity: Float32Array[];
  private readonly shapes: number[][];
  private lossSum = 0;
  private wrongSum = 0;

  constructor(readonly net: Network, readonly numClasses: number, readonly lr: number, readonly momentum: number) {
    this.weights = parameterArrays(net);
    this.velocity = this.weights.map((w) => new Float32Array(w.length));
    this.shapes = parameterShapes(net);
  }

  /** One SGD step on the batch (x, y): v ← μv + ∇L, w ← w − lr·v (PyTorch's convention). */
  step(x: tf.Tensor, y: tf.Tensor1D): void {
    const b = x.shape[0];
    const params = this.weights.map((w, i) => tf.tensor(w, this.shapes[i]));
    // (tf.tidy must return tensors, not typed arrays: it walks a returned object element by element)
    const out = tf.tidy(() => {
      let logits: tf.Tensor2D | null = null;
      const lossFn = (...ps: tf.Tensor[]) => {
        logits = tf.keep(forward(this.net, ps, x));
        return crossEntropy(logits, y, this.numClasses);
      };
      const { value, grads } = tf.valueAndGrads(lossFn)(params);
      const wrong = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits!, 1), y), 'int32'));
      (logits as tf.Tensor2D | null)?.dispose();
      return [value, wrong, ...grads];
    });
    params.forEach((p) => p.dispose());
    const loss = out[0].dataSync()[0];
    const wrong = out[1].dataSync()[0];
    const grads = out.slice(2).map((g) => g.dataSync() as Float32Array);
    out.forEach((t) => t.dispose());
    const lr = this.lr;
    const mu = this.momentum;
    for (let k = 0; k < grads.length; k++) {
      const g = grads[k];
      const w = this.weights[k];
      const v = this.velocity[k];
      for (let i = 0; i < w.length; i++) {
        const nv = mu * v[i] + g[i];
        v[i] = nv;
        w[i] -= lr * nv;
      }
    }
    this.lossSum += loss * b;
    this.wrongSum += wrong;
  }

  /** Sum of per-example losses and of mistakes since the last call. */
  takeEpochSums(): { loss: number; wrong: number } {
    const out = { loss: this.lossSum, wrong: this.wrongSum };
    this.lossSum = 0;
    this.wrongSum = 0;
    return out;
  }

  /** The network, whose weight arrays hold the current weights. */
  writeBack(): Network {
    return this.net;
  }

  dispose(): void {
    /* nothing on the device */
  }
}

export function train(initial: Network, data: Dataset, config: RunConfig, cb: TrainCallbacks = {}): TrainResult {
  const state = new SgdState(cloneNetwork(initial), data.numClasses, config.lr, config.momentum);
  const history: EpochRecord[] = [];
  const start = Date.now();
  const deadline = config.maxMinutes !== null ? start + config.maxMinutes * 60000 : Infinity;
  let converged = false;
  let stopReason = '';
  const n = data.n;
  for (let epoch = 1; epoch <= config.maxEpochs; epoch++) {
    const t0 = Date.now();
    const order = new Rng(deriveSeed(config.seed, `epoch:${epoch}`)).permutation(n);
    for (let from = 0; from < n; from += config.batchSize) {
      const to = Math.min(n, from + config.batchSize);
      const { x, y } = batchTensors(data, order, from, to);
      state.step(x, y);
      x.dispose();
      y.dispose();
    }
    const sums = state.takeEpochSums();
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
  const net = state.writeBack();
  state.dispose();
  return { net, history, converged, stopReason, seconds: (Date.now() - start) / 1000 };
}

export interface Evaluation {
  loss: number;
  error: number;
  n: number;
}

/** Cross-entropy and 0/1 error of a network on a data set, in inference mode, in batches. */
export function evaluate(net: Network, data: Dataset, batchSize = 1000): Evaluation {
  const params = parameterTensors(net);
  const idx = new Int32Array(data.n).map((_, i) => i);
  let lossSum = 0;
  let wrong = 0;
  for (let from = 0; from < data.n; from += batchSize) {
    const to = Math.min(data.n, from + batchSize);
    const { x, y } = batchTensors(data, idx, from, to);
    const [l, w] = tf.tidy(() => {
      const logits = forward(net, params, x);
      const loss = tf.mul(crossEntropy(logits, y, data.numClasses), to - from);
      const wr = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, 1), y), 'int32'));
      return [loss.dataSync()[0], wr.dataSync()[0]];
    });
    lossSum += l;
    wrong += w;
    x.dispose();
    y.dispose();
  }
  params.forEach((p) => p.dispose());
  return { loss: lossSum / data.n, error: wrong / data.n, n: data.n };
}
