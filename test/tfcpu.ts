/**
 * TensorFlow.js (a devDependency) as an independent reference in tests, on its pure-JavaScript 'cpu'
 * backend. genmeasures itself no longer uses TF.js: its engine is ONNX Runtime.
 */
import * as tf from '@tensorflow/tfjs';
import type { Network } from '../src/models/network.js';

/** Select and initialise the 'cpu' backend (without its first-use banner recommending tfjs-node). */
export async function tfCpu(): Promise<typeof tf> {
  if (tf.getBackend() !== 'cpu' || !tf.engine().backendName) {
    const ok = await tf.setBackend('cpu');
    if (!ok) throw new Error('the TF.js cpu backend could not be initialised');
  }
  await tf.ready();
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if (b && 'firstUse' in b) b.firstUse = false;
  return tf;
}

/**
 * Logits [B, classes] of a Network for flat NHWC rows x [B, h·w·c], with plain TF.js ops (tf.matMul,
 * tf.conv2d, tf.maxPool, tf.avgPool): an implementation independent of the engine's ONNX graphs.
 * Call tfCpu() first; the caller disposes the result.
 */
export function tfForward(net: Network, x: Float32Array, rows: number): tf.Tensor2D {
  return tf.tidy(() => {
    let a: tf.Tensor = tf.tensor2d(x, [rows, net.inputShape[0] * net.inputShape[1] * net.inputShape[2]]);
    for (const l of net.layers) {
      switch (l.kind) {
        case 'dense':
          a = tf.matMul(a.reshape([rows, l.inSize]) as tf.Tensor2D, tf.tensor2d(l.kernel, [l.inSize, l.outSize]));
          if (l.bias) a = tf.add(a, tf.tensor1d(l.bias));
          break;
        case 'conv2d':
          a = tf.conv2d(
            a.reshape([rows, ...l.inShape]) as tf.Tensor4D,
            tf.tensor4d(l.kernel, [l.kernelSize[0], l.kernelSize[1], l.inShape[2], l.outShape[2]]),
            l.strides,
            l.padding,
          );
          if (l.bias) a = tf.add(a, tf.tensor1d(l.bias));
          break;
        case 'relu':
          a = tf.relu(a);
          break;
        case 'maxpool':
        case 'avgpool': {
          const x4 = a.reshape([rows, ...l.inShape]) as tf.Tensor4D;
          a = l.kind === 'maxpool' ? tf.maxPool(x4, l.poolSize, l.strides, l.padding) : tf.avgPool(x4, l.poolSize, l.strides, l.padding);
          break;
        }
        case 'flatten':
          a = a.reshape([rows, -1]);
          break;
      }
    }
    return a.reshape([rows, -1]) as tf.Tensor2D;
  });
}
