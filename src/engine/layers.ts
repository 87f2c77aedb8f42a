/**
 * A Network as ONNX nodes: the forward pass (logits), the softmax cross-entropy, and the explicit backward
 * pass (weight gradients) — written once here and assembled into programs by programs.ts.
 *
 * Layouts. A Network keeps TF.js layouts (NHWC activations, dense kernels [in, out], conv kernels
 * [kh, kw, cin, cout]); ONNX convolutions are NCHW with kernels [cout, cin, kh, kw]. The graph takes
 * inputs as flat rows in NHWC order, turns them into NCHW where a conv or pool needs it, transposes conv
 * kernels on the way in (and their gradients on the way out), and flattens back in NHWC order before a
 * dense layer, so every number means what it means in the Network. On CPUs with ONNX Runtime's NCHWc
 * kernels, conv layers whose channels fill its blocks, and the max-pooling between them, run in that
 * layout (see EmitOptions.nchwcBlock).
 *
 * Gradients (dy = ∂L/∂output of the layer):
 *   dense   y = x K (+ b)          dx = dy Kᵀ (Gemm transB)   dK = xᵀ dy (Gemm transA)   db = Σ_rows dy
 *   conv    y = x ⋆ K (+ b)        dx = ConvTranspose(dy, K) with the forward strides and pads (stride 1
 *                                       and wide layers: Conv(dy, flipped Kᵀ), the same sum)
 *                                  dK = Σ_n windows(x_n) · dy_nᵀ: per example, the padded input's strided
 *                                       windows of every kernel offset [kh·kw·C, Ho·Wo] times dy_nᵀ
 *                                       [Ho·Wo, O]   db = Σ_{n,h,w} dy
 *   relu    y = max(x, 0)          dx = dy · [y > 0]
 *   maxpool y = max over windows   dx = dy scattered to the (first) maximum of each window
 *                                       (MaxPool's indices; MaxUnpool, or ScatterElements-add when
 *                                       windows overlap; on NCHWc maps a first-maximum mask)
 *   avgpool y = mean over windows  dx = ConvTranspose(dy / count, ones) per channel (count = cells of the
 *           (padding not counted)       window inside the input, as TF does for 'same')
 *   loss    mean of −log softmax(z)[y]: dz = (softmax(z) − onehot(y)) · scale
 * The first weight layer never computes its input gradient (nothing needs the gradient of the data).
 */
import { ConvLayer, Network, PoolLayer, Shape3, isWeightLayer } from '../models/network.js';
import { convPadding } from '../models/geometry.js';
import { UserError } from '../errors.js';
import { Graph } from './onnx/graph.js';

/**
 * How an activation is laid out: flat rows [B, n] (NHWC order), NCHW [B, C, H, W], or ONNX Runtime's
 * NCHWc (NCHW with the channels in blocks of `nchwcBlock`, the layout of its fastest CPU convolution and
 * pooling kernels; C a multiple of the block).
 */
type Layout = 'flat' | 'nchw' | 'nchwc';

/** An activation value in a layout, with its NHWC shape (flat rows: [1, 1, n]). */
interface Act {
  name: string;
  layout: Layout;
  shape: Shape3;
}

/** What the backward pass needs of one layer. */
type TapeEntry =
  | { kind: 'layout'; from: Layout; to: Layout; shape: Shape3 }
  | { kind: 'dense'; x: string; kernel: string; outSize: number; bias: boolean; index: number; first: boolean }
  | { kind: 'conv2d'; x: string; kernel: string; layer: ConvLayer; bias: boolean; index: number; first: boolean }
  | { kind: 'conv2dNchwc'; x: string; xLayout: Layout; param: string; layer: ConvLayer; bias: boolean; index: number; first: boolean }
  | { kind: 'relu'; y: string }
  | { kind: 'maxpool'; x: string; indices: string; layer: PoolLayer }
  | { kind: 'maxpoolMasks'; takes: string[]; layer: PoolLayer }
  | { kind: 'maxpoolNchwc'; first: string; layer: PoolLayer }
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

const NCHWC = 'com.microsoft.nchwc';

/** `x` of NHWC shape `shape` from one layout to another (forward values and gradients alike). */
function convertLayout(g: Graph, x: string, from: Layout, to: Layout, shape: Shape3): string {
  const [h, w, c] = shape;
  if (from === to) return x;
  if (from === 'flat') {
    const nhwc = g.op('Reshape', [x, g.ints([-1, h, w, c])]);
    return to === 'nchw' ? g.op('Transpose', [nhwc], { perm: [0, 3, 1, 2] }) : g.domainOp(NCHWC, 'ReorderInput', [nhwc], { channels_last: 1 });
  }
  if (to === 'flat') {
    const nhwc = from === 'nchw' ? g.op('Transpose', [x], { perm: [0, 2, 3, 1] }) : g.domainOp(NCHWC, 'ReorderOutput', [x], { channels: c, channels_last: 1 });
    return g.op('Reshape', [nhwc, g.ints([-1, h * w * c])]);
  }
  return to === 'nchwc' ? g.domainOp(NCHWC, 'ReorderInput', [x]) : g.domainOp(NCHWC, 'ReorderOutput', [x], { channels: c });
}

/** `a` in layout `to` (recorded on the tape: the backward pass converts the gradient back). */
function relayout(g: Graph, a: Act, to: Layout, tape: TapeEntry[] | null): Act {
  if (a.layout === to) return a;
  tape?.push({ kind: 'layout', from: a.layout, to, shape: a.shape });
  return { name: convertLayout(g, a.name, a.layout, to, a.shape), layout: to, shape: a.shape };
}

const toNchw = (g: Graph, a: Act, tape: TapeEntry[] | null) => relayout(g, a, 'nchw', tape);
const toFlat = (g: Graph, a: Act, tape: TapeEntry[] | null) => relayout(g, a, 'flat', tape);

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
  /**
   * Channel block of ONNX Runtime's NCHWc CPU kernels (com.microsoft.nchwc: 16 with AVX-512, 8 with AVX2),
   * or 0 not to use them. Convolutions whose channels fit the block run there (several times faster than
   * ONNX's Conv, which ONNX Runtime moves to NCHWc only for constant weights), with the max-pooling
   * between them.
   */
  nchwcBlock: number;
}

let emitOptions: EmitOptions = { maxPoolIndices: true, nchwcBlock: 0 };

/** Set how graphs are written from now on (the engine does this per device); unnamed options are kept. */
export function setEmitOptions(o: Partial<EmitOptions>): void {
  emitOptions = { ...emitOptions, ...o };
}

export function getEmitOptions(): EmitOptions {
  return { ...emitOptions };
}

/** A short tag of the current emit options (part of every program's cache key). */
export function emitTag(): string {
  return `${emitOptions.maxPoolIndices ? 'mp-idx' : 'mp-mask'}${emitOptions.nchwcBlock ? `-nchwc${emitOptions.nchwcBlock}` : ''}`;
}

/**
 * Whether a conv layer runs on the NCHWc kernels: its output channels fill whole blocks and its input
 * channels too, or are fewer than a block (the kernel then reads NCHW input, e.g. an image's 3 channels).
 */
function nchwcConv(l: ConvLayer): boolean {
  const b = emitOptions.nchwcBlock;
  const cin = l.inShape[2];
  return b > 0 && l.outShape[2] % b === 0 && (cin % b === 0 || cin < b);
}

/** Whether a max-pool layer on NCHWc input keeps that layout in training (maskPoolable, no rows dropped). */
function nchwcPoolable(l: PoolLayer): boolean {
  const k = l.poolSize[0];
  return maskPoolable(l) && l.inShape[0] === k * l.outShape[0] && l.inShape[1] === k * l.outShape[1];
}

/**
 * Conv kernel [kh, kw, cin, cout] as NCHWc's filter: [cout/b, cin/b, kh, kw, b (cin), b (cout)], or
 * [cout/b, cin, kh, kw, b (cout)] when cin < b; declared [cout, cin, kh, kw] as the op expects.
 */
function nchwcKernel(g: Graph, kernel: string, l: ConvLayer): string {
  const b = emitOptions.nchwcBlock;
  const [kh, kw] = l.kernelSize;
  const cin = l.inShape[2];
  const cout = l.outShape[2];
  const blocked =
    cin % b === 0
      ? g.op('Transpose', [g.op('Reshape', [kernel, g.ints([kh, kw, cin / b, b, cout / b, b])])], { perm: [4, 2, 0, 1, 3, 5] })
      : g.op('Transpose', [g.op('Reshape', [kernel, g.ints([kh, kw, cin, cout / b, b])])], { perm: [3, 2, 0, 1, 4] });
  return g.op('Reshape', [blocked, g.ints([cout, cin, kh, kw])]);
}

/**
 * The input gradient's kernel of a stride-1 conv as NCHWc's filter: the kernel flipped in space with its
 * channels swapped, K'[c, o, i, j] = K[kh−1−i, kw−1−j, c, o], blocked as in nchwcKernel (cin % b = 0).
 */
function nchwcFlippedKernel(g: Graph, kernel: string, l: ConvLayer): string {
  const b = emitOptions.nchwcBlock;
  const [kh, kw] = l.kernelSize;
  const cin = l.inShape[2];
  const cout = l.outShape[2];
  const flipped = g.op('Slice', [kernel, g.ints([kh - 1, kw - 1]), g.ints([-kh - 1, -kw - 1]), g.ints([0, 1]), g.ints([-1, -1])]);
  const blocked = g.op('Transpose', [g.op('Reshape', [flipped, g.ints([kh, kw, cin / b, b, cout / b, b])])], { perm: [2, 4, 0, 1, 5, 3] });
  return g.op('Reshape', [blocked, g.ints([cin, cout, kh, kw])]);
}

/**
 * Max-pooling of NCHWc x over k×k windows with stride k, and the mask of each window's first maximum
 * (row-major, MaxPool's tie rule) as 0/1 floats: E marks every input equal to its window's maximum; E
 * times a weight falling with the position in the window (k², …, 1) has its window maximum at the first
 * maximum only, which upsampling back and comparing marks. Every step is an NCHWc pool, an NCHWc nearest
 * upsampling or an elementwise op over equal shapes, ONNX Runtime's fast kernels (MaxPool's indices output
 * runs a generic kernel ten times slower than the pool).
 */
function maxPoolNchwc(g: Graph, x: string, l: PoolLayer): { y: string; first: string } {
  const b = emitOptions.nchwcBlock;
  const k = l.poolSize[0];
  const [h, w, c] = l.inShape;
  const attrs = { kernel_shape: l.poolSize, strides: l.strides, pads: [0, 0, 0, 0] };
  const y = g.domainOp(NCHWC, 'MaxPool', [x], attrs);
  const isMax = g.op('Cast', [g.op('Equal', [x, upsampleNchwc(g, y, k)])], { to: 1 });
  const weights = new Float32Array(h * w * b);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) weights.fill(k * k - ((i % k) * k + (j % k)), (i * w + j) * b, (i * w + j + 1) * b);
  const ranked = g.op('Reshape', [g.op('Mul', [g.op('Reshape', [isMax, g.ints([-1, h * w * b])]), g.constant(weights, [h * w * b])]), g.ints([-1, c, h, w])]);
  const best = upsampleNchwc(g, g.domainOp(NCHWC, 'MaxPool', [ranked], attrs), k);
  return { y, first: g.op('Cast', [g.op('Equal', [ranked, best])], { to: 1 }) };
}

/** Nearest upsampling of an NCHWc map by k in both directions (each value to its k×k window). */
function upsampleNchwc(g: Graph, x: string, k: number): string {
  return g.domainOp(NCHWC, 'Upsample', [x], { scales: [1, 1, k, k], mode: 'nearest' });
}

/** Whether a max-pool layer's gradient can be built from window masks (see EmitOptions). */
export function maskPoolable(l: PoolLayer): boolean {
  const [kh, kw] = l.poolSize;
  return kh === kw && l.strides[0] === kh && l.strides[1] === kw && l.padding === 'valid';
}

/**
 * Products whose inner dimension K exceeds MLAS's K block (128) are given to MLAS with A transposed.
 * MLAS sums K in blocks and, when A is not transposed, widens the block for a narrow N range; with
 * several threads each thread gets a narrower N range, so the blocks (and the float sums) depend on the
 * thread count. With A transposed the block stays 128 whatever the range: the result is bit-identical
 * at any thread count. (K ≤ 128 is one block either way.)
 */
const MLAS_K_BLOCK = 128;

/**
 * A [R, C] matrix stored transposed, [C, R], as a real copy: through a rank-3 Transpose between Reshapes,
 * which ONNX Runtime's optimizer does not fold into the Gemm that reads it (a plain Transpose into a Gemm
 * is folded into the Gemm's trans flag, and MLAS would see the untransposed A again).
 */
function storedTransposed(g: Graph, m: string): string {
  const t = g.op('Transpose', [g.op('Unsqueeze', [m, g.ints([2])])], { perm: [1, 0, 2] });
  return g.op('Squeeze', [t, g.ints([2])]);
}

/**
 * x [B, K] · kernel [K, N], bit-identical at any thread count. MLAS splits a product's rows across threads
 * when it has at least as many rows as columns (B ≥ N): then each thread sums K in the same blocks and a
 * MatMul is thread-invariant. With fewer rows (a training batch narrower than the layer) it splits the
 * columns, and the product is computed as (kernelᵀ xᵀ)ᵀ instead, the kernel (stored K-major) read
 * transposed. An If node picks the form from the batch at run time.
 */
function denseProduct(g: Graph, x: string, kernel: string, k: number, n: number): string {
  if (k <= MLAS_K_BLOCK) return g.op('MatMul', [x, kernel]);
  const wide = g.op('Less', [g.op('Shape', [x], { start: 0, end: 1 }), g.ints([n])]);
  const transposed = g.subgraph('dense_wide');
  transposed.output(storedTransposed(transposed, transposed.op('Gemm', [kernel, x], { transA: 1, transB: 1 })), 'float', ['B', n]);
  const plain = g.subgraph('dense_tall');
  plain.output(plain.op('MatMul', [x, kernel]), 'float', ['B', n]);
  return g.op('If', [wide], { then_branch: transposed, else_branch: plain });
}

/** dy [B, N] · kernelᵀ [N, K], bit-identical at any thread count (the inner dimension is N). */
function denseInputGradient(g: Graph, dy: string, kernel: string, n: number): string {
  if (n <= MLAS_K_BLOCK) return g.op('Gemm', [dy, kernel], { transB: 1 });
  return g.op('Gemm', [storedTransposed(g, dy), kernel], { transA: 1, transB: 1 });
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
  let a: Act = inputSize === undefined ? { name: x, layout: 'flat', shape: net.inputShape } : { name: x, layout: 'flat', shape: [1, 1, inputSize] };
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
        a = toFlat(g, { ...a, shape: a.layout === 'flat' ? a.shape : l.inShape }, rec);
        break;
      case 'dense': {
        a = toFlat(g, a, rec);
        const kernel = params[p++];
        let y = denseProduct(g, a.name, kernel, l.inSize, l.outSize);
        if (l.bias) y = g.op('Add', [y, params[p++]]);
        rec?.push({ kind: 'dense', x: a.name, kernel, outSize: l.outSize, bias: !!l.bias, index: weightIndex, first: weightIndex === 0 });
        weightIndex++;
        a = { name: y, layout: 'flat', shape: [1, 1, l.outSize] };
        break;
      }
      case 'conv2d': {
        if (nchwcConv(l)) {
          a = relayout(g, { ...a, shape: l.inShape }, l.inShape[2] % emitOptions.nchwcBlock === 0 ? 'nchwc' : 'nchw', rec);
          const param = params[p++];
          const { pads } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
          const inputs = [a.name, nchwcKernel(g, param, l)];
          if (l.bias) inputs.push(params[p++]);
          const y = g.domainOp(NCHWC, 'Conv', inputs, { kernel_shape: l.kernelSize, strides: l.strides, pads, dilations: [1, 1] });
          rec?.push({ kind: 'conv2dNchwc', x: a.name, xLayout: a.layout, param, layer: l, bias: !!l.bias, index: weightIndex, first: weightIndex === 0 });
          weightIndex++;
          a = { name: y, layout: 'nchwc', shape: l.outShape };
          break;
        }
        a = toNchw(g, { ...a, shape: l.inShape }, rec);
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
        a = { ...a, shape: l.inShape };
        if (a.layout === 'nchwc' && (!train || nchwcPoolable(l))) {
          if (train) {
            const { y, first } = maxPoolNchwc(g, a.name, l);
            tape.push({ kind: 'maxpoolNchwc', first, layer: l });
            a = { name: y, layout: 'nchwc', shape: l.outShape };
          } else {
            const { pads } = pads2d(l.inShape, l.poolSize, l.strides, l.padding);
            a = { name: g.domainOp(NCHWC, 'MaxPool', [a.name], { kernel_shape: l.poolSize, strides: l.strides, pads }), layout: 'nchwc', shape: l.outShape };
          }
          break;
        }
        a = toNchw(g, a, rec);
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
        a = toNchw(g, { ...a, shape: l.inShape }, rec);
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

/**
 * The kernel gradient of a conv layer from its NCHW input x and NCHW output gradient dy, in the Network's
 * layout [kh, kw, cin, cout]: dK[i,j,c,o] = Σ_n Σ_{y,x} xpad[n,c,y·s+i,x·s+j] dy[n,o,y,x]. Per example, the
 * kernel offsets' strided windows of the padded input stacked [kh·kw·C, Ho·Wo] times dyᵀ [Ho·Wo, O] (one
 * batched MatMul), then the sum over the examples. Per example, not one product over B·Ho·Wo: for a product
 * with few rows and columns and a long inner dimension MLAS splits the inner sum across threads, and the
 * result would change with the thread count.
 */
function convKernelGradient(g: Graph, x: string, dy: string, l: ConvLayer): string {
  const { ph, pw } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
  const [kh, kw] = l.kernelSize;
  const [sh, sw] = l.strides;
  const cin = l.inShape[2];
  const cout = l.outShape[2];
  const padded = ph.before + ph.after + pw.before + pw.after > 0;
  const xp = padded ? g.op('Pad', [x, g.ints([0, 0, ph.before, pw.before, 0, 0, ph.after, pw.after])]) : x;
  const windows: string[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      windows.push(kh * kw === 1 && sh * sw === 1 ? xp : g.op('Slice', [xp, g.ints([i, j]), g.ints([i + sh * (ph.out - 1) + 1, j + sw * (pw.out - 1) + 1]), g.ints([2, 3]), g.ints([sh, sw])]));
    }
  }
  const cols = g.op('Reshape', [windows.length === 1 ? windows[0] : g.op('Concat', windows, { axis: 1 }), g.ints([0, kh * kw * cin, -1])]); // [B, kh·kw·C, Ho·Wo]
  const rows = kh * kw * cin;
  if (cout > rows && ph.out * pw.out > MLAS_K_BLOCK) {
    // MLAS would split this product's columns (O > rows) across threads for a batch smaller than the thread
    // count, with a K block that depends on the split (see MLAS_K_BLOCK): as (dyᵀ colsᵀ)ᵀ instead, with
    // dy [B, Ho·Wo, O] stored K-major and read transposed (com.microsoft FusedMatMul has transA)
    const dyK = g.op('Squeeze', [g.op('Transpose', [g.op('Unsqueeze', [g.op('Reshape', [dy, g.ints([0, cout, -1])]), g.ints([3])])], { perm: [0, 2, 1, 3] }), g.ints([3])]); // [B, Ho·Wo, O]
    const perExampleT = g.domainOp('com.microsoft', 'FusedMatMul', [dyK, cols], { transA: 1, transB: 1 }); // [B, O, kh·kw·C]
    const summed = g.op('ReduceSum', [perExampleT, g.ints([0])], { keepdims: 0 }); // [O, kh·kw·C]
    return g.op('Reshape', [g.op('Transpose', [summed], { perm: [1, 0] }), g.ints([kh, kw, cin, cout])]);
  }
  const dyT = g.op('Transpose', [g.op('Reshape', [dy, g.ints([0, cout, -1])])], { perm: [0, 2, 1] }); // [B, Ho·Wo, O]
  const perExample = g.op('MatMul', [cols, dyT]); // [B, kh·kw·C, O]
  return g.op('Reshape', [g.op('ReduceSum', [perExample, g.ints([0])], { keepdims: 0 }), g.ints([kh, kw, cin, cout])]);
}

/**
 * Whether a conv layer's kernel gradient runs as an NCHWc convolution (stride 1, output channels in
 * blocks) rather than as per-example products over window stacks. The convolution has a kh×kw output,
 * which its kernel fills poorly: measured on the VGG layers, it wins when the window stack would be
 * costly relative to the products — few channels (C·O ≤ 2048: the small VGG's layers) or small maps
 * (Ho·Wo ≤ 16: the last 4×4 layers) — and loses on wide layers over larger maps (64→64 at 32×32, 128→128
 * at 16×16).
 */
function nchwcKernelGradientApplies(l: ConvLayer): boolean {
  const b = emitOptions.nchwcBlock;
  if (!(b > 0 && l.strides[0] === 1 && l.strides[1] === 1 && l.outShape[2] % b === 0)) return false;
  return l.inShape[2] * l.outShape[2] <= 2048 || l.outShape[0] * l.outShape[1] <= 16;
}

/**
 * A stride-1 conv's kernel gradient as a convolution on ONNX Runtime's NCHWc kernel, with the roles
 * swapped: dK[i, j, c, o] = Σ_{b, y, x} xpad[b, c, y + i, x + j] · dy[b, o, y, x] is the convolution of the
 * input seen as C images of B channels (xᵀ [C, B, H, W]) with dy seen as O filters of B channels and
 * Ho×Wo taps (dyᵀ [O, B, Ho, Wo]), giving C images of O channels and kh×kw pixels. No window stack is
 * built. The batch is padded with zero examples to a multiple of the block (they add nothing).
 */
function nchwcKernelGradient(g: Graph, x: string, dy: string /* NCHWc */, l: ConvLayer): string {
  const b = emitOptions.nchwcBlock;
  const { ph, pw } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
  const cout = l.outShape[2];
  const [ho, wo] = [ph.out, pw.out];
  // zero examples up to a multiple of the block: pad = (b − B mod b) mod b
  const batch = g.op('Shape', [x], { start: 0, end: 1 });
  const extra = g.op('Mod', [g.op('Sub', [g.ints([b]), g.op('Mod', [batch, g.ints([b])])]), g.ints([b])]);
  const zeros = g.ints([0]);
  const padBatch = (t: string) => g.op('Pad', [t, g.op('Concat', [zeros, zeros, zeros, zeros, extra, zeros, zeros, zeros], { axis: 0 })]);
  const images = g.domainOp(NCHWC, 'ReorderInput', [g.op('Transpose', [padBatch(x)], { perm: [1, 0, 2, 3] })]); // [C, B/b, H, W, b]
  // dy is NCHWc (memory [B, O/b, Ho, Wo, b]): the filters' blocked layout [O/b, B/b, Ho, Wo, b(B), b(O)]
  // moves whole b(O) vectors
  const dyp = padBatch(dy);
  const filters = g.op('Reshape', [
    g.op('Transpose', [g.op('Reshape', [dyp, g.ints([-1, b, cout / b, ho, wo, b])])], { perm: [2, 0, 3, 4, 1, 5] }),
    g.op('Concat', [g.ints([cout]), g.op('Shape', [dyp], { start: 0, end: 1 }), g.ints([ho, wo])], { axis: 0 }),
  ]);
  const out = g.domainOp(NCHWC, 'Conv', [images, filters], { kernel_shape: [ho, wo], pads: [ph.before, pw.before, ph.after, pw.after], strides: [1, 1], dilations: [1, 1] }); // [C, O/b, kh, kw, b]
  const nchw = g.domainOp(NCHWC, 'ReorderOutput', [out], { channels: cout }); // [C, O, kh, kw]
  return g.op('Transpose', [nchw], { perm: [2, 3, 0, 1] });
}

/** The input gradient (NCHW) of a conv layer from its NCHW output gradient dy and ONNX kernel [cout, cin, kh, kw]. */
function convInputGradient(g: Graph, dy: string, kernel: string, l: ConvLayer): string {
  const { pads, ph, pw } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
  const [kh, kw] = l.kernelSize;
  const [sh, sw] = l.strides;
  const cin = l.inShape[2];
  const cout = l.outShape[2];
  if (sh === 1 && sw === 1 && Math.min(cin, cout) >= 32) {
    // stride 1: the input gradient is a plain convolution of dy with the flipped, transposed kernel
    // (faster than ConvTranspose here for wide layers)
    const flipped = g.op('Transpose', [g.op('Slice', [kernel, g.ints([kh - 1, kw - 1]), g.ints([-kh - 1, -kw - 1]), g.ints([2, 3]), g.ints([-1, -1])])], { perm: [1, 0, 2, 3] });
    const fpads = [kh - 1 - ph.before, kw - 1 - pw.before, kh - 1 - ph.after, kw - 1 - pw.after];
    return g.op('Conv', [dy, flipped], { kernel_shape: l.kernelSize, pads: fpads, strides: [1, 1] });
  }
  const outPad = [
    l.inShape[0] - ((ph.out - 1) * sh + kh - ph.before - ph.after),
    l.inShape[1] - ((pw.out - 1) * sw + kw - pw.before - pw.after),
  ];
  return g.op('ConvTranspose', [dy, kernel], { strides: l.strides, pads, kernel_shape: l.kernelSize, output_padding: outPad });
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
      case 'layout':
        dy = convertLayout(g, dy, t.to, t.from, t.shape);
        break;
      case 'relu':
        dy = g.op('Mul', [dy, g.op('Cast', [g.op('Greater', [t.y, g.scalar(0)])], { to: 1 })]);
        break;
      case 'dense': {
        const slot = slots[t.index];
        grads[slot] = g.op('Gemm', [t.x, dy], { transA: 1 });
        if (t.bias) grads[slot + 1] = g.op('ReduceSum', [dy, g.ints([0])], { keepdims: 0 });
        if (t.first) return grads;
        dy = denseInputGradient(g, dy, t.kernel, t.outSize);
        break;
      }
      case 'conv2d': {
        const l = t.layer;
        const slot = slots[t.index];
        grads[slot] = convKernelGradient(g, t.x, dy, l);
        if (t.bias) grads[slot + 1] = g.op('ReduceSum', [dy, g.ints([0, 2, 3])], { keepdims: 0 });
        if (t.first) return grads;
        dy = convInputGradient(g, dy, t.kernel, l);
        break;
      }
      case 'conv2dNchwc': {
        // dy is NCHWc; the kernel gradient and ONNX's ConvTranspose take NCHW
        const l = t.layer;
        const slot = slots[t.index];
        // NCHW only where something reads it (ONNX Runtime runs every node it is given)
        let nchw: string | null = null;
        const dyNchwOf = () => (nchw ??= convertLayout(g, dy, 'nchwc', 'nchw', l.outShape));
        grads[slot] = nchwcKernelGradientApplies(l) ? nchwcKernelGradient(g, convertLayout(g, t.x, t.xLayout, 'nchw', l.inShape), dy, l) : convKernelGradient(g, convertLayout(g, t.x, t.xLayout, 'nchw', l.inShape), dyNchwOf(), l);
        if (t.bias) grads[slot + 1] = g.op('ReduceSum', [dyNchwOf(), g.ints([0, 2, 3])], { keepdims: 0 });
        if (t.first) return grads;
        const { ph, pw } = pads2d(l.inShape, l.kernelSize, l.strides, l.padding);
        const [kh, kw] = l.kernelSize;
        if (t.xLayout === 'nchwc' && l.strides[0] === 1 && l.strides[1] === 1) {
          // stride 1: a convolution of dy with the flipped, channel-swapped kernel, on the NCHWc kernel
          const fpads = [kh - 1 - ph.before, kw - 1 - pw.before, kh - 1 - ph.after, kw - 1 - pw.after];
          dy = g.domainOp(NCHWC, 'Conv', [dy, nchwcFlippedKernel(g, t.param, l)], { kernel_shape: l.kernelSize, pads: fpads, strides: [1, 1], dilations: [1, 1] });
        } else {
          dy = convertLayout(g, convInputGradient(g, dyNchwOf(), onnxKernel(g, t.param), l), 'nchw', t.xLayout, l.inShape);
        }
        break;
      }
      case 'maxpoolNchwc':
        // each window's first maximum gets dy (the mask of maxPoolNchwc times dy upsampled to the window)
        dy = g.op('Mul', [t.first, upsampleNchwc(g, dy, t.layer.poolSize[0])]);
        break;
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
