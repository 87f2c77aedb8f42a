/**
 * Importing ONNX models (as PyTorch's torch.onnx.export writes them) as a Network.
 *
 * Accepted: a linear chain of nodes (each node's data input is the output of the node before; every
 * other input an initializer or a constant) from the one graph input that is not an initializer, of
 * shape [N, C, H, W], [N, H, W] or [N, D] (N may be symbolic), made of
 *
 *   Conv (2-D, group 1, dilation 1, any stride, pads that are TF's 'same' or 'valid' for the geometry)
 *   Gemm (transA 0; alpha, beta folded), MatMul with a constant [in, out] matrix (+ an Add of a constant bias)
 *   Relu; MaxPool, AveragePool (pads 'same' or 'valid'; count_include_pad 0 where padding is used;
 *   ceil_mode only where it changes nothing), GlobalAveragePool, GlobalMaxPool
 *   Flatten (axis 1) and Reshape to [N, -1] (its shape constant, or computed by the
 *   Shape/Gather/Unsqueeze/Concat chain of `x.view(x.size(0), -1)`)
 *   BatchNormalization directly after a Conv, Gemm or MatMul (folded into it, see foldBatchNorm)
 *   Dropout, Identity, a Pad of zeros (inference: no-ops), a constant zero Pad before a Conv (merged into its pads)
 *   a final Softmax or LogSoftmax (dropped with a note: the measures use the logits)
 *
 * Layouts. ONNX is NCHW with conv kernels [O, C, kh, kw] and PyTorch flattens in C, H, W order; a Network
 * is NHWC with kernels [kh, kw, C, O] and flattens in H, W, C order. The import transposes the kernels,
 * takes inputShape = [H, W, C] (the model's [C, H, W] permuted), and permutes the rows of the dense layer
 * after a flatten of a map from PyTorch's (c, h, w) order to (h, w, c): the imported network computes on
 * NHWC data exactly the function the ONNX model computes on the same images in NCHW.
 *
 * An [N, D] input becomes inputShape [1, 1, D] and a flatten layer, unless the model carries the metadata
 * genmeasures' export writes (`genmeasures.input_chw` = "C,H,W": the D features are a C×H×W image
 * flattened in PyTorch's order), which restores the image shape.
 *
 * Anything else is a one-line UserError naming the node and its op, e.g. a residual Add (both inputs
 * computed), a non-ReLU activation, an LSTM.
 */
import fs from 'node:fs';
import { UserError } from '../errors.js';
import { readFileOrFail } from '../util/fsx.js';
import { DataType, ModelProto } from '../engine/onnx/schema.js';
import { convPadding } from './geometry.js';
import { foldBatchNorm } from './io.js';
import { Layer, Network, Shape3, WeightLayer, isWeightLayer } from './network.js';

/** Metadata key of genmeasures' ONNX export: the [C, H, W] image an [N, D] input is the PyTorch flattening of. */
export const INPUT_CHW_KEY = 'genmeasures.input_chw';

type Dim = number | string;

/** A value of the graph during the walk. */
type Value =
  | { kind: 'float'; dims: number[]; data: Float32Array }
  /** An integer tensor; entries may be symbolic (the batch size, or an unknown size). */
  | { kind: 'ints'; dims: number[]; items: Dim[] }
  /** A value computed from the input: `id` orders them along the chain; `shape` without the batch. */
  | { kind: 'data'; id: number; shape: number[] };

interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: any[];
}

const REFUSED_ACTIVATIONS = new Set(['Sigmoid', 'Tanh', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Gelu', 'HardSigmoid', 'HardSwish', 'Softplus', 'Softsign', 'Mish', 'Clip', 'ThresholdedRelu', 'Erf']);

/** The numbers of a TensorProto (float types as Float32Array, integer types as numbers). */
function tensorValue(t: any, where: () => string): Value {
  const dims: number[] = (t.dims ?? []).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  if (t.dataLocation === 1) throw new UserError(`${where()}: tensor ${t.name ?? ''} keeps its data in an external file; save the model with its weights inside it (onnx.save(model, f, save_as_external_data=False))`);
  const raw: Uint8Array | undefined = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const dt: number = t.dataType ?? 0;
  const need = (bytes: number) => {
    if (view && view.byteLength !== bytes * count) throw new UserError(`${where()}: tensor ${t.name ?? ''} has ${view.byteLength} bytes of data for shape [${dims}]`);
  };
  if (dt === DataType.FLOAT || dt === DataType.DOUBLE) {
    const data = new Float32Array(count);
    if (view) {
      const size = dt === DataType.FLOAT ? 4 : 8;
      need(size);
      for (let i = 0; i < count; i++) data[i] = size === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
    } else {
      const src: number[] = dt === DataType.FLOAT ? (t.floatData ?? []) : (t.doubleData ?? []);
      if (src.length !== count) throw new UserError(`${where()}: tensor ${t.name ?? ''} has ${src.length} values for shape [${dims}]`);
      for (let i = 0; i < count; i++) data[i] = src[i];
    }
    return { kind: 'float', dims, data };
  }
  if (dt === DataType.INT64 || dt === DataType.INT32 || dt === DataType.INT8 || dt === DataType.UINT8 || dt === DataType.BOOL) {
    const items: number[] = new Array(count);
    if (view) {
      const size = dt === DataType.INT64 ? 8 : dt === DataType.INT32 ? 4 : 1;
      need(size);
      for (let i = 0; i < count; i++) {
        items[i] = size === 8 ? Number(view.getBigInt64(8 * i, true)) : size === 4 ? view.getInt32(4 * i, true) : dt === DataType.INT8 ? view.getInt8(i) : view.getUint8(i);
      }
    } else {
      const src: any[] = dt === DataType.INT64 ? (t.int64Data ?? []) : (t.int32Data ?? []);
      if (src.length !== count) throw new UserError(`${where()}: tensor ${t.name ?? ''} has ${src.length} values for shape [${dims}]`);
      for (let i = 0; i < count; i++) items[i] = Number(src[i]);
    }
    return { kind: 'ints', dims, items };
  }
  throw new UserError(`${where()}: tensor ${t.name ?? ''} has ONNX data type ${dt}; only float32, float64 and integer tensors are supported`);
}

/** Attributes of a node by name (value per its type; an INT attribute with no value is 0). */
function attributes(node: NodeProto): Map<string, any> {
  const m = new Map<string, any>();
  for (const a of node.attribute ?? []) {
    let v: any;
    switch (a.type) {
      case 1: v = a.f ?? 0; break;
      case 2: v = Number(a.i ?? 0); break;
      case 3: v = a.s ? new TextDecoder().decode(a.s) : ''; break;
      case 4: v = a.t; break;
      case 6: v = (a.floats ?? []).map(Number); break;
      case 7: v = (a.ints ?? []).map(Number); break;
      default:
        // type missing (old models): the field that is set
        if (a.ints && a.ints.length) v = a.ints.map(Number);
        else if (a.floats && a.floats.length) v = a.floats.map(Number);
        else if (a.t) v = a.t;
        else if (a.s && a.s.length) v = new TextDecoder().decode(a.s);
        else if (a.f !== undefined && a.f !== 0) v = a.f;
        else v = Number(a.i ?? 0);
    }
    m.set(a.name, v);
  }
  return m;
}

/** Which of TF's paddings ONNX's explicit pads (begin, end) amount to along one axis: the same windows. */
function paddingModes(inSize: number, k: number, s: number, begin: number, end: number, ceil: boolean): Set<'same' | 'valid'> {
  const span = inSize + begin + end - k;
  const modes = new Set<'same' | 'valid'>();
  if (span < 0) return modes;
  const out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  for (const mode of ['valid', 'same'] as const) {
    const tf = convPadding(inSize, k, s, mode);
    if (tf.out === out && tf.before === begin && tf.out >= 1) modes.add(mode);
  }
  return modes;
}

/** Parse an ONNX model (its bytes) into a Network; `name` (the file) prefixes every error message. */
export function networkFromOnnx(bytes: Uint8Array, name: string): Network & { notes: string[] } {
  let model: any;
  try {
    model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, arrays: true });
  } catch (e) {
    throw new UserError(`${name}: not an ONNX model (${(e as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || !(graph.node?.length > 0)) throw new UserError(`${name}: not an ONNX model (no graph with nodes)`);
  const notes: string[] = [];
  const values = new Map<string, Value>();
  const nodes: NodeProto[] = graph.node;
  const nodeLabel = (node: NodeProto, index: number) => `node ${node.name || index} (${node.opType})`;

  for (const t of graph.initializer ?? []) values.set(t.name, tensorValue(t, () => `${name}: initializer ${t.name}`));
  const inputs = (graph.input ?? []).filter((i: any) => !values.has(i.name));
  if (inputs.length !== 1) {
    throw new UserError(`${name}: the graph has ${inputs.length} inputs (${inputs.map((i: any) => i.name).join(', ') || 'none'}); a network with exactly one input is needed`);
  }
  const input = inputs[0];
  const tt = input.type?.tensorType;
  if (!tt) throw new UserError(`${name}: input ${input.name} is not a tensor`);
  if (tt.elemType !== DataType.FLOAT) throw new UserError(`${name}: input ${input.name} has ONNX element type ${tt.elemType}; a float32 input is needed`);
  const dims: Dim[] = (tt.shape?.dim ?? []).map((d: any) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || '?'));
  const rest = dims.slice(1);
  if (dims.length < 2 || dims.length > 4 || rest.some((d) => typeof d !== 'number')) {
    throw new UserError(`${name}: input ${input.name} has shape [${dims.join(', ')}]; [N, C, H, W], [N, H, W] or [N, D] with known sizes (N may be symbolic) is needed`);
  }
  const inDims = rest as number[];
  const batch = dims[0];

  // The input as a Network input shape, and what the first layers are.
  const layers: Layer[] = [];
  let inputShape: Shape3;
  /** [C, H, W] of the map the last flatten flattened in PyTorch's order (its next dense layer permutes its rows). */
  let pendingChw: [number, number, number] | null = null;
  const meta = (model.metadataProps ?? []).find((p: any) => p.key === INPUT_CHW_KEY)?.value as string | undefined;
  if (inDims.length === 3) inputShape = [inDims[1], inDims[2], inDims[0]];
  else if (inDims.length === 2) inputShape = [inDims[0], inDims[1], 1];
  else {
    const chw = meta?.split(',').map(Number);
    if (chw && chw.length === 3 && chw.every((v) => Number.isInteger(v) && v > 0) && chw[0] * chw[1] * chw[2] === inDims[0]) {
      inputShape = [chw[1], chw[2], chw[0]];
      pendingChw = [chw[0], chw[1], chw[2]];
      notes.push(`${name}: its [N, ${inDims[0]}] input is a ${chw.join('×')} (C×H×W) image flattened in PyTorch's order (the model's ${INPUT_CHW_KEY} metadata); measured on ${inputShape.join('x')} NHWC data`);
    } else inputShape = [1, 1, inDims[0]];
    layers.push({ kind: 'flatten', inShape: [...inputShape] as Shape3 });
  }
  if (inDims.length === 3) notes.push(`${name}: ONNX input [${dims.join(', ')}] (NCHW) is measured on ${inputShape.join('x')} (NHWC) data: the same images, the same function`);

  let nextId = 0;
  let cur = input.name as string;
  values.set(cur, { kind: 'data', id: nextId++, shape: [...inDims] });
  let softmaxNode: { node: NodeProto; index: number } | null = null;
  /** Zero padding [top, left, bottom, right] of a Pad node waiting for the Conv after it. */
  let pendingPad: { pads: number[]; index: number; node: NodeProto } | null = null;

  const consumers = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) if (i) consumers.set(i, (consumers.get(i) ?? 0) + 1);

  nodes.forEach((node, index) => {
    const op = node.opType ?? '';
    const label = nodeLabel(node, index);
    const refuse = (why: string): never => {
      throw new UserError(`${name}: ${label} is not supported: ${why}`);
    };
    if (node.domain && node.domain !== 'ai.onnx') refuse(`operators of the domain ${node.domain} are not supported`);
    const attrs = attributes(node);
    const ins = (node.input ?? []).map((i) => (i ? i : null));
    const outs = node.output ?? [];
    const inVals = ins.map((i) => {
      if (i === null) return null;
      const v = values.get(i);
      if (!v) refuse(`its input ${i} is neither computed before it nor an initializer (the nodes must be in order)`);
      return v!;
    });
    const dataIdx = inVals.map((v, k) => (v?.kind === 'data' ? k : -1)).filter((k) => k >= 0);

    // Shape reads a computed value without consuming it.
    if (op === 'Shape') {
      const v = inVals[0];
      if (!v) refuse('it has no input');
      const shape: Dim[] = v!.kind === 'data' ? [batch, ...v!.shape] : v!.dims;
      let start = Number(attrs.get('start') ?? 0);
      let end = attrs.has('end') ? Number(attrs.get('end')) : shape.length;
      if (start < 0) start += shape.length;
      if (end < 0) end += shape.length;
      const items = shape.slice(Math.max(0, start), Math.min(shape.length, end));
      values.set(outs[0], { kind: 'ints', dims: [items.length], items });
      return;
    }

    // Constant computations (shapes, aliases of initializers).
    if (dataIdx.length === 0) {
      const out = evalConstant(op, inVals, attrs, refuse, () => `${name}: ${label}`);
      values.set(outs[0], out);
      return;
    }

    // Data nodes: one computed input, the current end of the chain.
    if (dataIdx.length > 1) {
      if (op === 'Add' || op === 'Sum') refuse('both of its inputs are computed (a residual connection); genmeasures measures feed-forward chains of layers');
      refuse(`it combines ${dataIdx.length} computed values; genmeasures measures feed-forward chains of layers`);
    }
    const di = dataIdx[0];
    const dataName = ins[di]!;
    const dv = inVals[di] as Extract<Value, { kind: 'data' }>;
    if (dataName !== cur) {
      refuse(`it reads ${dataName}, which is not the output of the node before it in the chain (a branch or a skip connection); genmeasures measures feed-forward chains of layers`);
    }
    if (softmaxNode && !['Identity', 'Dropout'].includes(op)) {
      const s = softmaxNode;
      throw new UserError(`${name}: ${nodeLabel(s.node, s.index)} is not supported: a ${s.node.opType} is accepted only as the last node (its output, the logits' normalisation, is dropped); here ${label} follows it`);
    }
    if (pendingPad && op !== 'Conv') {
      const p = pendingPad;
      throw new UserError(`${name}: ${nodeLabel(p.node, p.index)} is not supported: zero padding is accepted only right before a Conv (here ${label} follows it)`);
    }
    const others = inVals.filter((v, k) => k !== di && v !== null);
    const shape = dv.shape;
    let outShape: number[] = shape;
    const constInput = (k: number, what: string): Extract<Value, { kind: 'float' }> => {
      const v = inVals[k];
      if (!v || v.kind !== 'float') refuse(`its ${what} (input ${k + 1}) must be a float initializer or constant`);
      return v as Extract<Value, { kind: 'float' }>;
    };
    const needMap = () => {
      if (shape.length !== 3) refuse(`it needs a [N, C, H, W] input, but gets [N, ${shape.join(', ')}]`);
      return shape as [number, number, number];
    };
    const setDense = (kernel: Float32Array, inSize: number, outSize: number, bias: Float32Array | null) => {
      if (shape.length !== 1) refuse(`it gets a [N, ${shape.join(', ')}] input; a flattened [N, D] input is needed (add a Flatten before it)`);
      if (shape[0] !== inSize) refuse(`its weights have ${inSize} inputs but it gets ${shape[0]} values`);
      let k = kernel;
      if (pendingChw) {
        const [c, h, w] = pendingChw;
        k = new Float32Array(kernel.length);
        for (let ci = 0; ci < c; ci++) {
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) {
              const src = ((ci * h + y) * w + x) * outSize;
              const dst = ((y * w + x) * c + ci) * outSize;
              k.set(kernel.subarray(src, src + outSize), dst);
            }
          }
        }
        pendingChw = null;
      }
      layers.push({ kind: 'dense', inSize, outSize, kernel: k, bias });
      outShape = [outSize];
    };
    const noMoreOutputs = () => {
      for (let k = 1; k < outs.length; k++) if (outs[k] && consumers.has(outs[k])) refuse(`its output ${k + 1} (${outs[k]}) is used`);
    };

    switch (op) {
      case 'Identity':
        break;
      case 'Dropout':
        noMoreOutputs();
        break;
      case 'Cast':
        if (Number(attrs.get('to')) !== DataType.FLOAT) refuse('only a cast to float32 is supported');
        break;
      case 'Relu':
        layers.push({ kind: 'relu' });
        break;
      case 'Softmax':
      case 'LogSoftmax':
        if (shape.length !== 1) refuse(`it normalises a [N, ${shape.join(', ')}] value; only a final ${op} over the class scores is accepted`);
        softmaxNode = { node, index };
        break;
      case 'Pad': {
        const mode = attrs.get('mode') ?? 'constant';
        if (mode !== 'constant') refuse(`only constant (zero) padding is supported, not ${mode}`);
        let pads: number[] | undefined = attrs.get('pads');
        if (ins[1]) {
          const p = inVals[1];
          if (!p || p.kind !== 'ints' || p.items.some((v) => typeof v !== 'number')) refuse('its pads must be a constant');
          pads = (p as Extract<Value, { kind: 'ints' }>).items as number[];
        }
        if (ins[2]) {
          const cv = inVals[2];
          const vals = cv?.kind === 'float' ? Array.from(cv.data) : cv?.kind === 'ints' ? cv.items : [NaN];
          if (vals.some((v) => v !== 0)) refuse('only padding with zeros is supported');
        }
        if (ins[3]) refuse('padding of selected axes is not supported');
        const r = shape.length + 1;
        if (!pads || pads.length !== 2 * r) refuse('its pads do not match its input');
        const pv = pads as number[];
        if (pv.every((v) => v === 0)) break; // no padding at all
        if (r !== 4 || pv[0] || pv[1] || pv[4] || pv[5] || pv.some((v) => v < 0)) refuse(`pads [${pv}] pad more than the height and width of a map`);
        pendingPad = { pads: [pv[2], pv[3], pv[6], pv[7]], index, node };
        break;
      }
      case 'Conv': {
        const [c, h, w] = needMap();
        const W = constInput(1, 'kernel');
        if (W.dims.length !== 4) refuse(`its kernel has shape [${W.dims}]; only 2-D convolutions are supported`);
        const [o, ci, kh, kw] = W.dims;
        const group = Number(attrs.get('group') ?? 1);
        if (group !== 1) refuse(`group ${group}: only ordinary convolutions (group 1) are supported`);
        if (ci !== c) refuse(`its kernel expects ${ci} input channels but gets ${c}`);
        const dil: number[] = attrs.get('dilations') ?? [1, 1];
        if (dil.some((d) => d !== 1)) refuse(`dilations [${dil}]: dilated convolutions are not supported`);
        const ks: number[] = attrs.get('kernel_shape') ?? [kh, kw];
        if (ks[0] !== kh || ks[1] !== kw) refuse(`kernel_shape [${ks}] disagrees with its kernel [${W.dims}]`);
        const st: number[] = attrs.get('strides') ?? [1, 1];
        let pads: number[] = attrs.get('pads') ?? [0, 0, 0, 0];
        if (pendingPad) {
          pads = pads.map((v, i) => v + pendingPad!.pads[i]);
          notes.push(`${name}: the zero padding of ${nodeLabel(pendingPad.node, pendingPad.index)} is merged into ${label}`);
          pendingPad = null;
        }
        const padding = resolvePadding(attrs.get('auto_pad'), [h, w], [kh, kw], st, pads, false, refuse);
        const kernel = new Float32Array(kh * kw * c * o);
        const src = W.data;
        for (let oo = 0; oo < o; oo++)
          for (let cc = 0; cc < c; cc++)
            for (let y = 0; y < kh; y++)
              for (let x = 0; x < kw; x++) kernel[((y * kw + x) * c + cc) * o + oo] = src[((oo * c + cc) * kh + y) * kw + x];
        let bias: Float32Array | null = null;
        if (ins[2]) {
          const B = constInput(2, 'bias');
          if (B.data.length !== o) refuse(`its bias has ${B.data.length} values for ${o} filters`);
          bias = B.data.slice();
        }
        const ph = convPadding(h, kh, st[0], padding);
        const pw = convPadding(w, kw, st[1], padding);
        layers.push({ kind: 'conv2d', inShape: [h, w, c], outShape: [ph.out, pw.out, o], kernelSize: [kh, kw], strides: [st[0], st[1]], padding, kernel, bias });
        outShape = [o, ph.out, pw.out];
        break;
      }
      case 'Gemm': {
        if (di !== 0) refuse('its computed input must be A (the first)');
        if (Number(attrs.get('transA') ?? 0) !== 0) refuse('transA 1 is not supported');
        const alpha = Number(attrs.get('alpha') ?? 1);
        const beta = Number(attrs.get('beta') ?? 1);
        const transB = Number(attrs.get('transB') ?? 0) === 1;
        const B = constInput(1, 'weight matrix B');
        if (B.dims.length !== 2) refuse(`B has shape [${B.dims}]`);
        const [inSize, outSize] = transB ? [B.dims[1], B.dims[0]] : [B.dims[0], B.dims[1]];
        const kernel = new Float32Array(inSize * outSize);
        for (let i = 0; i < inSize; i++) for (let oo = 0; oo < outSize; oo++) kernel[i * outSize + oo] = alpha * (transB ? B.data[oo * inSize + i] : B.data[i * outSize + oo]);
        let bias: Float32Array | null = null;
        if (ins[2]) {
          const C = constInput(2, 'bias C');
          const n = C.data.length;
          const okShape = n === outSize || n === 1 ? C.dims.every((d, k) => d === 1 || k === C.dims.length - 1) : false;
          if (!okShape) refuse(`its C of shape [${C.dims}] is not a bias over its ${outSize} outputs`);
          bias = new Float32Array(outSize);
          for (let oo = 0; oo < outSize; oo++) bias[oo] = beta * C.data[n === 1 ? 0 : oo];
        }
        setDense(kernel, inSize, outSize, bias);
        break;
      }
      case 'MatMul': {
        if (di !== 0) refuse('its computed input must be the first');
        const B = constInput(1, 'weight matrix');
        if (B.dims.length !== 2) refuse(`its weight matrix has shape [${B.dims}]`);
        setDense(B.data.slice(), B.dims[0], B.dims[1], null);
        break;
      }
      case 'Add': {
        const prev = layers[layers.length - 1];
        const C = others[0];
        if (!C || C.kind !== 'float') refuse('it adds a value that is not a float constant');
        const Cv = C as Extract<Value, { kind: 'float' }>;
        if (!prev || !isWeightLayer(prev)) {
          refuse('an Add of a constant is accepted only as the bias of the Gemm, MatMul or Conv right before it');
        }
        const l = prev as WeightLayer;
        const units = l.kind === 'dense' ? l.outSize : l.outShape[2];
        const n = Cv.data.length;
        const d = Cv.dims;
        const okShape =
          l.kind === 'dense'
            ? (n === units || n === 1) && d.every((x, k) => x === 1 || k === d.length - 1)
            : n === 1 || (n === units && d.length >= 3 && d[d.length - 3] === units && d.every((x, k) => x === 1 || k === d.length - 3));
        if (!okShape) refuse(`its constant of shape [${d}] is not a bias over the ${units} ${l.kind === 'dense' ? 'outputs' : 'channels'} of the layer before it`);
        const bias = new Float32Array(units);
        for (let u = 0; u < units; u++) bias[u] = (l.bias ? l.bias[u] : 0) + Cv.data[n === 1 ? 0 : u];
        l.bias = bias;
        break;
      }
      case 'BatchNormalization': {
        const prev = layers[layers.length - 1];
        if (!prev || !isWeightLayer(prev)) {
          refuse('a BatchNormalization is folded into the Conv, Gemm or MatMul right before it, and there is none');
        }
        if (Number(attrs.get('training_mode') ?? 0) !== 0) refuse('training_mode 1: export the model in eval mode');
        noMoreOutputs();
        const l = prev as WeightLayer;
        const units = l.kind === 'dense' ? l.outSize : l.outShape[2];
        const arrs = [1, 2, 3, 4].map((k) => constInput(k, ['scale', 'bias', 'mean', 'variance'][k - 1]).data);
        if (arrs.some((a) => a.length !== units)) refuse(`its parameters do not have ${units} values (one per ${l.kind === 'dense' ? 'output' : 'channel'})`);
        const eps = Number(attrs.get('epsilon') ?? 1e-5);
        foldBatchNorm(l, arrs[0], arrs[1], arrs[2], arrs[3], eps);
        notes.push(`${name}: BatchNormalization ${nodeLabel(node, index).replace(/^node /, '')} folded into the layer before it`);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const [c, h, w] = needMap();
        noMoreOutputs();
        const ks: number[] | undefined = attrs.get('kernel_shape');
        if (!ks || ks.length !== 2) refuse('only 2-D pooling is supported');
        const st: number[] = attrs.get('strides') ?? [1, 1];
        const dil: number[] = attrs.get('dilations') ?? [1, 1];
        if (dil.some((d) => d !== 1)) refuse(`dilations [${dil}] are not supported`);
        const pads: number[] = attrs.get('pads') ?? [0, 0, 0, 0];
        const ceil = Number(attrs.get('ceil_mode') ?? 0) === 1;
        const padding = resolvePadding(attrs.get('auto_pad'), [h, w], ks!, st, pads, ceil, refuse);
        const ph = convPadding(h, ks![0], st[0], padding);
        const pw = convPadding(w, ks![1], st[1], padding);
        const padded = ph.before + ph.after + pw.before + pw.after > 0;
        if (op === 'AveragePool' && padded && Number(attrs.get('count_include_pad') ?? 0) !== 0) {
          refuse('count_include_pad 1 with padding: the padded zeros would count in the average (use count_include_pad=False)');
        }
        layers.push({ kind: op === 'MaxPool' ? 'maxpool' : 'avgpool', inShape: [h, w, c], outShape: [ph.out, pw.out, c], poolSize: [ks![0], ks![1]], strides: [st[0], st[1]], padding });
        outShape = [c, ph.out, pw.out];
        break;
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        const [c, h, w] = needMap();
        layers.push({ kind: op === 'GlobalMaxPool' ? 'maxpool' : 'avgpool', inShape: [h, w, c], outShape: [1, 1, c], poolSize: [h, w], strides: [h, w], padding: 'valid' });
        outShape = [c, 1, 1];
        break;
      }
      case 'Flatten': {
        let axis = Number(attrs.get('axis') ?? 1);
        if (axis < 0) axis += shape.length + 1;
        if (axis !== 1) refuse(`axis ${attrs.get('axis')}: only a flatten after the batch dimension (axis 1) is supported`);
        outShape = flatten(shape);
        break;
      }
      case 'Reshape': {
        if (di !== 0) refuse('its computed input must be the data');
        const t = inVals[1];
        if (!t || t.kind !== 'ints') refuse('its target shape must be a constant or computed from the input\'s shape');
        const target = (t as Extract<Value, { kind: 'ints' }>).items;
        const size = shape.reduce((a, b) => a * b, 1);
        const first = target[0];
        const second = target[1];
        const firstOk = first === batch || first === 0 || first === -1 || (typeof first === 'number' && first > 0);
        const isFlat =
          target.length === 2 && firstOk && (second === size || (second === -1 && first !== -1)) && !(first === -1 && second === -1);
        if (!isFlat) refuse(`it reshapes [N, ${shape.join(', ')}] to [${target.join(', ')}]; only a flatten to [N, -1] is supported`);
        if (typeof first === 'number' && first > 0 && first !== batch) notes.push(`${name}: ${label} reshapes to a fixed batch size ${first}; it is read as a flatten to [N, -1]`);
        outShape = flatten(shape);
        break;
      }
      case 'LSTM':
      case 'GRU':
      case 'RNN':
        refuse('recurrent layers are not supported; genmeasures measures feed-forward ReLU networks');
        break;
      default:
        if (REFUSED_ACTIVATIONS.has(op)) refuse(`genmeasures measures ReLU networks (Relu is the only activation it accepts; a final Softmax or LogSoftmax is dropped)`);
        refuse('genmeasures imports Conv, Gemm, MatMul(+Add), Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, BatchNormalization, Dropout and Identity nodes');
    }

    function flatten(s: number[]): number[] {
      const size = s.reduce((a, b) => a * b, 1);
      if (s.length === 1) return s; // already flat
      if (s.length === 3) {
        const [c, h, w] = s;
        layers.push({ kind: 'flatten', inShape: [h, w, c] });
        pendingChw = [c, h, w];
      } else layers.push({ kind: 'flatten', inShape: [s[0], s[1], 1] });
      return [size];
    }

    const next = outs[0];
    if (!next) refuse('it has no output');
    values.set(next, { kind: 'data', id: nextId++, shape: outShape });
    cur = next;
  });

  const outputs = graph.output ?? [];
  if (outputs.length !== 1) throw new UserError(`${name}: the graph has ${outputs.length} outputs; a network with one output (the class scores) is needed`);
  if (outputs[0].name !== cur) {
    const v = values.get(outputs[0].name);
    throw new UserError(`${name}: the graph's output ${outputs[0].name} is ${v?.kind === 'data' ? 'not the end of the chain of layers' : 'not computed from the input'}`);
  }
  const softmax = softmaxNode as { node: NodeProto; index: number } | null;
  if (softmax) notes.push(`${name}: the final ${nodeLabel(softmax.node, softmax.index).replace(/^node /, '')} is dropped: measures use the logits`);
  if (pendingPad) {
    const p = pendingPad as { node: NodeProto; index: number };
    throw new UserError(`${name}: ${nodeLabel(p.node, p.index)} is not supported: zero padding is accepted only right before a Conv`);
  }
  const final = (values.get(cur) as Extract<Value, { kind: 'data' }>).shape;
  if (final.length !== 1) throw new UserError(`${name}: the output has shape [N, ${final.join(', ')}], not [N, classes]`);
  const pc = pendingChw as [number, number, number] | null;
  if (pc && pc[0] > 1 && pc[1] * pc[2] > 1) {
    throw new UserError(
      `${name}: the output is a ${pc.join('×')} map flattened in PyTorch's (channel, height, width) order, which a genmeasures network cannot reproduce (it flattens in height, width, channel order); end the model with a Linear layer or a 1×1 map`,
    );
  }
  const weights = layers.filter(isWeightLayer);
  if (weights.length === 0) throw new UserError(`${name}: the model has no Conv, Gemm or MatMul layer`);
  weights.forEach((l, i) => {
    for (const [what, arr] of [['kernel', l.kernel], ['bias', l.bias]] as const) {
      if (arr && arr.some((v) => !Number.isFinite(v))) throw new UserError(`${name}: weight layer ${i + 1} (${l.kind}) has NaN or infinite ${what} values; the weights are not usable`);
    }
  });
  if (layers[0]?.kind === 'dense') layers.unshift({ kind: 'flatten', inShape: [...inputShape] as Shape3 });
  return { inputShape, numClasses: final[0], layers, notes };
}

/** 'same' or 'valid' for ONNX's auto_pad / pads on a [h, w] map, or a refusal naming the pads. */
function resolvePadding(
  autoPad: string | undefined,
  size: [number, number],
  k: number[],
  st: number[],
  pads: number[],
  ceil: boolean,
  refuse: (why: string) => never,
): 'same' | 'valid' {
  const ap = autoPad ?? 'NOTSET';
  if (ap === 'VALID') return 'valid';
  if (ap === 'SAME_UPPER') return 'same';
  let p = pads;
  if (ap === 'SAME_LOWER') {
    // TF's 'same' with the odd padding cell before instead of after
    const tot = [0, 1].map((a) => Math.max((Math.ceil(size[a] / st[a]) - 1) * st[a] + k[a] - size[a], 0));
    p = [tot[0] - Math.floor(tot[0] / 2), tot[1] - Math.floor(tot[1] / 2), Math.floor(tot[0] / 2), Math.floor(tot[1] / 2)];
  } else if (ap !== 'NOTSET' && ap !== '') refuse(`auto_pad ${ap} is not supported`);
  if (p.length !== 4 || k.length !== 2 || st.length !== 2) refuse('only 2-D windows are supported');
  const a = paddingModes(size[0], k[0], st[0], p[0], p[2], ceil);
  const b = paddingModes(size[1], k[1], st[1], p[1], p[3], ceil);
  if (a.has('valid') && b.has('valid')) return 'valid';
  if (a.has('same') && b.has('same')) return 'same';
  refuse(`pads [${p.join(', ')}] are neither 'same' nor 'valid' for a ${k.join('×')} window with strides [${st.join(', ')}] on a ${size.join('×')} map (genmeasures networks use TensorFlow's 'same' or 'valid' padding)`);
  return 'valid';
}

/** The constant-folding of the small integer computations an exporter writes (target shapes) and of aliases. */
function evalConstant(op: string, ins: (Value | null)[], attrs: Map<string, any>, refuse: (why: string) => never, where: () => string): Value {
  const ints = (v: Value | null | undefined, what: string): Extract<Value, { kind: 'ints' }> => {
    if (!v) refuse(`its ${what} is missing`);
    if (v!.kind === 'ints') return v as Extract<Value, { kind: 'ints' }>;
    if (v!.kind === 'float') return { kind: 'ints', dims: v!.dims, items: Array.from(v!.data) };
    return refuse(`its ${what} is computed from the data`);
  };
  const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
  switch (op) {
    case 'Constant': {
      if (attrs.has('value')) return tensorValue(attrs.get('value'), where);
      if (attrs.has('value_float')) return { kind: 'float', dims: [], data: Float32Array.of(attrs.get('value_float')) };
      if (attrs.has('value_floats')) return { kind: 'float', dims: [attrs.get('value_floats').length], data: Float32Array.from(attrs.get('value_floats')) };
      if (attrs.has('value_int')) return { kind: 'ints', dims: [], items: [attrs.get('value_int')] };
      if (attrs.has('value_ints')) return { kind: 'ints', dims: [attrs.get('value_ints').length], items: attrs.get('value_ints') };
      return refuse('only tensor, float and integer constants are supported');
    }
    case 'Identity':
      if (!ins[0]) refuse('it has no input');
      return ins[0]!;
    case 'Cast': {
      const v = ins[0];
      if (!v) refuse('it has no input');
      const to = Number(attrs.get('to'));
      if (to === DataType.FLOAT || to === DataType.DOUBLE) {
        if (v!.kind === 'float') return v!;
        const iv = v as Extract<Value, { kind: 'ints' }>;
        if (iv.items.some((x) => typeof x !== 'number')) refuse('it casts a symbolic size to float');
        return { kind: 'float', dims: iv.dims, data: Float32Array.from(iv.items as number[]) };
      }
      const iv = ints(v, 'input');
      return { kind: 'ints', dims: iv.dims, items: iv.items.map((x) => (typeof x === 'number' ? Math.trunc(x) : x)) };
    }
    case 'Gather': {
      const data = ints(ins[0], 'data');
      const idx = ints(ins[1], 'indices');
      if (data.dims.length !== 1) refuse('only gathering from a 1-D shape vector is supported');
      if (norm(Number(attrs.get('axis') ?? 0), 1) !== 0) refuse('only axis 0 is supported');
      const items = idx.items.map((i) => {
        if (typeof i !== 'number') refuse('symbolic indices');
        const j = norm(i as number, data.items.length);
        if (j < 0 || j >= data.items.length) refuse(`index ${i} is out of range`);
        return data.items[j];
      });
      return { kind: 'ints', dims: idx.dims, items };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const v = ints(ins[0], 'input');
      const axes: number[] = ins[1] ? (ints(ins[1], 'axes').items as number[]) : (attrs.get('axes') ?? []);
      if (op === 'Unsqueeze') {
        const rank = v.dims.length + axes.length;
        const dims = [...v.dims];
        for (const a of axes.map((x) => norm(x, rank)).sort((p, q) => p - q)) dims.splice(a, 0, 1);
        return { kind: 'ints', dims, items: v.items };
      }
      const rank = v.dims.length;
      const drop = axes.length ? axes.map((x) => norm(x, rank)) : v.dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
      return { kind: 'ints', dims: v.dims.filter((_, i) => !drop.includes(i)), items: v.items };
    }
    case 'Concat': {
      const parts = ins.filter((v): v is Value => v !== null).map((v) => ints(v, 'inputs'));
      if (parts.some((p) => p.dims.length > 1)) refuse('only concatenating 1-D shape vectors is supported');
      const items = parts.flatMap((p) => p.items);
      return { kind: 'ints', dims: [items.length], items };
    }
    case 'Slice': {
      const v = ints(ins[0], 'data');
      if (v.dims.length !== 1) refuse('only slicing a 1-D shape vector is supported');
      const num = (x: Value | null | undefined, fallback: number[]) => (x ? (ints(x, 'slice bounds').items as number[]) : fallback);
      const starts = ins[1] ? num(ins[1], []) : attrs.get('starts') ?? [];
      const ends = ins[2] ? num(ins[2], []) : attrs.get('ends') ?? [];
      const steps = num(ins[4], [1]);
      if (starts.length !== 1 || ends.length !== 1 || steps[0] !== 1) refuse('only a simple slice of a shape vector is supported');
      const n = v.items.length;
      const clamp = (x: number) => Math.max(0, Math.min(n, x < 0 ? x + n : x));
      const items = v.items.slice(clamp(starts[0]), clamp(ends[0]));
      return { kind: 'ints', dims: [items.length], items };
    }
    case 'Mul':
    case 'Add':
    case 'Sub':
    case 'Div': {
      const a = ins[0];
      const b = ins[1];
      if (a?.kind === 'float' || b?.kind === 'float') refuse('arithmetic on float constants is not supported (fold the constants at export: do_constant_folding=True)');
      const x = ints(a, 'first input');
      const y = ints(b, 'second input');
      if (x.items.length !== y.items.length && x.items.length !== 1 && y.items.length !== 1) refuse('shapes do not broadcast');
      const n = Math.max(x.items.length, y.items.length);
      const items: Dim[] = [];
      for (let i = 0; i < n; i++) {
        const p = x.items[x.items.length === 1 ? 0 : i];
        const q = y.items[y.items.length === 1 ? 0 : i];
        if (typeof p !== 'number' || typeof q !== 'number') items.push('?');
        else items.push(op === 'Mul' ? p * q : op === 'Add' ? p + q : op === 'Sub' ? p - q : Math.trunc(p / q));
      }
      return { kind: 'ints', dims: x.items.length >= y.items.length ? x.dims : y.dims, items };
    }
    default:
      if (op === 'LSTM' || op === 'GRU' || op === 'RNN') refuse('recurrent layers are not supported; genmeasures measures feed-forward ReLU networks');
      return refuse('genmeasures imports Conv, Gemm, MatMul(+Add), Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, BatchNormalization, Dropout and Identity nodes (and the constant shape computations of a flatten)');
  }
}

/** Read an ONNX file (`--model net.onnx`) as a Network. */
export function loadOnnxNetwork(file: string): Network & { notes: string[] } {
  if (!fs.existsSync(file)) throw new UserError(`--model: ${file} does not exist`);
  const bytes = readFileOrFail(file, '--model');
  return networkFromOnnx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

