/**
 * A Network as ONNX nodes: the forward pass (logits), the softmax cross-entropy, and the explicit backward
 * pass (weight gradients) — written once here and assembled into programs by programs.ts.
 *
 * Layouts. A Network keeps TF.js layouts (NHWC activations, dense kernels [in, out], conv kernels
 * [kh, kw, cin, cout]); ONNX convolutions are NCHW with kernels [cout, cin, kh, kw]. The graph takes
 * inputs as flat rows in NHWC order, turns them into NCHW where a conv or pool needs it, transposes conv
 * kernels on the way in (and their gradients on the way out), and flattens back in NHWC order before a
 * dense layer, so every number means what it means in the Network.
 *
 * Gradients (dy = ∂L/∂output of the layer):
 *   dense   y = x K (+ b)          dx = dy Kᵀ (Gemm transB)   dK = xᵀ dy (Gemm transA)   db = Σ_rows dy
 *   conv    y = x ⋆ K (+ b)        dx = ConvTranspose(dy, K) with the forward strides and pads (stride 1
 *                                       and wide layers: Conv(dy, flipped Kᵀ), the same sum)
 *                                  dK[i,j] = window_ij(x) · dyᵀ: per kernel offset, the padded input's
 *                                       strided window [C, B·Ho·Wo] times dy [B·Ho·Wo, O]   db = Σ_{n,h,w} dy
 *   relu    y = max(x, 0)          dx = dy · [y > 0]
 *   maxpool y = max over windows   dx = dy scattered to the (first) maximum of each window
 *                                       (MaxPool's indices; MaxUnpool, or ScatterElements-add when
 *                                       windows overlap)
 *   avgpool y = mean over windows  dx = ConvTranspose(dy / count, ones) per channel (count = cells of the
 *           (padding not counted)       window inside the input, as TF does for 'same')
 *   loss    mean of −log softmax(z)[y]: dz = (softmax(z) − onehot(y)) · scale
 * The first weight layer never computes its input gradient (nothing needs the gradient of the data).
 */
import { ConvLayer, Network, PoolLayer, Shape3, isWeightLayer } from '../models/network.js';
import { convPadding } from '../models/geometry.js';
import { UserError } from '../errors.js';
import { Graph } from './onnx/graph.js';

/** An activation value: flat rows [B, n] (NHWC order) or NCHW [B, C, H, W] with its NHWC shape. */
type Act = { name: string; layout: 'flat'; size: number } | { name: string; layout: 'nchw'; shape: Shape3 };

/** What the backward pass needs of one layer. */
type TapeEntry =
  | { kind: 'toNchw'; shape: Shape3; size: number }
  | { kind: 'toFlat'; shape: Shape3 }
  | { kind: 'dense'; x: string; kernel: string; bias: boolean; index: number; first: boolean }
  | { kind: 'conv2d'; x: string; kernel: string; layer: ConvLayer; bias: boolean; index: number; first: boolean }
  | { kind: 'relu'; y: string }
  | { kind: 'maxpool'; x: string; indices: string; layer: PoolLayer }
  | { kind: 'maxpoolMasks'; takes: string[]; layer: PoolLayer }
  | { kind: 'avgpool'; layer: PoolLayer };

export interface ForwardResult {
  logits: string;
  tape: TapeEntry[];
}

function pads2d(inShape: Shape3, k: [number, number], s: [number, number], padding: 'same' | 'valid') {
  const ph = convPadding(inShape[0], k[0], s[0], padding);
  const pw = convPadding(inShape[1], k[1], s[1], padding);
  return { ph, pw, pads: [ph.before, pw.before, ph.after, pw.after] };
}

function toNchw(g: Graph, a: Act, shape: Shape3, tape: TapeEntry[] | null): Act {
  if (a.layout === 'nchw') return a;
  const [h, w, c] = shape;
  const r = g.op('Reshape', [a.name, g.ints([-1, h, w, c])]);
  tape?.push({ kind: 'toNchw', shape, size: a.size });
  return { name: g.op('Transpose', [r], { perm: [0, 3, 1, 2] }), layout: 'nchw', shape };
}

function toFlat(g: Graph, a: Act, tape: TapeEntry[] | null): Act & { layout: 'flat' } {
  if (a.layout === 'flat') return a;
  const [h, w, c] = a.shape;
  const t = g.op('Transpose', [a.name], { perm: [0, 2, 3, 1] });
  tape?.push({ kind: 'toFlat', shape: a.shape });
  return { name: g.op('Reshape', [t, g.ints([-1, h * w * c])]), layout: 'flat', size: h * w * c };
}

/** Conv kernel [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw]. */
export function onnxKernel(g: Graph, kernel: string): string {
  return g.op('Transpose', [kernel], { perm: [3, 2, 0, 1] });
}

/**
 * The forward pass. `x` is [B, D] (flat NHWC rows); `params` are value names in the order of
 * parameterArrays(net). With `train` the MaxPool nodes also give their indices and a tape is recorded.
 */
export interface EmitOptions {
  /**
   * Max-pool gradients from MaxPool's indices (false: from masks of the first maximum of each window, for
   * providers without the indices output, e.g. WebGPU; square, non-overlapping 'valid' windows only).
   */
  maxPoolIndices: boolean;
}

let emitOptions: EmitOptions = { maxPoolIndices: true };

/** Set how graphs are written from now on (the engine does this per device). */
export function setEmitOptions(o: EmitOptions): void {
  emitOptions = o;
}

/** A short tag of the current emit options (part of every program's cache key). */
export function emitTag(): string {
  return emitOptions.maxPoolIndices ? 'mp-idx' : 'mp-mask';
}

/** Whether a max-pool layer's gradient can be built from window masks (see EmitOptions). */
export function maskPoolable(l: PoolLayer): boolean {
  const [kh, kw] = l.poolSize;
  return kh === kw && l.strides[0] === kh && l.strides[1] === kw && l.padding === 'valid';
}

/**
 * Max-pooling of x [B, C, H, W] over k×k windows with stride k ('valid') from k² strided slices: the
 * output is their maximum, and `takes` are the masks of the first maximum of each window (row-major), the
 * tie rule of MaxPool's indices.
 */
function maxPoolByMasks(g: Graph, x: string, l: PoolLayer): { y: string; takes: string[] } {
  const k = l.poolSize[0];
  const [ho, wo] = l.outShape;
  const slices: string[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) slices.push(g.op('Slice', [x, g.ints([i, j]), g.ints([i + k * (ho - 1) + 1, j + k * (wo - 1) + 1]), g.ints([2, 3]), g.ints([k, k])]));
  }
  const y = slices.length === 1 ? slices[0] : g.op('Max', slices);
  const takes: string[] = [];
  let seen: string | null = null;
  for (const sl of slices) {
    const eq = g.op('Equal', [sl, y]);
    takes.push(seen === null ? eq : g.op('And', [eq, g.op('Not', [seen])]));
    seen = seen === null ? eq : g.op('Or', [seen, eq]);
  }
  return { y, takes };
}

export function emitForward(g: Graph, net: Network, x: string, params: string[], train: boolean, inputSize?: number): ForwardResult {
  const tape: TapeEntry[] = [];
  const rec = train ? tape : null;
  let a: Act = { name: x, layout: 'flat', size: inputSize ?? net.inputShape[0] * net.inputShape[1] * net.inputShape[2] };
  let p = 0;
  let weightIndex = 0;
  // relu then max-pool = max-pool then relu (both monotone: the same values and the same gradient, ties
  // included, since a window whose maximum is ≤ 0 gets no gradient either way); pooling first, the ReLU and
  // its gradient touch a quarter of the values
  const layers = [...net.layers];
  for (let i = 0; i + 1 < layers.length; i++) {
    if (layers[i].kind === 'relu' && layers[i + 1].kind === 'maxpool') [layers[i], layers[i + 1]] = [layers[i + 1], layers[i]];
  }
  for (const l of layers) {
    switch (l.kind) {
      case 'flatten':
        a = toFlat(g, a, rec);
        break;
      case 'dense': {
        a = toFlat(g, a, rec);
        const kernel = params[p++];
        let y = g.op('MatMul', [a.name, kernel]);
        if (l.bias) y = g.op('Add', [y, params[p++]]);
        rec?.push({ kind: 'dense', x: a.name, kernel, bias: !!l.bias, index: weightIndex, first: weightIndex === 0 });
        weightIndex++;
        a = { name: y, layout: 'flat', size: l.outSize };
        break;
      }
      case 'conv2d': {
        a = toNchw(g, a, l.inShape, rec);
        const kernel = onnxKernel(g, params[p++]);
        const { pads } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
        const inputs = [a.name, kernel];
        if (l.bias) inputs.push(params[p++]);
        const y = g.op('Conv', inputs, { kernel_shape: l.kernelSize, strides: l.strides, pads, dilations: [1, 1] });
        rec?.push({ kind: 'conv2d', x: a.name, kernel, layer: l, bias: !!l.bias, index: weightIndex, first: weightIndex === 0 });
        weightIndex++;
        a = { name: y, layout: 'nchw', shape: l.outShape };
        break;
      }
      case 'relu': {
        const y = g.op('Relu', [a.name]);
        rec?.push({ kind: 'relu', y });
        a = { ...a, name: y };
        break;
      }
      case 'maxpool': {
        a = toNchw(g, a, l.inShape, rec);
        const { pads } = pads2d(l.inShape, l.poolSize, l.strides, l.padding);
        const attrs = { kernel_shape: l.poolSize, strides: l.strides, pads };
        if (train && !emitOptions.maxPoolIndices) {
          if (!maskPoolable(l)) {
            throw new UserError(`the max-pooling layer (${l.poolSize.join('x')} windows, strides ${l.strides.join('x')}, ${l.padding}) has no gradient on this device; use --device cpu`);
          }
          const { y, takes } = maxPoolByMasks(g, a.name, l);
          tape.push({ kind: 'maxpoolMasks', takes, layer: l });
          a = { name: y, layout: 'nchw', shape: l.outShape };
        } else if (train) {
          const [y, indices] = g.opN('MaxPool', [a.name], 2, attrs);
          tape.push({ kind: 'maxpool', x: a.name, indices, layer: l });
          a = { name: y, layout: 'nchw', shape: l.outShape };
        } else {
          a = { name: g.op('MaxPool', [a.name], attrs), layout: 'nchw', shape: l.outShape };
        }
        break;
      }
      case 'avgpool': {
        a = toNchw(g, a, l.inShape, rec);
        const { pads } = pads2d(l.inShape, l.poolSize, l.strides, l.padding);
        const y = g.op('AveragePool', [a.name], { kernel_shape: l.poolSize, strides: l.strides, pads, count_include_pad: 0 });
        rec?.push({ kind: 'avgpool', layer: l });
        a = { name: y, layout: 'nchw', shape: l.outShape };
        break;
      }
    }
  }
  return { logits: toFlat(g, a, rec).name, tape };
}

export interface LossResult {
  /** Σ over the rows of −log softmax(z)[y] (a scalar). */
  lossSum: string;
  /** Number of rows whose arg-max (first maximum) is not the label (a float scalar). */
  wrong: string;
  /** ∂(scale · lossSum)/∂z. */
  dLogits: string | null;
}

/** Softmax cross-entropy of logits [B, C] against int64 labels [B]. */
export function emitLoss(g: Graph, logits: string, labels: string, numClasses: number, scale: string | null): LossResult {
  const onehot = g.op('OneHot', [labels, g.constant([numClasses], [], 'int64'), g.constant([0, 1], [2])], { axis: -1 });
  const lp = g.op('LogSoftmax', [logits], { axis: 1 });
  const lossSum = g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [lp, onehot])], { keepdims: 0 })]);
  const pred = g.op('ArgMax', [logits], { axis: 1, keepdims: 0 });
  const wrong = g.op('ReduceSum', [g.op('Cast', [g.op('Not', [g.op('Equal', [pred, labels])])], { to: 1 })], { keepdims: 0 });
  let dLogits: string | null = null;
  if (scale !== null) dLogits = g.op('Mul', [g.op('Sub', [g.op('Exp', [lp]), onehot]), scale]);
  return { lossSum, wrong, dLogits };
}

/**
 * The backward pass from ∂L/∂logits: gradients of the parameters, as value names in the order of
 * parameterArrays(net), in the Network's layouts.
 */
export function emitBackward(g: Graph, net: Network, fwd: ForwardResult, dLogits: string): string[] {
  const nParams = net.layers.filter(isWeightLayer).reduce((n, l) => n + (l.bias ? 2 : 1), 0);
  const grads: string[] = new Array(nParams);
  // parameter slot of each weight layer
  const slots: number[] = [];
  let s = 0;
  for (const l of net.layers.filter(isWeightLayer)) {
    slots.push(s);
    s += l.bias ? 2 : 1;
  }
  let dy = dLogits;
  for (let i = fwd.tape.length - 1; i >= 0; i--) {
    const t = fwd.tape[i];
    switch (t.kind) {
      case 'toFlat': {
        const [h, w, c] = t.shape;
        dy = g.op('Transpose', [g.op('Reshape', [dy, g.ints([-1, h, w, c])])], { perm: [0, 3, 1, 2] });
        break;
      }
      case 'toNchw':
        dy = g.op('Reshape', [g.op('Transpose', [dy], { perm: [0, 2, 3, 1] }), g.ints([-1, t.size])]);
        break;
      case 'relu':
        dy = g.op('Mul', [dy, g.op('Cast', [g.op('Greater', [t.y, g.scalar(0)])], { to: 1 })]);
        break;
      case 'dense': {
        const slot = slots[t.index];
        grads[slot] = g.op('Gemm', [t.x, dy], { transA: 1 });
        if (t.bias) grads[slot + 1] = g.op('ReduceSum', [dy, g.ints([0])], { keepdims: 0 });
        if (t.first) return grads;
        dy = g.op('Gemm', [dy, t.kernel], { transB: 1 });
        break;
      }
      case 'conv2d': {
        const l = t.layer;
        const slot = slots[t.index];
        const { pads, ph, pw } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
        const [kh, kw] = l.kernelSize;
        // dK[i,j,c,o] = Σ_{n,y,x} xpad[n,c,y·s+i,x·s+j] dy[n,o,y,x]: for each kernel offset (i, j), the strided
        // window of the padded input [C, B·Ho·Wo] times dyᵀ [B·Ho·Wo, O]
        const xT = g.op('Transpose', [t.x], { perm: [1, 0, 2, 3] }); // [C, B, H, W]
        const padded = ph.before + ph.after + pw.before + pw.after > 0;
        const xp = padded ? g.op('Pad', [xT, g.ints([0, 0, ph.before, pw.before, 0, 0, ph.after, pw.after])]) : xT;
        const [sh, sw] = l.strides;
        const cin = l.inShape[2];
        const cout = l.outShape[2];
        const dyM = g.op('Reshape', [g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), g.ints([cout, -1])]); // [O, B·Ho·Wo]
        if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
          grads[slot] = g.op('Reshape', [g.op('Gemm', [g.op('Reshape', [xp, g.ints([cin, -1])]), dyM], { transB: 1 }), g.ints([1, 1, cin, cout])]);
        } else {
          // one product per kernel offset (no kh·kw-times-the-input matrix is held at once)
          const parts: string[] = [];
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const window = g.op('Slice', [xp, g.ints([i, j]), g.ints([i + sh * (ph.out - 1) + 1, j + sw * (pw.out - 1) + 1]), g.ints([2, 3]), g.ints([sh, sw])]);
              parts.push(g.op('Gemm', [g.op('Reshape', [window, g.ints([cin, -1])]), dyM], { transB: 1 })); // [C, O]
            }
          }
          grads[slot] = g.op('Reshape', [g.op('Concat', parts, { axis: 0 }), g.ints([kh, kw, cin, cout])]);
        }
        if (t.bias) grads[slot + 1] = g.op('ReduceSum', [dy, g.ints([0, 2, 3])], { keepdims: 0 });
        if (t.first) return grads;
        const outPad = [
          l.inShape[0] - ((ph.out - 1) * l.strides[0] + kh - ph.before - ph.after),
          l.inShape[1] - ((pw.out - 1) * l.strides[1] + kw - pw.before - pw.after),
        ];
        if (sh === 1 && sw === 1 && Math.min(cin, cout) >= 32) {
          // stride 1: the input gradient is a plain convolution of dy with the flipped, transposed kernel
          // (faster than ConvTranspose here for wide layers)
          const flipped = g.op('Transpose', [g.op('Slice', [t.kernel, g.ints([kh - 1, kw - 1]), g.ints([-kh - 1, -kw - 1]), g.ints([2, 3]), g.ints([-1, -1])])], { perm: [1, 0, 2, 3] });
          const fpads = [kh - 1 - ph.before, kw - 1 - pw.before, kh - 1 - ph.after, kw - 1 - pw.after];
          dy = g.op('Conv', [dy, flipped], { kernel_shape: l.kernelSize, pads: fpads, strides: [1, 1] });
        } else {
          dy = g.op('ConvTranspose', [dy, t.kernel], { strides: l.strides, pads, kernel_shape: l.kernelSize, output_padding: outPad });
        }
        break;
      }
      case 'maxpool': {
        const l = t.layer;
        const { pads } = pads2d(l.inShape, l.poolSize, l.strides, l.padding);
        const overlapping = l.strides[0] < l.poolSize[0] || l.strides[1] < l.poolSize[1];
        if (!overlapping) {
          dy = g.op('MaxUnpool', [dy, t.indices, g.op('Shape', [t.x])], { kernel_shape: l.poolSize, strides: l.strides, pads });
        } else {
          // overlapping windows: one input may be the maximum of several windows, so add, not overwrite
          const zeros = g.op('Mul', [g.op('Reshape', [t.x, g.ints([-1])]), g.scalar(0)]);
          const flat = g.op('ScatterElements', [zeros, g.op('Reshape', [t.indices, g.ints([-1])]), g.op('Reshape', [dy, g.ints([-1])])], { axis: 0, reduction: 'add' });
          dy = g.op('Reshape', [flat, g.op('Shape', [t.x])]);
        }
        break;
      }
      case 'maxpoolMasks': {
        // each window's first maximum gets dy: the k² masked copies of dy, interleaved back into the map
        // by DepthToSpace (channel block (i·k + j)·C + c → position (y·k + i, x·k + j)), padded with zero
        // rows and columns the windows did not reach
        const l = t.layer;
        const k = l.poolSize[0];
        const zero = g.scalar(0);
        const parts = t.takes.map((m) => g.op('Where', [m, dy, zero]));
        let dx = k === 1 ? parts[0] : g.op('DepthToSpace', [g.op('Concat', parts, { axis: 1 })], { blocksize: k, mode: 'DCR' });
        const extraH = l.inShape[0] - k * l.outShape[0];
        const extraW = l.inShape[1] - k * l.outShape[1];
        if (extraH > 0 || extraW > 0) dx = g.op('Pad', [dx, g.ints([0, 0, 0, 0, 0, 0, extraH, extraW])]);
        dy = dx;
        break;
      }
      case 'avgpool': {
        const l = t.layer;
        const { pads, ph, pw } = pads2d(l.inShape, l.poolSize, l.strides, l.padding);
        const [kh, kw] = l.poolSize;
        const c = l.inShape[2];
        const counts = new Float32Array(ph.out * pw.out);
        for (let y = 0; y < ph.out; y++) {
          for (let x = 0; x < pw.out; x++) {
            const y0 = y * l.strides[0] - ph.before;
            const x0 = x * l.strides[1] - pw.before;
            const ny = Math.min(l.inShape[0], y0 + kh) - Math.max(0, y0);
            const nx = Math.min(l.inShape[1], x0 + kw) - Math.max(0, x0);
            counts[y * pw.out + x] = 1 / (ny * nx);
          }
        }
        const scaled = g.op('Mul', [dy, g.constant(counts, [1, 1, ph.out, pw.out])]);
        const ones = g.constant(new Float32Array(c * kh * kw).fill(1), [c, 1, kh, kw]);
        const outPad = [
          l.inShape[0] - ((ph.out - 1) * l.strides[0] + kh - ph.before - ph.after),
          l.inShape[1] - ((pw.out - 1) * l.strides[1] + kw - pw.before - pw.after),
        ];
        dy = g.op('ConvTranspose', [scaled, ones], { strides: l.strides, pads, kernel_shape: l.poolSize, group: c, output_padding: outPad });
        break;
      }
    }
  }
  return grads;
}
