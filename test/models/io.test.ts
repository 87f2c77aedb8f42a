import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { logits } from '../../src/engine/programs.js';
import { buildNetwork, parseModelSpec } from '../../src/models/spec.js';
import { loadNetwork, saveNetwork } from '../../src/models/io.js';
import { countParams, parameterArrays } from '../../src/models/network.js';
import { assertClose, randomArray } from '../helpers.js';
import { tfCpu } from '../tfcpu.js';
import { UserError } from '../../src/errors.js';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gm-io-'));
}

/** Load a saved model.json with tf.loadLayersModel through an in-memory IO handler (no tfjs-node needed). */
async function tfLoad(modelFile: string): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(modelFile, 'utf8'));
  const dir = path.dirname(modelFile);
  const bufs = json.weightsManifest.flatMap((g: any) => g.paths.map((p: string) => fs.readFileSync(path.join(dir, p))));
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadLayersModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g: any) => g.weights),
      weightData,
      format: json.format,
    }),
  });
}

for (const [spec, shape, bias] of [
  ['mlp:16,8', [4, 4, 1], false],
  ['mlp:16', [4, 4, 1], true],
  ['vgg:4,M,6', [6, 6, 3], false],
  ['vgg:3,3,M', [5, 4, 2], true],
] as const) {
  test(`${spec} (bias ${bias}) saves in TF.js format: tf.loadLayersModel predicts what the engine computes`, async () => {
    await tfCpu();
    const net = buildNetwork(spec, { inputShape: [...shape] as [number, number, number], numClasses: 5, bias, seed: 3 });
    const dir = tmpdir();
    saveNetwork(net, path.join(dir, 'model.json'));
    const model = await tfLoad(path.join(dir, 'model.json'));
    assert.equal(model.countParams(), countParams(net));
    const xData = randomArray(7 * shape[0] * shape[1] * shape[2], 5);
    const x = tf.tensor(xData, [7, ...shape]);
    const expected = (model.predict(x) as tf.Tensor).dataSync();
    const got = await logits(net, parameterArrays(net), xData, 0, 7);
    assertClose(got, expected, 1e-5, 'logits');
    // and our own loader gives back the same network
    const back = loadNetwork(path.join(dir, 'model.json'));
    assert.deepEqual(back.inputShape, net.inputShape);
    assert.equal(back.numClasses, 5);
    assert.deepEqual(back.layers.map((l) => l.kind), net.layers.map((l) => l.kind));
    const got2 = await logits(back, parameterArrays(back), xData, 0, 7);
    assert.deepEqual(Array.from(got2), Array.from(got));
  });
}

test('initialisation is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and seeded', () => {
  const a = buildNetwork('mlp:100', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const b = buildNetwork('mlp:100', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const c = buildNetwork('mlp:100', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  const ka = (a.layers[1] as any).kernel as Float32Array;
  assert.deepEqual(ka, (b.layers[1] as any).kernel);
  assert.notDeepEqual(ka, (c.layers[1] as any).kernel);
  const bound = 1 / Math.sqrt(784);
  let max = 0;
  let sumsq = 0;
  for (const v of ka) {
    max = Math.max(max, Math.abs(v));
    sumsq += v * v;
  }
  assert.ok(max <= bound && max > 0.99 * bound);
  // variance of U(-b, b) is b²/3
  assert.ok(Math.abs(sumsq / ka.length - (bound * bound) / 3) < 0.02 * (bound * bound) / 3);
});

test('model specs: good ones parse, bad ones are one-line UserErrors', () => {
  assert.deepEqual(parseModelSpec('mlp:512,512'), { family: 'mlp', hidden: [512, 512] });
  assert.deepEqual(parseModelSpec('vgg:16,16,M,32,m'), { family: 'vgg', blocks: [16, 16, 'M', 32, 'M'] });
  for (const bad of ['resnet:18', 'mlp:abc', 'mlp:0', 'vgg:', 'vgg:M,M', '1024']) {
    assert.throws(() => parseModelSpec(bad), (e: unknown) => e instanceof UserError && /--model/.test((e as Error).message) && !(e as Error).message.includes('\n'));
  }
  assert.throws(() => buildNetwork('vgg:4,M,M,M,M', { inputShape: [8, 8, 1], numClasses: 10 }), /too many M/);
});

test('loading folds BatchNormalization, drops Dropout and an output softmax, and rejects other layers by name', async () => {
  await tfCpu();
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, padding: 'same', useBias: true, name: 'c1' }));
  model.add(tf.layers.batchNormalization({ name: 'bn1' }));
  model.add(tf.layers.activation({ activation: 'relu', name: 'a1' }));
  model.add(tf.layers.averagePooling2d({ poolSize: 2, name: 'p1' }));
  model.add(tf.layers.flatten({ name: 'f1' }));
  model.add(tf.layers.dropout({ rate: 0.5, name: 'd1' }));
  model.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'out' }));
  // non-trivial batch-norm statistics
  const bn = model.getLayer('bn1');
  bn.setWeights([tf.tensor1d([1.5, 0.5, 2]), tf.tensor1d([0.1, -0.2, 0.3]), tf.tensor1d([0.2, -0.1, 0.05]), tf.tensor1d([0.5, 2, 1.2])]);
  const dir = tmpdir();
  await model.save(
    tf.io.withSaveHandler(async (art) => {
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(art.weightData as ArrayBuffer));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: art.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const net = loadNetwork(path.join(dir, 'model.json'));
  assert.deepEqual(net.layers.map((l) => l.kind), ['conv2d', 'relu', 'avgpool', 'flatten', 'dense']);
  assert.ok(net.notes.some((n) => /softmax/.test(n)) && net.notes.some((n) => /BatchNormalization/.test(n)));
  const xData = randomArray(3 * 50, 9);
  const probs = model.predict(tf.tensor(xData, [3, 5, 5, 2])) as tf.Tensor;
  // softmax of the engine's logits, in float64
  const z = await logits(net, parameterArrays(net), xData, 0, 3);
  const ours = new Float64Array(z.length);
  for (let b = 0; b < 3; b++) {
    const row = Array.from(z.subarray(b * 4, (b + 1) * 4));
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const se = e.reduce((a, v) => a + v, 0);
    e.forEach((v, j) => (ours[b * 4 + j] = v / se));
  }
  assertClose(ours, probs.dataSync(), 1e-5, 'probabilities after folding');

  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  json.modelTopology.config.layers.splice(5, 0, { class_name: 'LSTM', config: { name: 'my_lstm', units: 3 } });
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  assert.throws(() => loadNetwork(path.join(dir, 'model.json')), /layer my_lstm of type LSTM is not supported/);
});

test('a weights.bin shorter or longer than the manifest is a UserError naming the file', () => {
  const net = buildNetwork('mlp:4', { inputShape: [2, 2, 1], numClasses: 3, seed: 1 });
  const dir = tmpdir();
  saveNetwork(net, path.join(dir, 'model.json'));
  const w = fs.readFileSync(path.join(dir, 'weights.bin'));
  fs.writeFileSync(path.join(dir, 'weights.bin'), w.subarray(0, w.length - 4));
  assert.throws(() => loadNetwork(path.join(dir, 'model.json')), (e: unknown) => e instanceof UserError && /weights\.bin has \d+ bytes but .* \(truncated\)/.test((e as Error).message));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([w, Buffer.alloc(8)]));
  assert.throws(() => loadNetwork(path.join(dir, 'model.json')), /too long/);
  assert.throws(() => loadNetwork(path.join(dir, 'nope.json')), /does not exist/);
});
