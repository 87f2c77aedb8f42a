/** A small SGD loop for the measure tests (independent of src/train): momentum SGD on the mean cross-entropy. */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../../src/data/types.js';
import { forward } from '../../src/models/forward.js';
import { Network, cloneNetwork, parameterArrays } from '../../src/models/network.js';
import { parameterShapes } from '../../src/models/forward.js';

export function trainSmall(start: Network, data: Dataset, opts: { epochs: number; lr: number; batch: number }): Network {
  const net = cloneNetwork(start);
  const arrays = parameterArrays(net);
  const shapes = parameterShapes(net);
  const vars = arrays.map((a, i) => tf.variable(tf.tensor(a, shapes[i])));
  const opt = tf.train.momentum(opts.lr, 0.9);
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  for (let e = 0; e < opts.epochs; e++) {
    for (let s = 0; s < data.n; s += opts.batch) {
      const end = Math.min(data.n, s + opts.batch);
      tf.tidy(() => {
        const xb = tf.tensor2d(data.x.subarray(s * size, end * size), [end - s, size]);
        const oh = tf.oneHot(tf.tensor1d(data.y.subarray(s, end), 'int32'), net.numClasses);
        opt.minimize(() => tf.mean(tf.sub(tf.logSumExp(forward(net, vars, xb), 1), tf.sum(tf.mul(forward(net, vars, xb), oh), 1))) as tf.Scalar, false, vars);
      });
    }
  }
  vars.forEach((v, i) => {
    arrays[i].set(v.dataSync());
    v.dispose();
  });
  opt.dispose();
  return net;
}
