/**
 * The programs genmeasures runs, each an ONNX graph generated from a Network's architecture (weights are
 * inputs, so one compiled program serves every weight vector of that architecture):
 *
 *   logits        forward pass of a batch of rows
 *   lossGrad      Σ cross-entropy over a batch and its gradient with respect to every parameter
 *   epoch         K SGD steps inside one ONNX Loop: mini-batches gathered inside the graph from the data
 *                 and a permutation, forward, loss, backward, momentum update (PyTorch's convention
 *                 v ← μv + g, w ← w − lr·v); the weights stay inside the runtime for the K steps
 *   shifted       logits of the layers after the first weight layer for A perturbations at once (an ONNX
 *                 Loop), fed with that layer's output base + scale·P (+ bias), P = layer₁(x; basis)
 *                 computed inside the runtime or given: the Monte-Carlo measures reuse first-layer products
 *
 * Rows are flat NHWC inputs. Parameters are Float32Arrays in the order of parameterArrays(net).
 */
import { Network, Shape3, WeightLayer, isWeightLayer, parameterShapes } from '../models/network.js';
import { Graph } from './onnx/graph.js';
import { emitBackward, emitForward, emitLoss } from './layers.js';
import { Feed, Program, f32, f32Scalar, i64, i64Array, i64Scalar, program } from './runtime.js';

/** A string that identifies a network's architecture (not its weights). */
export function architectureKey(net: Network): string {
  const parts = net.layers.map((l) => {
    switch (l.kind) {
      case 'dense':
        return `d${l.inSize}x${l.outSize}${l.bias ? 'b' : ''}`;
      case 'conv2d':
        return `c${l.inShape.join('x')}>${l.outShape.join('x')}k${l.kernelSize.join('x')}s${l.strides.join('x')}${l.padding}${l.bias ? 'b' : ''}`;
      case 'maxpool':
      case 'avgpool':
        return `${l.kind}${l.inShape.join('x')}k${l.poolSize.join('x')}s${l.strides.join('x')}${l.padding}`;
      case 'relu':
        return 'r';
      case 'flatten':
        return `f${l.inShape.join('x')}`;
    }
  });
  return `${net.inputShape.join('x')}|${net.numClasses}|${parts.join(',')}`;
}

export function inputSize(net: Network): number {
  return net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
}

function paramInputs(g: Graph, net: Network, prefix = 'p'): string[] {
  return parameterShapes(net).map((s, i) => g.input(`${prefix}${i}`, 'float', s));
}

function paramFeeds(net: Network, params: Float32Array[], prefix = 'p'): Record<string, Feed> {
  const shapes = parameterShapes(net);
  const feeds: Record<string, Feed> = {};
  params.forEach((a, i) => (feeds[`${prefix}${i}`] = f32(a, shapes[i])));
  return feeds;
}

/** Rows per call so that about `budget` activation values are alive at once. */
export function batchRows(net: Network, budget = 4e7): number {
  let per = inputSize(net);
  for (const l of net.layers) {
    if (l.kind === 'dense') per += l.outSize;
    else if (l.kind === 'conv2d' || l.kind === 'maxpool' || l.kind === 'avgpool') per += l.outShape[0] * l.outShape[1] * l.outShape[2];
  }
  return Math.max(1, Math.min(5000, Math.floor(budget / per)));
}

function logitsProgram(net: Network): Promise<Program> {
  return program(`logits:${architectureKey(net)}`, () => {
    const g = new Graph('logits');
    const x = g.input('x', 'float', ['B', inputSize(net)]);
    const { logits } = emitForward(g, net, x, paramInputs(g, net), false);
    g.output(logits, 'float', ['B', net.numClasses], 'logits');
    return g.toModel();
  });
}

/** Logits [n, classes] (row-major) of rows [start, end) of the flat inputs x, at the given parameters. */
export async function logits(net: Network, params: Float32Array[], x: Float32Array, start: number, end: number): Promise<Float32Array> {
  const size = inputSize(net);
  const c = net.numClasses;
  const p = await logitsProgram(net);
  const pf = paramFeeds(net, params);
  const rows = batchRows(net);
  if (end - start <= rows) return (await p.run({ x: f32(x.subarray(start * size, end * size), [end - start, size]), ...pf })).logits;
  const out = new Float32Array((end - start) * c);
  for (let s = start; s < end; s += rows) {
    const e = Math.min(end, s + rows);
    const r = await p.run({ x: f32(x.subarray(s * size, e * size), [e - s, size]), ...pf });
    out.set(r.logits, (s - start) * c);
  }
  return out;
}

function lossGradProgram(net: Network, wantGrad: boolean): Promise<Program> {
  return program(`lossGrad${wantGrad ? '' : 'NoGrad'}:${architectureKey(net)}`, () => {
    const g = new Graph('lossGrad');
    const x = g.input('x', 'float', ['B', inputSize(net)]);
    const y = g.input('y', 'int64', ['B']);
    const params = paramInputs(g, net);
    const fwd = emitForward(g, net, x, params, wantGrad);
    const loss = emitLoss(g, fwd.logits, y, net.numClasses, wantGrad ? g.scalar(1) : null);
    g.output(loss.lossSum, 'float', [], 'loss');
    g.output(loss.wrong, 'float', [], 'wrong');
    if (wantGrad) {
      const grads = emitBackward(g, net, fwd, loss.dLogits!);
      const shapes = parameterShapes(net);
      grads.forEach((gr, i) => g.output(gr, 'float', shapes[i], `g${i}`));
    }
    return g.toModel();
  });
}

/**
 * Σ cross-entropy over rows [0, n) of (x, y) at the given parameters and, when asked, its gradient
 * (a sum over the rows, not a mean), in calls of at most `rows` rows.
 */
export async function lossGrad(
  net: Network,
  params: Float32Array[],
  x: Float32Array,
  y: Int32Array,
  n: number,
  wantGrad: boolean,
): Promise<{ lossSum: number; wrong: number; grads: Float32Array[] | null }> {
  const size = inputSize(net);
  const p = await lossGradProgram(net, wantGrad);
  const pf = paramFeeds(net, params);
  const rows = Math.max(1, Math.floor(batchRows(net) / (wantGrad ? 2 : 1)));
  let lossSum = 0;
  let wrong = 0;
  let grads: Float32Array[] | null = null;
  for (let s = 0; s < n; s += rows) {
    const e = Math.min(n, s + rows);
    const r = await p.run({ x: f32(x.subarray(s * size, e * size), [e - s, size]), y: i64(y.subarray(s, e)), ...pf });
    lossSum += r.loss[0];
    wrong += r.wrong[0];
    if (wantGrad) {
      const part = params.map((_, i) => r[`g${i}`]);
      if (!grads) grads = part;
      else for (let j = 0; j < grads.length; j++) for (let i = 0; i < grads[j].length; i++) grads[j][i] += part[j][i];
    }
  }
  return { lossSum, wrong, grads };
}

function epochProgram(net: Network, batchSize: number): Promise<Program> {
  return program(`epoch:b${batchSize}:${architectureKey(net)}`, () => {
    const g = new Graph('epoch');
    const size = inputSize(net);
    const X = g.input('x', 'float', ['N', size]);
    const Y = g.input('y', 'int64', ['N']);
    const order = g.input('order', 'int64', ['N']);
    const first = g.input('first', 'int64', []);
    const count = g.input('count', 'int64', []);
    const total = g.input('n', 'int64', []);
    const lr = g.input('lr', 'float', []);
    const mu = g.input('mu', 'float', []);
    const shapes = parameterShapes(net);
    const params = paramInputs(g, net, 'p');
    const vels = paramInputs(g, net, 'v');

    const body = g.subgraph('epoch_step');
    const iter = body.input(body.fresh('iter'), 'int64', []);
    const condIn = body.input(body.fresh('cond'), 'bool', []);
    const bp = shapes.map((s) => body.input(body.fresh('w'), 'float', s));
    const bv = shapes.map((s) => body.input(body.fresh('vel'), 'float', s));
    const lossAcc = body.input(body.fresh('lossacc'), 'float', []);
    const wrongAcc = body.input(body.fresh('wrongacc'), 'float', []);
    const B = body.int(batchSize);
    const start = body.op('Mul', [body.op('Add', [iter, first]), B]);
    const end = body.op('Min', [body.op('Add', [start, B]), total]);
    const axis0 = body.ints([0]);
    const idx = body.op('Slice', [order, body.op('Unsqueeze', [start, axis0]), body.op('Unsqueeze', [end, axis0]), axis0]);
    const xb = body.op('Gather', [X, idx], { axis: 0 });
    const yb = body.op('Gather', [Y, idx], { axis: 0 });
    const scale = body.op('Reciprocal', [body.op('Cast', [body.op('Sub', [end, start])], { to: 1 })]);
    const fwd = emitForward(body, net, xb, bp, true);
    const loss = emitLoss(body, fwd.logits, yb, net.numClasses, scale);
    const grads = emitBackward(body, net, fwd, loss.dLogits!);
    body.output(body.op('Identity', [condIn]), 'bool', []);
    const newP: string[] = [];
    const newV: string[] = [];
    grads.forEach((gr, i) => {
      const v = body.op('Add', [body.op('Mul', [bv[i], mu]), gr]);
      newV.push(v);
      newP.push(body.op('Sub', [bp[i], body.op('Mul', [v, lr])]));
    });
    newP.forEach((v, i) => body.output(v, 'float', shapes[i]));
    newV.forEach((v, i) => body.output(v, 'float', shapes[i]));
    body.output(body.op('Add', [lossAcc, loss.lossSum]), 'float', []);
    body.output(body.op('Add', [wrongAcc, loss.wrong]), 'float', []);

    const outNames = [...shapes.map((_, i) => `p${i}_out`), ...shapes.map((_, i) => `v${i}_out`), 'loss', 'wrong'];
    g.opN('Loop', [count, '', ...params, ...vels, g.scalar(0), g.scalar(0)], outNames.length, { body }, outNames);
    outNames.forEach((name, i) => g.output(name, 'float', i < 2 * shapes.length ? shapes[i % shapes.length] : []));
    return g.toModel();
  });
}

/** Floating-point operations of one SGD step on a batch (2 per multiply-add; forward and both gradients). */
export function stepFlops(net: Network, batch: number): number {
  let f = 0;
  for (const l of net.layers.filter(isWeightLayer)) {
    const macs = l.kind === 'dense' ? l.inSize * l.outSize : l.outShape[0] * l.outShape[1] * l.outShape[2] * l.kernelSize[0] * l.kernelSize[1] * l.inShape[2];
    f += 3 * 2 * batch * macs;
  }
  return f;
}

export interface EpochChunk {
  /** Σ cross-entropy of the batches as they were seen. */
  lossSum: number;
  /** Mistakes in the batches as they were seen. */
  wrong: number;
}

/**
 * SGD with momentum over a network's parameters, run as Loop programs. The parameter and velocity arrays
 * are replaced by the runtime's outputs after every call.
 */
export class SgdProgram {
  params: Float32Array[];
  velocity: Float32Array[];
  private readonly shapes: number[][];

  constructor(
    readonly net: Network,
    params: Float32Array[],
    readonly batchSize: number,
    readonly lr: number,
    readonly momentum: number,
  ) {
    this.params = params;
    this.velocity = params.map((p) => new Float32Array(p.length));
    this.shapes = parameterShapes(net);
  }

  /**
   * Steps on the mini-batches first … first+count−1 of `order` (batch b = rows order[b·B … min((b+1)·B, n))).
   * x holds n flat rows, y their labels.
   */
  async steps(x: Float32Array, y: BigInt64Array, order: BigInt64Array, n: number, first: number, count: number): Promise<EpochChunk> {
    const p = await epochProgram(this.net, this.batchSize);
    const size = inputSize(this.net);
    const feeds: Record<string, Feed> = {
      x: f32(x, [n, size]),
      y: i64Array(y, [n]),
      order: i64Array(order, [n]),
      first: i64Scalar(first),
      count: i64Scalar(count),
      n: i64Scalar(n),
      lr: f32Scalar(this.lr),
      mu: f32Scalar(this.momentum),
    };
    this.params.forEach((a, i) => (feeds[`p${i}`] = f32(a, this.shapes[i])));
    this.velocity.forEach((a, i) => (feeds[`v${i}`] = f32(a, this.shapes[i])));
    const r = await p.run(feeds);
    this.params = this.params.map((_, i) => r[`p${i}_out`]);
    this.velocity = this.velocity.map((_, i) => r[`v${i}_out`]);
    return { lossSum: r.loss[0], wrong: r.wrong[0] };
  }
}

/** The layers of `net` after its first weight layer, as a network fed with that layer's output. */
export interface FirstLayerSplit {
  first: WeightLayer;
  /** parameter arrays of the first layer (1: kernel; 2: kernel and bias) */
  nFirst: number;
  rest: Network;
  /** units of the first layer's output (flat NHWC) */
  units: number;
}

export function splitAfterFirstLayer(net: Network): FirstLayerSplit | null {
  const i = net.layers.findIndex(isWeightLayer);
  if (i < 0 || net.layers.slice(0, i).some((l) => l.kind !== 'flatten')) return null;
  const first = net.layers[i] as WeightLayer;
  const outShape: Shape3 = first.kind === 'dense' ? [1, 1, first.outSize] : first.outShape;
  return {
    first,
    nFirst: first.bias ? 2 : 1,
    rest: { inputShape: outShape, numClasses: net.numClasses, layers: net.layers.slice(i + 1) },
    units: outShape[0] * outShape[1] * outShape[2],
  };
}

/** The first weight layer alone, without its bias, as a network (its "logits" are the layer's output). */
export function firstLayerNetwork(net: Network, split: FirstLayerSplit): Network {
  const first = { ...split.first, bias: null } as WeightLayer;
  const i = net.layers.indexOf(split.first);
  return { inputShape: net.inputShape, numClasses: split.units, layers: [...net.layers.slice(0, i), first] };
}

/**
 * The program behind shiftedLogits: P = layer₁(x; basis) computed inside (source 'basis') or given
 * (source 'pert'), then for each of A perturbations a: logits of the rest at layer₁ output
 * base + scale[a]·P (+ bias[a]) with the rest's parameters rest_i[a] — an ONNX Loop over a, so P
 * never leaves the runtime.
 */
function shiftedProgram(net: Network, split: FirstLayerSplit, source: 'basis' | 'pert'): Promise<Program> {
  const rest = split.rest;
  const hasBias = split.nFirst === 2;
  return program(`shifted:${source}:${hasBias ? 'b' : ''}:${architectureKey(net)}`, () => {
    const g = new Graph('shifted');
    const u = split.units;
    let P: string;
    if (source === 'basis') {
      const firstNet = firstLayerNetwork(net, split);
      const x = g.input('x', 'float', ['N', inputSize(net)]);
      const basis = g.input('basis', 'float', parameterShapes(firstNet)[0]);
      P = emitForward(g, firstNet, x, [basis], false).logits;
    } else {
      P = g.input('pert', 'float', ['N', u]);
    }
    const base = g.input('base', 'float', ['N', u]);
    const scales = g.input('scales', 'float', ['A']);
    const biases = hasBias ? g.input('biases', 'float', ['A', rest.inputShape[2]]) : null;
    const restShapes = parameterShapes(rest);
    const stacks = restShapes.map((sh, i) => g.input(`r${i}`, 'float', ['A', ...sh]));
    const count = g.op('Gather', [g.op('Shape', [scales]), g.int(0)], { axis: 0 });

    const body = g.subgraph('shifted_step');
    const iter = body.input(body.fresh('iter'), 'int64', []);
    const condIn = body.input(body.fresh('cond'), 'bool', []);
    const scale = body.op('Gather', [scales, iter], { axis: 0 });
    let pre = body.op('Add', [base, body.op('Mul', [P, scale])]);
    if (biases) {
      const c = rest.inputShape[2];
      const bias = body.op('Gather', [biases, iter], { axis: 0 });
      pre = body.op('Reshape', [body.op('Add', [body.op('Reshape', [pre, body.ints([-1, u / c, c])]), bias]), body.ints([-1, u])]);
    }
    const params = stacks.map((st) => body.op('Gather', [st, iter], { axis: 0 }));
    const { logits } = emitForward(body, rest, pre, params, false, u);
    body.output(body.op('Identity', [condIn]), 'bool', []);
    body.output(logits, 'float', ['N', rest.numClasses]);
    g.opN('Loop', [count, ''], 1, { body }, ['logits']);
    g.output('logits', 'float', ['A', 'N', rest.numClasses]);
    return g.toModel();
  });
}

/** One perturbation of the layers after the first: its scale, the first layer's bias (or null), the rest's parameters. */
export interface ShiftedPoint {
  scale: number;
  bias: Float32Array | null;
  rest: Float32Array[];
}

/**
 * Logits [A, n, classes] of all n rows for A perturbations, the first layer's output being
 * base + scale_a·P (+ bias_a), where P = layer₁(x; basis) is computed inside the runtime (`basis` given)
 * or passed in (`pert`). base and P are [n, units]; x holds the n flat rows.
 */
export async function shiftedLogits(
  net: Network,
  split: FirstLayerSplit,
  x: Float32Array,
  n: number,
  base: Float32Array,
  source: { basis: Float32Array } | { pert: Float32Array },
  points: ShiftedPoint[],
): Promise<Float32Array> {
  const which = 'basis' in source ? 'basis' : 'pert';
  const p = await shiftedProgram(net, split, which);
  const u = split.units;
  const A = points.length;
  const feeds: Record<string, Feed> = {
    base: f32(base, [n, u]),
    scales: f32(Float32Array.from(points, (q) => q.scale), [A]),
  };
  if ('basis' in source) {
    feeds.x = f32(x.subarray(0, n * inputSize(net)), [n, inputSize(net)]);
    feeds.basis = f32(source.basis, parameterShapes(firstLayerNetwork(net, split))[0]);
  } else feeds.pert = f32(source.pert, [n, u]);
  if (split.nFirst === 2) {
    const c = split.rest.inputShape[2];
    const b = new Float32Array(A * c);
    points.forEach((q, a) => b.set(q.bias!, a * c));
    feeds.biases = f32(b, [A, c]);
  }
  parameterShapes(split.rest).forEach((sh, i) => {
    const size = points[0].rest[i].length;
    const st = new Float32Array(A * size);
    points.forEach((q, a) => st.set(q.rest[i], a * size));
    feeds[`r${i}`] = f32(st, [A, ...sh]);
  });
  return (await p.run(feeds)).logits;
}
