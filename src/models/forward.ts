/**
 * The forward pass of a Network in TF.js, with the parameters given as tensors so that training
 * (variables) and sharpness (perturbed weights) use the same code. Returns the logits [B, classes].
 */
import * as tf from '@tensorflow/tfjs';
import { conv2d, dense, denseRelu, maxPool } from '../engine/ops.js';
import { Network, parameterArrays, weightLayers } from './network.js';

/** Parameter tensors in the order of parameterArrays(net). The caller owns (and disposes) them. */
export function parameterTensors(net: Network): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const l of weightLayers(net)) {
    out.push(
      l.kind === 'dense' ? tf.tensor2d(l.kernel, [l.inSize, l.outSize]) : tf.tensor4d(l.kernel, [l.kernelSize[0], l.kernelSize[1], l.inShape[2], l.outShape[2]]),
    );
    if (l.bias) out.push(tf.tensor1d(l.bias));
  }
  return out;
}

/** Shapes of the parameters, in the order of parameterArrays(net). */
export function parameterShapes(net: Network): number[][] {
  const out: number[][] = [];
  for (const l of weightLayers(net)) {
    out.push(l.kind === 'dense' ? [l.inSize, l.outSize] : [l.kernelSize[0], l.kernelSize[1], l.inShape[2], l.outShape[2]]);
    if (l.bias) out.push([l.bias.length]);
  }
  return out;
}

/**
 * Logits of the network for a batch x, given as [B, h, w, c] or flat [B, h·w·c].
 * `params` are tensors in the order of parameterArrays(net).
 * Gradients flow to the parameters; the gradient with respect to the input x is only computed when
 * `inputGradient` is true (it costs one more matrix product and nothing in the project needs it).
 */
export function forward(net: Network, params: tf.Tensor[], x: tf.Tensor, inputGradient = false): tf.Tensor2D {
  let a: tf.Tensor = x;
  const b = x.shape[0];
  let p = 0;
  let needInputGrad = inputGradient;
  const layers = net.layers;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    switch (l.kind) {
      case 'dense': {
        if (a.rank !== 2) a = a.reshape([b, l.inSize]);
        if (!l.bias && layers[i + 1]?.kind === 'relu') {
          // the paper's bias-free layer followed by a ReLU: one fused product
          a = denseRelu(a as tf.Tensor2D, params[p++] as tf.Tensor2D, needInputGrad);
          needInputGrad = true;
          i++;
          break;
        }
        a = dense(a as tf.Tensor2D, params[p++] as tf.Tensor2D, needInputGrad);
        needInputGrad = true;
        if (l.bias) a = tf.add(a, params[p++]);
        break;
      }
      case 'conv2d': {
        if (a.rank !== 4) a = a.reshape([b, ...l.inShape]);
        a = conv2d(a as tf.Tensor4D, params[p++] as tf.Tensor4D, l.strides, l.padding, needInputGrad);
        needInputGrad = true;
        if (l.bias) a = tf.add(a, params[p++]);
        break;
      }
      case 'relu':
        a = tf.relu(a);
        break;
      case 'maxpool':
      case 'avgpool': {
        if (a.rank !== 4) a = a.reshape([b, ...l.inShape]);
        a = l.kind === 'maxpool' ? maxPool(a as tf.Tensor4D, l.poolSize, l.strides, l.padding) : tf.avgPool(a as tf.Tensor4D, l.poolSize, l.strides, l.padding);
        break;
      }
      case 'flatten':
        a = a.reshape([b, -1]);
        break;
    }
  }
  if (a.rank !== 2) a = a.reshape([b, -1]);
  return a as tf.Tensor2D;
}

export { parameterArrays };
