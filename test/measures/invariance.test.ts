import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import { Network, cloneNetwork, weightLayers, type DenseLayer } from '../../src/models/network.js';
import { computeMeasures } from '../../src/measures/index.js';
import { randomArray } from '../helpers.js';
import { mlp } from './nets.js';
import { forward64 } from './reference.js';

/** Multiply hidden unit j of weight layer i by c (incoming weights and bias) and its outgoing weights by 1/c. */
function rescale(net: Network, i: number, j: number, c: number): Network {
  const out = cloneNetwork(net);
  const [a, b] = [weightLayers(out)[i], weightLayers(out)[i + 1]] as DenseLayer[];
  for (let k = 0; k < a.inSize; k++) a.kernel[k * a.outSize + j] *= c;
  if (a.bias) a.bias[j] *= c;
  for (let o = 0; o < b.outSize; o++) b.kernel[j * b.outSize + o] /= c;
  return out;
}

test('node rescaling (layer i ×c, layer i+1 ×1/c) leaves f, the margin, l1_path and l2_path unchanged but not l2', async () => {
  const net = mlp([6, 5, 4, 3], true, 5);
  const n = 200;
  const x = randomArray(n * 6, 77, 1);
  // labels = the network's own predictions, so every margin is ≥ 0
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const out = forward64(net, x.subarray(i * 6, (i + 1) * 6));
    y[i] = out.indexOf(Math.max(...out));
  }
  const data: Dataset = { name: 'random', shape: [1, 1, 6], numClasses: 3, n, x, y };
  const scaled = rescale(rescale(net, 0, 2, 4), 1, 1, 0.25);
  const names = ['margin', 'l1_path', 'l2_path', 'l2'];
  const a = await computeMeasures(net, data, { measures: names });
  const b = await computeMeasures(scaled, data, { measures: names });
  assert.ok(a.measures.margin! > 0);
  const rel = (k: string) => Math.abs(a.measures[k]! - b.measures[k]!) / a.measures[k]!;
  assert.ok(rel('margin') < 1e-5, `margin ${rel('margin')}`);
  assert.ok(rel('l1_path') < 1e-5, `l1_path ${rel('l1_path')}`);
  assert.ok(rel('l2_path') < 1e-5, `l2_path ${rel('l2_path')}`);
  assert.ok(rel('l2') > 0.1, `l2 should change under rescaling (rel ${rel('l2')})`);
  // and the raw path sums are invariant too
  const ca = a.components as any;
  const cb = b.components as any;
  assert.ok(Math.abs(ca.l1_path_sum - cb.l1_path_sum) / ca.l1_path_sum < 1e-6);
  assert.ok(Math.abs(ca.l2_path_sum - cb.l2_path_sum) / ca.l2_path_sum < 1e-6);
});
