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
import { forward, parameterTensors } from '../models/forward.js';
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

export function train(initial: Network, data: Dataset, config: RunConfig, cb: TrainCallbacks = {}): TrainResult {
  const net = cloneNetwork(initial);
  const vars = parameterTensors(net).map((t, i) => {
    const v = tf.variable(t, true, `p${i}`);
    t.dispose();
    return v;
  });
  const velocity = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const lr = tf.scalar(config.lr);
  const mu = tf.scalar(config.momentum);
  const history: EpochRecord[] = [];
  const start = Date.now();
  const deadline = config.maxMinutes !== null ? start + config.maxMinutes * 60000 : Infinity;
  let converged = false;
  let stopReason = '';
  const n = data.n;
  for (let epoch = 1; epoch <= config.maxEpochs; epoch++) {
    const t0 = Date.now();
    const order = new Rng(deriveSeed(config.seed, `epoch:${epoch}`)).permutation(n);
    let lossSum = tf.scalar(0);
    let wrongSum = tf.scalar(0, 'int32');
    for (let from = 0; from < n; from += config.batchSize) {
      const to = Math.min(n, from + config.batchSize);
      const { x, y } = batchTensors(data, order, from, to);
      tf.tidy(() => {
        let logits: tf.Tensor2D | null = null;
        const { value, grads } = tf.variableGrads(() => {
          logits = tf.keep(forward(net, vars, x));
          return crossEntropy(logits, y, data.numClasses);
        }, vars);
        // momentum SGD, PyTorch convention
        vars.forEach((v, i) => {
          const g = grads[v.name];
          const nv = tf.add(tf.mul(mu, velocity[i]), g);
          velocity[i].assign(nv);
          v.assign(tf.sub(v, tf.mul(lr, nv)));
        });
        const wrong = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits!, 1), y), 'int32'));
        (logits as tf.Tensor2D | null)?.dispose();
        const newLoss = tf.keep(tf.add(lossSum, tf.mul(value, to - from)));
        const newWrong = tf.keep(tf.add(wrongSum, wrong));
        lossSum.dispose();
        wrongSum.dispose();
        lossSum = newLoss as tf.Scalar;
        wrongSum = newWrong as tf.Scalar;
      });
      x.dispose();
      y.dispose();
    }
    const loss = lossSum.dataSync()[0] / n;
    const error = wrongSum.dataSync()[0] / n;
    lossSum.dispose();
    wrongSum.dispose();
    const rec: EpochRecord = { epoch, loss, error, seconds: (Date.now() - t0) / 1000 };
    history.push(rec);
    cb.onEpoch?.(rec, config);
    if (!Number.isFinite(loss)) {
      stopReason = `the loss diverged (${loss}) at epoch ${epoch}`;
      break;
    }
    if (loss < config.targetLoss) {
      converged = true;
      stopReason = `epoch-average cross-entropy ${loss.toPrecision(3)} < ${config.targetLoss} at epoch ${epoch}`;
      break;
    }
    if (Date.now() >= deadline) {
      stopReason = `did not converge: time cap of ${config.maxMinutes} minutes reached after epoch ${epoch} (loss ${loss.toPrecision(3)})`;
      break;
    }
    if (epoch === config.maxEpochs) {
      stopReason = `did not converge: epoch cap of ${config.maxEpochs} reached (loss ${loss.toPrecision(3)})`;
    }
  }
  // copy the trained weights back into the network
  const arrays = parameterArrays(net);
  vars.forEach((v, i) => arrays[i].set(v.dataSync() as Float32Array));
  vars.forEach((v) => v.dispose());
  velocity.forEach((v) => v.dispose());
  lr.dispose();
  mu.dispose();
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
