/** Tiny hand-built networks for the measure tests (weights from the test LCG in ../helpers.ts). */
import type { Layer, Network, Shape3 } from '../../src/models/network.js';
import { randomArray } from '../helpers.js';

/** Dense ReLU network on [1, 1, sizes[0]] inputs: sizes[0] → sizes[1] → … → sizes[last] (the classes). */
export function mlp(sizes: number[], bias: boolean, seed = 1, scale = 0.7): Network {
  const layers: Layer[] = [{ kind: 'flatten', inShape: [1, 1, sizes[0]] }];
  for (let i = 1; i < sizes.length; i++) {
    layers.push({
      kind: 'dense',
      inSize: sizes[i - 1],
      outSize: sizes[i],
      kernel: randomArray(sizes[i - 1] * sizes[i], seed * 101 + i, scale),
      bias: bias ? randomArray(sizes[i], seed * 103 + i, 0.3) : null,
    });
    if (i < sizes.length - 1) layers.push({ kind: 'relu' });
  }
  return { inputShape: [1, 1, sizes[0]], numClasses: sizes[sizes.length - 1], layers };
}

function conv(inShape: Shape3, outShape: Shape3, k: [number, number], strides: [number, number], padding: 'same' | 'valid', bias: boolean, seed: number): Layer {
  return {
    kind: 'conv2d',
    inShape,
    outShape,
    kernelSize: k,
    strides,
    padding,
    kernel: randomArray(k[0] * k[1] * inShape[2] * outShape[2], seed, 0.6),
    bias: bias ? randomArray(outShape[2], seed + 7, 0.3) : null,
  };
}

/** 4x4x2 → conv 3x3 same (3 filters, bias) → relu → maxpool 2x2/2 → flatten → dense 12→3 (bias). */
export function convNetA(bias = true): Network {
  return {
    inputShape: [4, 4, 2],
    numClasses: 3,
    layers: [
      conv([4, 4, 2], [4, 4, 3], [3, 3], [1, 1], 'same', bias, 11),
      { kind: 'relu' },
      { kind: 'maxpool', inShape: [4, 4, 3], outShape: [2, 2, 3], poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      { kind: 'flatten', inShape: [2, 2, 3] },
      { kind: 'dense', inSize: 12, outSize: 3, kernel: randomArray(36, 13, 0.5), bias: bias ? randomArray(3, 17, 0.2) : null },
    ],
  };
}

/**
 * 5x5x1 → conv 3x3 stride 2 same (2 filters, bias) → relu → avgpool 2x2 stride 1 same (overlapping, padded
 * border) → conv 2x2 valid (2 filters) → relu → maxpool 2x2 stride 1 same → flatten → dense 8→2.
 */
export function convNetB(): Network {
  return {
    inputShape: [5, 5, 1],
    numClasses: 2,
    layers: [
      conv([5, 5, 1], [3, 3, 2], [3, 3], [2, 2], 'same', true, 21),
      { kind: 'relu' },
      { kind: 'avgpool', inShape: [3, 3, 2], outShape: [3, 3, 2], poolSize: [2, 2], strides: [1, 1], padding: 'same' },
      conv([3, 3, 2], [2, 2, 2], [2, 2], [1, 1], 'valid', false, 23),
      { kind: 'relu' },
      { kind: 'maxpool', inShape: [2, 2, 2], outShape: [2, 2, 2], poolSize: [2, 2], strides: [1, 1], padding: 'same' },
      { kind: 'flatten', inShape: [2, 2, 2] },
      { kind: 'dense', inSize: 8, outSize: 2, kernel: randomArray(16, 29, 0.5), bias: null },
    ],
  };
}
