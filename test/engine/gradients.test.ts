/**
 * The engine's generated gradients (ONNX graphs, float32) against an independent float64 backprop
 * (backprop64.ts), which is itself checked against central finite differences. Every layer kind:
 * dense with and without bias, conv 'same'/'valid' with strides and 1×1 kernels, ReLU, max-pooling
 * (non-overlapping, overlapping, odd sizes, ties), average pooling ('same' with uncounted padding), flatten;
 * with channels in whole blocks also on ONNX Runtime's NCHWc kernels (where this CPU has them).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { lossGrad, logits } from '../../src/engine/programs.js';
import { getEmitOptions, setEmitOptions } from '../../src/engine/layers.js';
import { convPadding } from '../../src/models/geometry.js';
import type { Layer, Network, Shape3 } from '../../src/models/network.js';
import { parameterArrays } from '../../src/models/network.js';
import { assertClose, randomArray } from '../helpers.js';
import { lossGrad64, loss64, logits64 } from './backprop64.js';

/** A network from a compact list: ['conv', cout, [kh,kw], [sh,sw], pad, bias] | ['relu'] | ['max'|'avg', [kh,kw], [sh,sw], pad] | ['flatten'] | ['dense', out, bias]. */
type Spec = (string | number | boolean | number[])[];
function build(inputShape: Shape3, specs: Spec[], numClasses: number, seed = 1): Network {
  let shape: Shape3 = inputShape;
  let flat = shape[0] * shape[1] * shape[2];
  const layers: Layer[] = [];
  let s = seed;
  for (const sp of specs) {
    const kind = sp[0];
    if (kind === 'conv') {
      const [, cout, k, st, pad, bias] = sp as [string, number, [number, number], [number, number], 'same' | 'valid', boolean];
      const ph = convPadding(shape[0], k[0], st[0], pad);
      const pw = convPadding(shape[1], k[1], st[1], pad);
      const outShape: Shape3 = [ph.out, pw.out, cout];
      const fan = k[0] * k[1] * shape[2];
      layers.push({ kind: 'conv2d', inShape: shape, outShape, kernelSize: k, strides: st, padding: pad, kernel: randomArray(fan * cout, s++, 1 / Math.sqrt(fan) * 1.5), bias: bias ? randomArray(cout, s++, 0.2) : null });
      shape = outShape;
      flat = shape[0] * shape[1] * shape[2];
    } else if (kind === 'relu') layers.push({ kind: 'relu' });
    else if (kind === 'max' || kind === 'avg') {
      const [, k, st, pad] = sp as [string, [number, number], [number, number], 'same' | 'valid'];
      const outShape: Shape3 = [convPadding(shape[0], k[0], st[0], pad).out, convPadding(shape[1], k[1], st[1], pad).out, shape[2]];
      layers.push({ kind: kind === 'max' ? 'maxpool' : 'avgpool', inShape: shape, outShape, poolSize: k, strides: st, padding: pad });
      shape = outShape;
      flat = shape[0] * shape[1] * shape[2];
    } else if (kind === 'flatten') layers.push({ kind: 'flatten', inShape: shape });
    else if (kind === 'dense') {
      const [, out, bias] = sp as [string, number, boolean];
      layers.push({ kind: 'dense', inSize: flat, outSize: out, kernel: randomArray(flat * out, s++, 1.5 / Math.sqrt(flat)), bias: bias ? randomArray(out, s++, 0.2) : null });
      flat = out;
      shape = [1, 1, out];
    }
  }
  return { inputShape, numClasses, layers };
}

const to64 = (ps: Float32Array[]) => ps.map((p) => Float64Array.from(p));

async function checkNet(name: string, net: Network, n = 3) {
  const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  const x = randomArray(n * size, 99, 1);
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % net.numClasses);
  const params = parameterArrays(net);
  const ref = lossGrad64(net, to64(params), x, y, n);
  const got = await lossGrad(net, params, x, y, n, true);
  assert.ok(Math.abs(got.lossSum - ref.loss) <= 1e-5 * Math.max(1, Math.abs(ref.loss)), `${name}: loss ${got.lossSum} vs ${ref.loss}`);
  ref.grads.forEach((g, i) => assertClose(got.grads![i], g, 1e-4, `${name}: gradient of parameter ${i}`));
  // logits too
  const z = await logits(net, params, x, 0, n);
  const z64 = Array.from({ length: n }, (_, e) => Array.from(logits64(net, to64(params), x.subarray(e * size, (e + 1) * size)))).flat();
  assertClose(z, z64, 1e-5, `${name}: logits`);
  return { x, y, ref };
}

/** The float64 reference against central finite differences on a few coordinates of every parameter. */
function checkReference(name: string, net: Network, x: Float32Array, y: Int32Array, n: number, grads: Float64Array[]) {
  const params = to64(parameterArrays(net));
  const h = 1e-6;
  params.forEach((p, i) => {
    const picks = [0, p.length - 1, Math.floor(p.length / 2), Math.floor(p.length / 3)];
    for (const j of picks) {
      const keep = p[j];
      p[j] = keep + h;
      const up = loss64(net, params, x, y, n);
      p[j] = keep - h;
      const down = loss64(net, params, x, y, n);
      p[j] = keep;
      const fd = (up - down) / (2 * h);
      const scale = Math.max(1e-3, ...Array.from(grads[i], Math.abs));
      assert.ok(Math.abs(fd - grads[i][j]) <= 1e-6 * scale + 1e-8, `${name}: reference gradient ${i}[${j}] ${grads[i][j]} vs finite difference ${fd}`);
    }
  });
}

const cases: [string, Shape3, Spec[], number][] = [
  ['MLP without bias', [3, 2, 2], [['flatten'], ['dense', 7, false], ['relu'], ['dense', 5, false], ['relu'], ['dense', 3, false]], 3],
  ['MLP with bias', [2, 2, 3], [['flatten'], ['dense', 6, true], ['relu'], ['dense', 4, true]], 4],
  ['conv same 3x3 + max 2x2 + dense', [6, 6, 2], [['conv', 3, [3, 3], [1, 1], 'same', true], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 4, true]], 4],
  ['conv valid strides 2x1 kernel 2x3 + avg same 3x3/2', [7, 6, 2], [['conv', 3, [2, 3], [2, 1], 'valid', false], ['relu'], ['avg', [3, 3], [2, 2], 'same'], ['flatten'], ['dense', 3, false]], 3],
  ['conv 1x1 + conv same stride 2 + overlapping max 3x3/1 same', [5, 5, 2], [['conv', 3, [1, 1], [1, 1], 'same', false], ['relu'], ['conv', 2, [3, 3], [2, 2], 'same', true], ['relu'], ['max', [3, 3], [1, 1], 'same'], ['flatten'], ['dense', 3, true]], 3],
  ['odd map: conv valid + max 2x2/2 valid dropping a row and column', [6, 6, 1], [['conv', 2, [2, 2], [1, 1], 'valid', false], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 3, false]], 3],
  ['paper-style head: conv + A2 + hidden dense + ReLU + dense', [4, 4, 2], [['conv', 3, [3, 3], [1, 1], 'same', false], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['avg', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 5, false], ['relu'], ['dense', 3, false]], 3],
  ['wide stride-1 convs (input gradient as a flipped-kernel conv), same and valid', [5, 5, 2], [['conv', 32, [3, 3], [1, 1], 'same', false], ['relu'], ['conv', 32, [3, 3], [1, 1], 'same', true], ['relu'], ['conv', 32, [2, 3], [1, 1], 'valid', false], ['relu'], ['flatten'], ['dense', 3, false]], 3],
  ['conv straight after the input with a strided same conv', [5, 4, 3], [['conv', 2, [3, 3], [2, 2], 'same', true], ['relu'], ['flatten'], ['dense', 3, false]], 3],
  // channels in whole blocks of 16 (and 8): the NCHWc kernels where this CPU has them
  ['NCHWc: conv 3→16 + max 2x2 + conv 16→32 + max 2x2 + dense', [8, 8, 3], [['conv', 16, [3, 3], [1, 1], 'same', false], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['conv', 32, [3, 3], [1, 1], 'same', true], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 3, false]], 3],
  ['NCHWc: strided conv, overlapping max and avg pooling after NCHWc convs', [6, 6, 3], [['conv', 16, [3, 3], [1, 1], 'same', true], ['relu'], ['conv', 16, [3, 3], [2, 2], 'same', true], ['relu'], ['max', [3, 3], [1, 1], 'same'], ['avg', [2, 2], [1, 1], 'valid'], ['flatten'], ['dense', 3, true]], 3],
  ['NCHWc: a conv from 4 channels inside the net, max 2x2 over an odd map', [7, 7, 2], [['conv', 4, [3, 3], [1, 1], 'same', false], ['relu'], ['conv', 16, [3, 3], [1, 1], 'same', false], ['relu'], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 3, false]], 3],
];

for (const [name, shape, specs, classes] of cases) {
  test(`gradient of ${name} matches a float64 backprop (finite-difference checked)`, async () => {
    const net = build(shape, specs, classes);
    const { x, y, ref } = await checkNet(name, net);
    checkReference(name, net, x, y, 3, ref.grads);
  });
}

test('max-pool ties: the gradient goes to the first maximum of the window (row-major), as in the reference', async () => {
  // a 1x1 conv with kernel [1, 1] over 2 channels: positions (1,2) and (2,1) tie at 3, but their inputs
  // differ, so the kernel gradient shows which one the pool chose
  const net = build([2, 4, 2], [['conv', 1, [1, 1], [1, 1], 'valid', false], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 2, false]], 2);
  (net.layers[0] as { kernel: Float32Array }).kernel = Float32Array.of(1, 1);
  // NHWC rows: window 1 = (0,0),(0,1),(1,0),(1,1); window 2 = (0,2),(0,3),(1,2),(1,3)
  const x = Float32Array.of(1, 2, 2, 1, 0, 0, 3, 0, 0.5, 0.5, 0, 1, 0, 0, 1, 2);
  const y = Int32Array.of(1);
  const params = parameterArrays(net);
  const ref = lossGrad64(net, to64(params), x, y, 1);
  const got = await lossGrad(net, params, x, y, 1, true);
  ref.grads.forEach((g, i) => assertClose(got.grads![i], g, 1e-5, `tied max-pool: gradient of parameter ${i}`));
});

test('max-pool ties on NCHWc maps: the gradient goes to the first maximum of the window (row-major)', async () => {
  // a 1x1 conv of 2 channels into 16 equal ones (kernel of ones), ties as in the test above, a dense head
  // that weighs every channel differently
  const net = build([2, 4, 2], [['conv', 16, [1, 1], [1, 1], 'valid', false], ['max', [2, 2], [2, 2], 'valid'], ['relu'], ['flatten'], ['dense', 2, false]], 2);
  (net.layers[0] as { kernel: Float32Array }).kernel = new Float32Array(32).fill(1);
  const x = Float32Array.of(1, 2, 2, 1, 0, 0, 3, 0, 0.5, 0.5, 0, 1, 0, 0, 1, 2);
  const y = Int32Array.of(1);
  const params = parameterArrays(net);
  const ref = lossGrad64(net, to64(params), x, y, 1);
  const got = await lossGrad(net, params, x, y, 1, true);
  ref.grads.forEach((g, i) => assertClose(got.grads![i], g, 1e-5, `tied max-pool (NCHWc): gradient of parameter ${i}`));
});

// the max-pool gradient from window masks (the WebGPU provider has no MaxPool indices, nor NCHWc kernels), checked on the CPU
for (const [name, shape, specs, classes] of cases.filter(([n]) => /max 2x2/.test(n) || /paper-style/.test(n))) {
  test(`gradient of ${name}, max-pool gradient from window masks, matches the float64 backprop`, async () => {
    const keep = getEmitOptions();
    setEmitOptions({ maxPoolIndices: false, nchwcBlock: 0 });
    try {
      await checkNet(`${name} (masks)`, build(shape, specs, classes));
    } finally {
      setEmitOptions(keep);
    }
  });
}

test('max-pool ties with window masks: the gradient goes to the first maximum, as with indices', async () => {
  const keep = getEmitOptions();
  setEmitOptions({ maxPoolIndices: false, nchwcBlock: 0 });
  try {
    const net = build([2, 4, 2], [['conv', 1, [1, 1], [1, 1], 'valid', false], ['max', [2, 2], [2, 2], 'valid'], ['flatten'], ['dense', 2, false]], 2);
    (net.layers[0] as { kernel: Float32Array }).kernel = Float32Array.of(1, 1);
    const x = Float32Array.of(1, 2, 2, 1, 0, 0, 3, 0, 0.5, 0.5, 0, 1, 0, 0, 1, 2);
    const y = Int32Array.of(1);
    const params = parameterArrays(net);
    const ref = lossGrad64(net, to64(params), x, y, 1);
    const got = await lossGrad(net, params, x, y, 1, true);
    ref.grads.forEach((g, i) => assertClose(got.grads![i], g, 1e-5, `tied max-pool (masks): gradient of parameter ${i}`));
  } finally {
    setEmitOptions(keep);
  }
});
