import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import { isUserError } from '../../src/errors.js';
import { MEASURES, MEASURE_NAMES, checkDataMatchesNetwork, computeMeasures, parseMeasureList } from '../../src/measures/index.js';
import { diameterEstimate } from '../../src/measures/lipschitz.js';
import { randomArray } from '../helpers.js';
import { convNetA, mlp } from './nets.js';
import { augmented, largestSingularValue } from './reference.js';

const DEFINED_NAMES = [
  'params', 'vc_dim', 'margin', 'l2', 'l1_path', 'l2_path', 'spectral', 'l1_inf', 'lipschitz', 'lipschitz_capacity_log10',
  'sharpness', 'expected_sharpness', 'kl', 'pac_bayes', 'pac_bayes_kl', 'pac_bayes_optimized', 'kl_at_sharpness', 'pac_bayes_sigma', 'flatness',
  'pac_bayes_mag_flatness', 'sharpness_mag_flatness', 'dist_from_init', 'bartlett_spectral',
];

test('the registry lists every measure of docs/definitions.md once, each with a summary and needs', () => {
  assert.deepEqual(MEASURE_NAMES, DEFINED_NAMES);
  for (const m of MEASURES) {
    assert.ok(m.summary.length > 3 && m.needs.includes('weights'), m.name);
  }
});

test('unknown measure names are a UserError listing the valid ones', () => {
  assert.deepEqual(parseMeasureList('l2, margin,l2'), ['l2', 'margin']);
  assert.throws(
    () => parseMeasureList('l2,foo,bar'),
    (e: unknown) => isUserError(e) && (e as Error).message.startsWith('unknown measures foo, bar (valid: params, vc_dim, margin') && !(e as Error).message.includes('\n'),
  );
});

test('data that does not fit the model: one-line UserError naming both shapes and class counts', () => {
  const net = mlp([6, 4, 3], false);
  const ok: Dataset = { name: 'd', shape: [1, 1, 6], numClasses: 3, n: 1, x: new Float32Array(6), y: new Int32Array(1) };
  checkDataMatchesNetwork(net, ok);
  checkDataMatchesNetwork(net, { ...ok, shape: [2, 3, 1] }); // same size, the MLP flattens first
  const bad = (d: Dataset, re: RegExp) =>
    assert.throws(() => checkDataMatchesNetwork(net, d), (e: unknown) => isUserError(e) && re.test((e as Error).message) && !(e as Error).message.includes('\n'));
  bad({ ...ok, shape: [1, 1, 7] }, /\(d: 1x1x7 inputs, 3 classes\) does not match the model \(1x1x6 inputs, 3 classes\)/);
  // data of more classes is valid while every label is an output of the model …
  checkDataMatchesNetwork(net, { ...ok, numClasses: 10 });
  // … and refused, naming the point, once a label is not
  bad({ ...ok, numClasses: 10, y: Int32Array.of(5) }, /point 0 has label 5, and the model's outputs are classes 0\.\.2/);
  // a conv net needs the exact shape
  assert.throws(() => checkDataMatchesNetwork(convNetA(), { ...ok, shape: [8, 4, 1], numClasses: 3 }), (e: unknown) => isUserError(e));
});

test('without data the weight-only measures are numbers and the rest null with a note; lipschitz = ∏‖W_i‖₂', async () => {
  const net = convNetA(true);
  const r = await computeMeasures(net, null);
  assert.deepEqual(Object.keys(r.measures), DEFINED_NAMES);
  for (const [k, v] of Object.entries(r.measures)) {
    if (v === null) assert.ok(r.notes.some((n) => n.startsWith(`${k} is null: `)), k);
  }
  assert.equal(r.measures.params, 2 * 9 * 3 + 3 + 36 + 3);
  assert.equal(r.measures.vc_dim, 2 * r.measures.params!);
  const ref = largestSingularValue(augmented(net.layers[0] as any)) * largestSingularValue(augmented(net.layers[4] as any));
  assert.ok(Math.abs(r.measures.lipschitz! - ref) / ref < 1e-9);
  assert.equal(r.measures.margin, null);
  assert.ok(r.notes.includes('margin is null: needs the training data'));
  assert.deepEqual((r.components as any).widths, [48, 3]);
});

test('diam(X) estimate: a true pairwise distance, and an upper bound', () => {
  const n = 150;
  const size = 5;
  const x = randomArray(n * size, 3, 1);
  for (let i = 0; i < size; i++) x[17 * size + i] += 6; // an outlier
  let best = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      for (let t = 0; t < size; t++) d += (x[i * size + t] - x[j * size + t]) ** 2;
      best = Math.max(best, Math.sqrt(d));
    }
  const e = diameterEstimate(x, n, size);
  assert.ok(e.lower <= best + 1e-9 && e.upper >= best - 1e-9, `${e.lower} ≤ ${best} ≤ ${e.upper}`);
  assert.ok(e.lower >= 0.5 * best);
  assert.ok(Math.abs(e.lower - best) < 1e-6, 'with an outlier the sweeps find the diameter');
});

test('every measure on a conv net with biases: numbers or nulls with notes, no NaN, timings for each', async () => {
  const net = convNetA(true);
  const x = randomArray(40 * 32, 8, 1);
  const y = Int32Array.from({ length: 40 }, (_, i) => i % 3);
  const r = await computeMeasures(net, { name: 'random', shape: [4, 4, 2], numClasses: 3, n: 40, x, y }, { samples: 2, sigmaSteps: 4, sharpnessSteps: 3 });
  for (const k of DEFINED_NAMES) {
    const v = r.measures[k];
    assert.ok(v === null || Number.isFinite(v), k);
    if (v === null) assert.ok(r.notes.some((n) => n.startsWith(`${k} is null: `)), k);
    assert.equal(typeof r.timings_ms[k], 'number');
  }
  assert.ok(r.notes.some((n) => n.includes('max-pooling as the sum over its window')));
  assert.ok(r.notes.some((n) => n.includes('always-on unit')));
  assert.equal(r.pac_bayes_curve.length, 16);
  JSON.stringify(r); // serialisable
});

test('computeMeasures given something that is not a Network (e.g. a TF.js LayersModel) says what it expects', async () => {
  const fakeLayersModel = new (class LayersModel {
    predict() {}
    layers = [{ name: 'dense_1' }];
  })();
  await assert.rejects(() => computeMeasures(fakeLayersModel as never, null), /computeMeasures: expected a Network .* got LayersModel \(a TF\.js LayersModel\? save it/);
  await assert.rejects(() => computeMeasures(undefined as never, null), /expected a Network/);
});
