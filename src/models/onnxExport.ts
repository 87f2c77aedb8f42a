/**
 * Exporting a Network as an ONNX model (opset 17) that ONNX Runtime and PyTorch tools load and that
 * computes the same logits, laid out the way a PyTorch user expects:
 *
 *   input   `input`, float32 [N, C, H, W] (NCHW) for a network with convolutions or pooling; [N, D] for an
 *           MLP (D = H·W·C; when the network's input is an image, the D features are the C×H×W image
 *           flattened in PyTorch's order, x.view(N, -1) of the NCHW batch, and the model's metadata
 *           `genmeasures.input_chw` = "C,H,W" says so, so that importing it restores the image shape)
 *   layers  Conv (kernels [O, C, kh, kw], TF's 'same'/'valid' padding as explicit pads), Relu, MaxPool,
 *           AveragePool (count_include_pad 0), Flatten (axis 1: PyTorch's C, H, W order) and Gemm
 *           (B = [out, in], transB 1, as nn.Linear exports), the weights as initializers
 *   output  `logits`, float32 [N, classes]
 *
 * A Network flattens in H, W, C order and PyTorch in C, H, W order: the rows of the dense layer after a
 * flatten are permuted accordingly, so the function is the same. (A network that ends with a flatten and
 * no dense layer after it transposes to NHWC before flattening, to keep the order of its outputs.)
 */
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../util/fsx.js';
import { Graph, OPSET } from '../engine/onnx/graph.js';
import { ModelProto } from '../engine/onnx/schema.js';
import { convPadding } from './geometry.js';
import { Network } from './network.js';
import { INPUT_CHW_KEY } from './onnxImport.js';

const IR_VERSION = 8;

/** The encoded ONNX model of a network (see the module comment). */
export function networkToOnnx(net: Network): Uint8Array {
  const [H, W, C] = net.inputShape;
  const g = new Graph('genmeasures');
  const firstOp = net.layers.find((l) => l.kind !== 'flatten' && l.kind !== 'relu');
  const isMlp = !firstOp || firstOp.kind === 'dense';
  const metadata: { key: string; value: string }[] = [];
  /** The current value, and its [C, H, W] when it is a map (null when flat). */
  let x: string;
  let map: [number, number, number] | null;
  /** [C, H, W] of the map flattened last in PyTorch's order, for the next dense layer. */
  let pendingChw: [number, number, number] | null = null;
  if (isMlp) {
    x = g.input('input', 'float', ['N', H * W * C]);
    map = null;
    if (H * W > 1) {
      pendingChw = [C, H, W];
      metadata.push({ key: INPUT_CHW_KEY, value: `${C},${H},${W}` });
    }
  } else {
    x = g.input('input', 'float', ['N', C, H, W]);
    map = [C, H, W];
  }
  const flattenMap = (keepNhwc: boolean) => {
    if (!map) return;
    if (keepNhwc && map[0] > 1 && map[1] * map[2] > 1) x = g.op('Flatten', [g.op('Transpose', [x], { perm: [0, 2, 3, 1] })], { axis: 1 });
    else {
      x = g.op('Flatten', [x], { axis: 1 });
      pendingChw = map;
    }
    map = null;
  };
  net.layers.forEach((l, i) => {
    switch (l.kind) {
      case 'flatten': {
        const denseAfter = net.layers.slice(i + 1).some((m) => m.kind === 'dense');
        flattenMap(!denseAfter);
        break;
      }
      case 'relu':
        x = g.op('Relu', [x]);
        break;
      case 'conv2d': {
        if (!map) throw new UserError(`layer ${i + 1} (conv2d) comes after the network was flattened`);
        const [kh, kw] = l.kernelSize;
        const cin = l.inShape[2];
        const cout = l.outShape[2];
        const k = new Float32Array(cout * cin * kh * kw);
        for (let y = 0; y < kh; y++)
          for (let xx = 0; xx < kw; xx++)
            for (let c = 0; c < cin; c++)
              for (let o = 0; o < cout; o++) k[((o * cin + c) * kh + y) * kw + xx] = l.kernel[((y * kw + xx) * cin + c) * cout + o];
        const ph = convPadding(l.inShape[0], kh, l.strides[0], l.padding);
        const pw = convPadding(l.inShape[1], kw, l.strides[1], l.padding);
        const inputs = [x, g.constant(k, [cout, cin, kh, kw])];
        if (l.bias) inputs.push(g.constant(l.bias, [cout]));
        x = g.op('Conv', inputs, {
          kernel_shape: [kh, kw],
          strides: [...l.strides],
          pads: [ph.before, pw.before, ph.after, pw.after],
          dilations: [1, 1],
          group: 1,
        });
        map = [cout, l.outShape[0], l.outShape[1]];
        break;
      }
      case 'maxpool':
      case 'avgpool': {
        if (!map) throw new UserError(`layer ${i + 1} (${l.kind}) comes after the network was flattened`);
        const ph = convPadding(l.inShape[0], l.poolSize[0], l.strides[0], l.padding);
        const pw = convPadding(l.inShape[1], l.poolSize[1], l.strides[1], l.padding);
        const attrs: Record<string, number[] | number> = {
          kernel_shape: [...l.poolSize],
          strides: [...l.strides],
          pads: [ph.before, pw.before, ph.after, pw.after],
        };
        if (l.kind === 'avgpool') attrs.count_include_pad = 0;
        x = g.op(l.kind === 'maxpool' ? 'MaxPool' : 'AveragePool', [x], attrs);
        map = [l.outShape[2], l.outShape[0], l.outShape[1]];
        break;
      }
      case 'dense': {
        flattenMap(false);
        const { inSize, outSize } = l;
        // Gemm's B = Kᵀ [out, in], its columns in the order the flattened value has
        const b = new Float32Array(outSize * inSize);
        const chw = pendingChw as [number, number, number] | null;
        if (chw && chw[0] * chw[1] * chw[2] !== inSize) throw new Error(`networkToOnnx: layer ${i + 1} has ${inSize} inputs after a ${chw.join('×')} map`);
        for (let r = 0; r < inSize; r++) {
          let col = r;
          if (chw) {
            // our row r = (h·W + w)·C + c  →  PyTorch's column (c·H + h)·W + w
            const [cc, hh, ww] = chw;
            const c = r % cc;
            const hw = (r - c) / cc;
            col = c * hh * ww + hw;
          }
          for (let o = 0; o < outSize; o++) b[o * inSize + col] = l.kernel[r * outSize + o];
        }
        pendingChw = null;
        const inputs = [x, g.constant(b, [outSize, inSize])];
        if (l.bias) inputs.push(g.constant(l.bias, [outSize]));
        x = g.op('Gemm', inputs, { transB: 1 });
        break;
      }
    }
  });
  flattenMap(true);
  g.output(x, 'float', ['N', net.numClasses], 'logits');
  const msg = ModelProto.fromObject({
    irVersion: IR_VERSION,
    producerName: 'genmeasures',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: g.proto(),
    metadataProps: metadata,
  });
  return ModelProto.encode(msg).finish();
}

/** Write the network as an ONNX model to `file`, atomically (a temporary file renamed into place). */
export function saveOnnxNetwork(net: Network, file: string, option?: string): void {
  writeFileAtomic(file, networkToOnnx(net), option);
}
