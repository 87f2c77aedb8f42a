/**
 * The one view of a network that training, saving and every measure share: a list of layers, each a
 * linear operator (dense matrix or convolution, with optional bias) or a fixed nonlinearity
 * (ReLU, max- or average-pooling, flatten). Weights are plain Float32Arrays in the TF.js layouts:
 *   dense kernel  [in, out]  (so W_i of the paper, shape h_i × h_{i-1}, is its transpose)
 *   conv kernel   [kh, kw, cin, cout]
 * Shapes of activations are NHWC; a dense layer sees its input flattened in NHWC order.
 */
export type Shape3 = [number, number, number];

export interface DenseLayer {
  kind: 'dense';
  inSize: number;
  outSize: number;
  /** [inSize, outSize], row-major. */
  kernel: Float32Array;
  bias: Float32Array | null;
}

export interface ConvLayer {
  kind: 'conv2d';
  inShape: Shape3;
  outShape: Shape3;
  kernelSize: [number, number];
  strides: [number, number];
  padding: 'same' | 'valid';
  /** [kh, kw, cin, cout], row-major. */
  kernel: Float32Array;
  bias: Float32Array | null;
}

export interface PoolLayer {
  kind: 'maxpool' | 'avgpool';
  inShape: Shape3;
  outShape: Shape3;
  poolSize: [number, number];
  strides: [number, number];
  padding: 'same' | 'valid';
}

export interface ReluLayer {
  kind: 'relu';
}

export interface FlattenLayer {
  kind: 'flatten';
  inShape: Shape3;
}

export type WeightLayer = DenseLayer | ConvLayer;
export type Layer = DenseLayer | ConvLayer | PoolLayer | ReluLayer | FlattenLayer;

export interface Network {
  /** Shape of one input example, [h, w, c]; an MLP on MNIST has [28, 28, 1] and flattens first. */
  inputShape: Shape3;
  numClasses: number;
  layers: Layer[];
}

export function isWeightLayer(l: Layer): l is WeightLayer {
  return l.kind === 'dense' || l.kind === 'conv2d';
}

export function weightLayers(net: Network): WeightLayer[] {
  return net.layers.filter(isWeightLayer);
}

/** Number of output units of a weight layer (h_i of the paper: channels × height × width for a conv). */
export function unitsOut(l: WeightLayer): number {
  return l.kind === 'dense' ? l.outSize : l.outShape[0] * l.outShape[1] * l.outShape[2];
}

/** Number of weights, biases included. */
export function countParams(net: Network): number {
  let n = 0;
  for (const l of weightLayers(net)) n += l.kernel.length + (l.bias ? l.bias.length : 0);
  return n;
}

/** A deep copy (weights copied too). */
export function cloneNetwork(net: Network): Network {
  return {
    inputShape: [...net.inputShape] as Shape3,
    numClasses: net.numClasses,
    layers: net.layers.map((l) => {
      if (l.kind === 'dense' || l.kind === 'conv2d') {
        return { ...l, kernel: l.kernel.slice(), bias: l.bias ? l.bias.slice() : null } as Layer;
      }
      return { ...l } as Layer;
    }),
  };
}

/** The flat list of parameter arrays, in order: kernel, then bias (when present), of each weight layer. */
export function parameterArrays(net: Network): Float32Array[] {
  const out: Float32Array[] = [];
  for (const l of weightLayers(net)) {
    out.push(l.kernel);
    if (l.bias) out.push(l.bias);
  }
  return out;
}

/** Shapes of the parameters, in the order of parameterArrays(net): dense [in, out], conv [kh, kw, cin, cout], bias [n]. */
export function parameterShapes(net: Network): number[][] {
  const out: number[][] = [];
  for (const l of weightLayers(net)) {
    out.push(l.kind === 'dense' ? [l.inSize, l.outSize] : [l.kernelSize[0], l.kernelSize[1], l.inShape[2], l.outShape[2]]);
    if (l.bias) out.push([l.bias.length]);
  }
  return out;
}
