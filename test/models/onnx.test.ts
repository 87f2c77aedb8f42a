/**
 * ONNX import and export.
 *
 * - PyTorch fixtures (scripts/onnx-fixtures.py): the imported network gives PyTorch's float64 logits and
 *   the measures computed from PyTorch's weights in float64, independently of genmeasures.
 * - Hand-written graphs: what is accepted computes what ONNX Runtime computes on the model itself; what
 *   is not (a residual Add, a Sigmoid, an LSTM, pads that are neither 'same' nor 'valid', …) is one
 *   UserError naming the node and its op.
 * - Round trip: networks exported to ONNX give in ONNX Runtime (NCHW input) the logits genmeasures
 *   computes on the same images (NHWC), and import back to the same network and measures.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import type { Dataset } from '../../src/data/types.js';
import { Graph, float } from '../../src/engine/onnx/graph.js';
import { logits } from '../../src/engine/programs.js';
import { UserError } from '../../src/errors.js';
import { computeMeasures } from '../../src/measures/index.js';
import { saveNetwork } from '../../src/models/io.js';
import { loadAnyNetwork } from '../../src/models/load.js';
import { Network, Shape3, parameterArrays, weightLayers } from '../../src/models/network.js';
import { networkToOnnx, saveOnnxNetwork } from '../../src/models/onnxExport.js';
import { networkFromOnnx } from '../../src/models/onnxImport.js';
import { buildNetwork } from '../../src/models/spec.js';
import { run as exportModel } from '../../src/cli/exportModel.js';
import { assertClose, randomArray } from '../helpers.js';

/** test/fixtures/onnx, found upwards from this file (compiled or not) or from the working folder. */
function fixtureDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const d = path.join(dir, 'test', 'fixtures', 'onnx');
    if (fs.existsSync(path.join(d, 'expected.json'))) return d;
    dir = path.dirname(dir);
  }
  return path.join(process.cwd(), 'test', 'fixtures', 'onnx');
}

/** Examples flat in NCHW order ([C, H, W] each) → flat NHWC; a [D] shape is left as it is. */
function nchwToNhwc(x: ArrayLike<number>, n: number, chw: number[]): Float32Array {
  const out = new Float32Array(x.length);
  if (chw.length !== 3) {
    out.set(Array.from(x));
    return out;
  }
  const [C, H, W] = chw;
  const size = C * H * W;
  for (let e = 0; e < n; e++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[e * size + (h * W + w) * C + c] = x[e * size + (c * H + h) * W + w];
  return out;
}

function nhwcToNchw(x: ArrayLike<number>, n: number, shape: Shape3): Float32Array {
  const [H, W, C] = shape;
  const size = C * H * W;
  const out = new Float32Array(x.length);
  for (let e = 0; e < n; e++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[e * size + (c * H + h) * W + w] = x[e * size + (h * W + w) * C + c];
  return out;
}

/** Run an ONNX model in ONNX Runtime directly: its one input, its first output. */
async function runOrt(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    return r[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
}

function dataset(net: Network, x: Float32Array, y: ArrayLike<number>): Dataset {
  return { name: 'onnx-test', shape: [...net.inputShape] as Shape3, numClasses: net.numClasses, n: y.length, x, y: Int32Array.from(y) };
}

/** Labels = the network's own predictions (every margin positive). */
async function selfLabelled(net: Network, x: Float32Array, n: number): Promise<Dataset> {
  const z = await logits(net, parameterArrays(net), x, 0, n);
  const c = net.numClasses;
  const y = Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (z[i * c + j] > z[i * c + best]) best = j;
    return best;
  });
  return dataset(net, x, y);
}

const MEASURES = ['margin', 'l2', 'l1_path', 'l2_path', 'spectral', 'l1_inf', 'lipschitz'];

// ---------------------------------------------------------------------------------------------
// PyTorch fixtures

const FIXTURES = fixtureDir();
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));

for (const [name, fx] of Object.entries<any>(expected.models)) {
  test(`PyTorch fixture ${name}: imported logits and measures equal PyTorch's float64 ones`, async () => {
    const file = path.join(FIXTURES, fx.file);
    const net = loadAnyNetwork(file);
    const chw: number[] = fx.input_shape;
    assert.deepEqual(net.inputShape, chw.length === 3 ? [chw[1], chw[2], chw[0]] : [1, 1, chw[0]]);
    assert.equal(net.numClasses, fx.logits[0].length);
    const n = fx.inputs.length;
    const flat = Float32Array.from(fx.inputs.flat());
    const x = nchwToNhwc(flat, n, chw);
    const got = await logits(net, parameterArrays(net), x, 0, n);
    assertClose(got, fx.logits.flat(), 1e-4, `${name} logits`);
    // the same as ONNX Runtime on the file itself
    const direct = await runOrt(fs.readFileSync(file), flat, [n, ...chw]);
    assertClose(got, direct, 1e-5, `${name} logits vs onnxruntime`);
    const report = await computeMeasures(net, dataset(net, x, fx.labels), { measures: MEASURES, marginEps: fx.margin_eps });
    for (const m of MEASURES) {
      const v = report.measures[m];
      assert.ok(v !== null, `${name} ${m} is null: ${report.notes.join('; ')}`);
      assert.ok(relErr(v!, fx.measures[m]) <= 1e-4, `${name} ${m}: ${v} vs PyTorch ${fx.measures[m]} (relative error ${relErr(v!, fx.measures[m]).toExponential(2)})`);
    }
  });
}

test('PyTorch fixtures: the layers, the BatchNorm note and the flatten chains', () => {
  const vgg = loadAnyNetwork(path.join(FIXTURES, 'vgg.onnx'));
  assert.deepEqual(
    vgg.layers.map((l) => l.kind),
    ['conv2d', 'relu', 'conv2d', 'relu', 'maxpool', 'conv2d', 'relu', 'avgpool', 'flatten', 'dense', 'relu', 'dense'],
  );
  const mlp = loadAnyNetwork(path.join(FIXTURES, 'mlp.onnx'));
  assert.deepEqual(mlp.layers.map((l) => l.kind), ['flatten', 'dense', 'relu', 'dense', 'relu', 'dense']);
  assert.ok(mlp.notes.some((s) => /BatchNormalization .* folded/.test(s)), mlp.notes.join('; '));
  const nobias = loadAnyNetwork(path.join(FIXTURES, 'nobias.onnx'));
  assert.ok(weightLayers(nobias).every((l) => l.bias === null));
  const c1 = nobias.layers[0];
  assert.ok(c1.kind === 'conv2d' && c1.padding === 'same' && c1.strides[0] === 2 && c1.outShape.join() === '5,5,6');
  const gap = loadAnyNetwork(path.join(FIXTURES, 'gap.onnx'));
  assert.deepEqual(gap.layers.map((l) => l.kind), ['conv2d', 'relu', 'avgpool', 'flatten', 'dense']);
});

// ---------------------------------------------------------------------------------------------
// Hand-written graphs: accepted ones compute what ONNX Runtime computes

test('Conv + BatchNormalization, zero Pad merged into a Conv, Dropout, Identity, MatMul + Add, Gemm with alpha/beta, final Softmax', async () => {
  const g = new Graph('accepted');
  const x = g.input('input', 'float', ['N', 2, 6, 6]);
  let t = g.op('Conv', [x, g.constant(randomArray(4 * 2 * 9, 1, 0.5), [4, 2, 3, 3])], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  const scale = Float32Array.from(randomArray(4, 2), (v) => 1 + 0.5 * v);
  const variance = Float32Array.from(randomArray(4, 3), (v) => 1 + 0.5 * v);
  t = g.op('BatchNormalization', [t, g.constant(scale, [4]), g.constant(randomArray(4, 4, 0.3), [4]), g.constant(randomArray(4, 5, 0.3), [4]), g.constant(variance, [4])], { epsilon: float(1e-3) });
  t = g.op('Relu', [t]);
  t = g.op('Pad', [t, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  t = g.op('Conv', [t, g.constant(randomArray(3 * 4 * 9, 6, 0.4), [3, 4, 3, 3]), g.constant(randomArray(3, 7, 0.1), [3])], { kernel_shape: [3, 3] });
  t = g.op('Relu', [t]);
  t = g.opN('Dropout', [t], 2)[0];
  t = g.op('Identity', [t]);
  t = g.op('MaxPool', [t], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }); // 'same' on 6×6 → 3×3
  t = g.op('Reshape', [t, g.ints([-1, 27])]);
  t = g.op('MatMul', [t, g.constant(randomArray(27 * 7, 8, 0.3), [27, 7])]);
  t = g.op('Add', [t, g.constant(randomArray(7, 9, 0.2), [7])]);
  t = g.op('Relu', [t]);
  const logitsName = g.op('Gemm', [t, g.constant(randomArray(7 * 5, 10, 0.5), [7, 5]), g.constant(randomArray(5, 11, 0.2), [1, 5])], { alpha: float(0.5), beta: float(2) });
  g.output(g.op('Softmax', [logitsName], { axis: 1 }), 'float', ['N', 5], 'probs');
  const bytes = g.toModel();
  const net = networkFromOnnx(bytes, 'accepted.onnx');
  assert.deepEqual(net.layers.map((l) => l.kind), ['conv2d', 'relu', 'conv2d', 'relu', 'maxpool', 'flatten', 'dense', 'relu', 'dense']);
  assert.ok(net.notes.some((s) => /Softmax.* dropped/.test(s)), net.notes.join('; '));
  assert.ok(net.notes.some((s) => /BatchNormalization/.test(s)));
  assert.ok(net.notes.some((s) => /Pad.*merged/.test(s)));
  const n = 6;
  const xs = randomArray(n * 72, 12);
  const ours = await logits(net, parameterArrays(net), nchwToNhwc(xs, n, [2, 6, 6]), 0, n);
  const probs = await runOrt(bytes, xs, [n, 2, 6, 6]);
  const soft = new Float32Array(ours.length);
  for (let i = 0; i < n; i++) {
    const row = Array.from(ours.subarray(i * 5, i * 5 + 5));
    const mx = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - mx), 0);
    row.forEach((v, j) => (soft[i * 5 + j] = Math.exp(v - mx) / s));
  }
  assertClose(soft, probs, 1e-5, 'softmax of the imported logits vs onnxruntime');
});

test('Shape/Gather/Unsqueeze/Concat flatten with a static batch, GlobalAveragePool, stride-2 valid conv, AveragePool with unused end padding', async () => {
  const g = new Graph('chain');
  const x = g.input('input', 'float', [3, 3, 7, 7]);
  let t = g.op('Conv', [x, g.constant(randomArray(4 * 3 * 9, 21, 0.4), [4, 3, 3, 3])], { kernel_shape: [3, 3], strides: [2, 2] }); // valid: 3×3
  t = g.op('Relu', [t]);
  t = g.op('AveragePool', [t], { kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0], count_include_pad: 1 }); // 2×2
  t = g.op('Conv', [t, g.constant(randomArray(6 * 4, 22, 0.4), [6, 4, 1, 1]), g.constant(randomArray(6, 23, 0.1), [6])], { kernel_shape: [1, 1] });
  const pooled = g.op('Relu', [t]);
  const shape = g.op('Shape', [pooled]);
  const n0 = g.op('Gather', [shape, g.int(0)], { axis: 0 });
  const target = g.op('Concat', [g.op('Unsqueeze', [n0, g.ints([0])]), g.ints([-1])], { axis: 0 });
  t = g.op('Reshape', [pooled, target]);
  t = g.op('Gemm', [t, g.constant(randomArray(4 * 24, 24, 0.3), [4, 24]), g.constant(randomArray(4, 25, 0.1), [4])], { transB: 1 });
  g.output(t, 'float', [3, 4], 'logits');
  const bytes = g.toModel();
  const net = networkFromOnnx(bytes, 'chain.onnx');
  assert.deepEqual(net.layers.map((l) => l.kind), ['conv2d', 'relu', 'avgpool', 'conv2d', 'relu', 'flatten', 'dense']);
  const xs = randomArray(3 * 147, 26);
  const ours = await logits(net, parameterArrays(net), nchwToNhwc(xs, 3, [3, 7, 7]), 0, 3);
  assertClose(ours, await runOrt(bytes, xs, [3, 3, 7, 7]), 1e-5, 'logits vs onnxruntime');

  const g2 = new Graph('gap');
  const x2 = g2.input('input', 'float', ['N', 2, 5, 4]);
  let u = g2.op('Relu', [g2.op('Conv', [x2, g2.constant(randomArray(3 * 2 * 9, 27, 0.4), [3, 2, 3, 3])], { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' })]);
  u = g2.op('Flatten', [g2.op('GlobalAveragePool', [u])], { axis: 1 });
  g2.output(g2.op('Gemm', [u, g2.constant(randomArray(6, 28), [3, 2])]), 'float', ['N', 2], 'logits');
  const b2 = g2.toModel();
  const net2 = networkFromOnnx(b2, 'gap.onnx');
  const xs2 = randomArray(4 * 40, 29);
  assertClose(await logits(net2, parameterArrays(net2), nchwToNhwc(xs2, 4, [2, 5, 4]), 0, 4), await runOrt(b2, xs2, [4, 2, 5, 4]), 1e-5, 'GlobalAveragePool logits');
});

// ---------------------------------------------------------------------------------------------
// Refused graphs: one UserError naming the node and its op

function refusal(build: (g: Graph, x: string) => string, inputDims: (number | string)[] = ['N', 4]): string {
  const g = new Graph('refused');
  const x = g.input('input', 'float', inputDims);
  g.output(build(g, x), 'float');
  try {
    networkFromOnnx(g.toModel(), 'bad.onnx');
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail('the graph was accepted');
}

test('a residual Add, a Sigmoid, an LSTM, a middle Softmax, a branch and odd pads are refused, naming the node and op', () => {
  const dense = (g: Graph, t: string, seed: number) => g.op('Gemm', [t, g.constant(randomArray(16, seed), [4, 4])], { transB: 1 });
  let m = refusal((g, x) => g.op('Add', [g.op('Relu', [dense(g, x, 1)]), x]));
  assert.match(m, /^bad\.onnx: node \S+ \(Add\) is not supported: both of its inputs are computed \(a residual connection\)/);
  m = refusal((g, x) => dense(g, g.op('Sigmoid', [dense(g, x, 2)]), 3));
  assert.match(m, /^bad\.onnx: node \S+ \(Sigmoid\) is not supported: .*ReLU networks/);
  m = refusal((g, x) => dense(g, g.op('Tanh', [dense(g, x, 2)]), 3));
  assert.match(m, /node \S+ \(Tanh\) is not supported/);
  m = refusal(
    (g, x) => g.opN('LSTM', [x, g.constant(randomArray(4 * 5 * 3, 4), [1, 20, 3]), g.constant(randomArray(4 * 5 * 5, 5), [1, 20, 5])], 3, { hidden_size: 5 })[0],
    ['N', 6, 3],
  );
  assert.match(m, /^bad\.onnx: node \S+ \(LSTM\) is not supported: recurrent layers/);
  m = refusal((g, x) => dense(g, g.op('Softmax', [dense(g, x, 6)], { axis: 1 }), 7));
  assert.match(m, /node \S+ \(Softmax\) is not supported: a Softmax is accepted only as the last node/);
  m = refusal((g, x) => {
    g.op('Relu', [x]);
    return g.op('Relu', [x]);
  });
  assert.match(m, /node \S+ \(Relu\) is not supported: it reads input, which is not the output of the node before it/);
  m = refusal(
    (g, x) => g.op('Flatten', [g.op('Conv', [x, g.constant(randomArray(2 * 3 * 9, 8), [2, 3, 3, 3])], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })]),
    ['N', 3, 8, 8],
  );
  assert.match(m, /node \S+ \(Conv\) is not supported: pads \[1, 1, 1, 1\] are neither 'same' nor 'valid'/);
  m = refusal((g, x) => g.op('Flatten', [g.op('Conv', [x, g.constant(randomArray(2 * 3 * 9, 8), [2, 3, 3, 3])], { kernel_shape: [3, 3], group: 3 })]), ['N', 3, 8, 8]);
  assert.match(m, /\(Conv\) is not supported: group 3/);
  m = refusal((g, x) => g.op('Flatten', [g.op('AveragePool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 })]), ['N', 3, 8, 8]);
  assert.match(m, /\(AveragePool\) is not supported: count_include_pad 1/);
  m = refusal((g, x) => g.op('Mul', [dense(g, x, 9), g.scalar(2)]));
  assert.match(m, /node \S+ \(Mul\) is not supported/);
  // a graph output that is not the end of the chain
  const g = new Graph('two');
  const x = g.input('input', 'float', ['N', 4]);
  g.output(dense(g, x, 10), 'float');
  g.output(x, 'float');
  assert.throws(() => networkFromOnnx(g.toModel(), 'two.onnx'), /two\.onnx: the graph has 2 outputs/);
  assert.throws(() => networkFromOnnx(Uint8Array.of(1, 2, 3, 4, 5), 'junk.onnx'), (e: unknown) => e instanceof UserError && /junk\.onnx: not an ONNX model/.test((e as Error).message));
});

// ---------------------------------------------------------------------------------------------
// Export, and the round trip

const ROUND_TRIP: { spec: string; shape: Shape3; classes: number; bias: boolean }[] = [
  { spec: 'vgg:4,M,8,M', shape: [8, 8, 3], classes: 10, bias: true },
  { spec: 'vgg:3,A2,D6', shape: [6, 6, 2], classes: 4, bias: false },
  { spec: 'mlp:16,8', shape: [4, 4, 3], classes: 5, bias: true },
  { spec: 'mlp:12', shape: [28, 28, 1], classes: 10, bias: false },
];

for (const { spec, shape, classes, bias } of ROUND_TRIP) {
  test(`export ${spec} on ${shape.join('x')} (bias ${bias}): onnxruntime on NCHW gives our logits; importing it back gives the same network and measures`, async () => {
    const net = buildNetwork(spec, { inputShape: shape, numClasses: classes, bias, seed: 7 });
    const bytes = networkToOnnx(net);
    const n = 12;
    const x = randomArray(n * shape[0] * shape[1] * shape[2], 31);
    const ours = await logits(net, parameterArrays(net), x, 0, n);
    const conv = spec.startsWith('vgg');
    const dims = conv ? [n, shape[2], shape[0], shape[1]] : [n, shape[0] * shape[1] * shape[2]];
    const theirs = await runOrt(bytes, nhwcToNchw(x, n, shape), dims);
    assertClose(theirs, ours, 1e-5, 'exported model in onnxruntime vs genmeasures');

    const back = networkFromOnnx(bytes, 'roundtrip.onnx');
    assert.deepEqual(back.inputShape, net.inputShape);
    assert.equal(back.numClasses, net.numClasses);
    assert.deepEqual(back.layers.map((l) => l.kind), net.layers.map((l) => l.kind));
    const a = parameterArrays(net);
    const b = parameterArrays(back);
    assert.equal(b.length, a.length);
    a.forEach((arr, i) => assert.deepEqual(Array.from(b[i]), Array.from(arr), `parameter array ${i}`));

    const data = await selfLabelled(net, x, n);
    const opts = { measures: ['margin', 'l2', 'spectral', 'l1_path'] };
    const r1 = await computeMeasures(net, data, opts);
    const r2 = await computeMeasures(back, data, opts);
    for (const m of opts.measures) {
      assert.ok(r1.measures[m] !== null, `${m} is null`);
      assert.ok(relErr(r2.measures[m]!, r1.measures[m]!) <= 1e-5, `${m}: ${r2.measures[m]} after the round trip vs ${r1.measures[m]}`);
    }
  });
}

test('saveOnnxNetwork, loadAnyNetwork and `genmeasures export-model RUN_DIR --format onnx --out FILE`', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-onnx-'));
  try {
    const net = buildNetwork('vgg:4,M', { inputShape: [6, 6, 1], numClasses: 3, bias: true, seed: 2 });
    saveOnnxNetwork(net, path.join(dir, 'a.onnx'));
    const a = loadAnyNetwork(path.join(dir, 'a.onnx'));
    assert.deepEqual(Array.from(parameterArrays(a)[0]), Array.from(parameterArrays(net)[0]));
    assert.deepEqual(fs.readdirSync(dir), ['a.onnx'], 'no temporary file left');

    const run = path.join(dir, 'run');
    saveNetwork(net, path.join(run, 'model.json'));
    const out = path.join(dir, 'b.onnx');
    await exportModel({ format: 'onnx', out }, [run]);
    assert.deepEqual(fs.readFileSync(out), Buffer.from(networkToOnnx(loadAnyNetwork(path.join(run, 'model.json')))));
    const x = randomArray(2 * 36, 3);
    assertClose(await runOrt(fs.readFileSync(out), x, [2, 1, 6, 6]), await logits(net, parameterArrays(net), x, 0, 2), 1e-5, 'export-model output');
    await assert.rejects(exportModel({ format: 'onnx', out }, [path.join(dir, 'nope')]), /does not exist/);
    await assert.rejects(exportModel({ format: 'onnx' }, [run]), /--out FILE is required/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
