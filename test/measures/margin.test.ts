import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import type { Network } from '../../src/models/network.js';
import { evaluateNetwork, marginQuantile } from '../../src/measures/margin.js';
import { computeMeasures } from '../../src/measures/index.js';

/** logits = inputs: an identity dense layer 3 → 3 */
const identity: Network = {
  inputShape: [1, 1, 3],
  numClasses: 3,
  layers: [{ kind: 'dense', inSize: 3, outSize: 3, kernel: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), bias: null }],
};
const data: Dataset = {
  name: 'hand',
  shape: [1, 1, 3],
  numClasses: 3,
  n: 4,
  x: Float32Array.from([3, 1, 0, 0, 2, 2.5, 1, 1, 1, -1, 5, 0]),
  y: Int32Array.from([0, 1, 2, 1]),
};

test('margins, loss and 0/1 error of a hand-worked case (a tie counts as an error)', async () => {
  const ev = await evaluateNetwork(identity, data);
  assert.deepEqual(Array.from(ev.margins), [2, -0.5, 0, 5]);
  assert.equal(ev.error, 0.5);
  const ce = (v: number[], y: number) => Math.log(v.reduce((s, x) => s + Math.exp(x), 0)) - v[y];
  const loss = (ce([3, 1, 0], 0) + ce([0, 2, 2.5], 1) + ce([1, 1, 1], 2) + ce([-1, 5, 0], 1)) / 4;
  assert.ok(Math.abs(ev.loss - loss) < 1e-6);
});

test('γ is the ⌈ε·m⌉-th smallest margin', () => {
  const margins = [2, -0.5, 0, 5];
  assert.deepEqual(marginQuantile(margins, 0.05), { gamma: -0.5, k: 1 }); // ⌈0.2⌉ = 1
  assert.deepEqual(marginQuantile(margins, 0.25), { gamma: -0.5, k: 1 }); // ⌈1⌉ = 1
  assert.deepEqual(marginQuantile(margins, 0.26), { gamma: 0, k: 2 });
  assert.deepEqual(marginQuantile(margins, 0.75), { gamma: 2, k: 3 });
  assert.deepEqual(marginQuantile(margins, 1), { gamma: 5, k: 4 });
  // 0.07·100 = 7.000000000000001 in floating point: still k = 7
  const hundred = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1); // a permutation of 1..100
  assert.deepEqual(marginQuantile(hundred, 0.07), { gamma: 7, k: 7 });
  assert.deepEqual(marginQuantile(hundred, 0.05), { gamma: 5, k: 5 });
  assert.deepEqual(marginQuantile(hundred, 0.001), { gamma: 1, k: 1 });
});

test('margin not positive: the margin-normalised measures are null with the documented reason, the others are numbers', async () => {
  const r = await computeMeasures(identity, data, { marginEps: 0.5 }); // γ = 0
  assert.equal(r.measures.margin, 0);
  for (const name of ['l2', 'l1_path', 'l2_path', 'spectral', 'l1_inf', 'lipschitz_capacity_log10']) {
    assert.equal(r.measures[name], null, name);
    assert.ok(
      r.notes.some((n) => n.startsWith(`${name} is null: margin not positive: the network misclassifies more than ε of the training set`)),
      `${name}: ${r.notes.join(' | ')}`,
    );
  }
  for (const name of ['params', 'vc_dim', 'lipschitz', 'sharpness', 'kl', 'pac_bayes']) assert.equal(typeof r.measures[name], 'number', name);
  assert.equal(r.measures.params, 9);
  assert.equal(r.measures.vc_dim, 9);
  assert.ok(Math.abs(r.measures.lipschitz! - 1) < 1e-9);
  const withMargin = await computeMeasures(identity, data, { marginEps: 0.75, measures: ['margin', 'l2', 'spectral'] });
  assert.equal(withMargin.measures.margin, 2);
  assert.ok(Math.abs(withMargin.measures.l2! - (4 ** 1 * 3) / 4) < 1e-9); // 4‖I‖_F² / γ² = 12/4
  assert.ok(Math.abs(withMargin.measures.spectral! - (3 * 1) / 4) < 1e-9); // h·‖I‖₂² / γ²
  assert.deepEqual(Object.keys(withMargin.measures), ['margin', 'l2', 'spectral']);
});
