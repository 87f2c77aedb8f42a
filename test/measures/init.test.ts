import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import { isUserError } from '../../src/errors.js';
import { Network, cloneNetwork, parameterArrays, weightLayers } from '../../src/models/network.js';
import { bartlettGroupNorms, checkSameArchitecture, layerDistances } from '../../src/measures/init.js';
import { computeMeasures } from '../../src/measures/index.js';
import { randomArray } from '../helpers.js';
import { convNetA, mlp } from './nets.js';
import { augmented, forward64, frobenius, largestSingularValue } from './reference.js';

function perturbed(net: Network, seed: number): Network {
  const out = cloneNetwork(net);
  parameterArrays(out).forEach((a, j) => {
    const u = randomArray(a.length, seed + j, 0.2);
    for (let i = 0; i < a.length; i++) a[i] += u[i];
  });
  return out;
}

function selfLabelled(net: Network, n: number, seed: number): Dataset {
  const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
  const x = randomArray(n * size, seed, 1);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const out = forward64(net, x.subarray(i * size, (i + 1) * size));
    y[i] = out.indexOf(Math.max(...out));
  }
  return { name: 'random', shape: [...net.inputShape], numClasses: net.numClasses, n, x, y };
}

test('dist_from_init of a dense net with biases: √Σ (w − w⁰)² by hand', () => {
  const initial = mlp([3, 2, 2], true, 1);
  const net = perturbed(initial, 40);
  let total = 0;
  const per = weightLayers(net).map((l, i) => {
    const l0 = weightLayers(initial)[i];
    let s = 0;
    for (let k = 0; k < l.kernel.length; k++) s += (l.kernel[k] - l0.kernel[k]) ** 2;
    for (let k = 0; k < l.bias!.length; k++) s += (l.bias![k] - l0.bias![k]) ** 2;
    total += s;
    return Math.sqrt(s);
  });
  const got = layerDistances(net, initial);
  got.forEach((d, i) => assert.ok(Math.abs(d - per[i]) < 1e-12));
  return computeMeasures(net, null, { initial, measures: ['dist_from_init'] }).then((r) => {
    assert.ok(Math.abs(r.measures.dist_from_init! - Math.sqrt(total)) < 1e-12);
    assert.ok(Math.abs((r.components as any).param_dist_from_init - Math.sqrt(total)) < 1e-12);
  });
});

test('conv net: per-layer distances and ‖(W−W⁰)ᵀ‖_{2,1} from the unrolled difference operators; bartlett_spectral by its formula', async () => {
  const initial = convNetA(true);
  const net = perturbed(initial, 60);
  const diffs = weightLayers(net).map((l, i) => {
    const l0 = weightLayers(initial)[i];
    return augmented(l, Array.from(l.kernel, (v, k) => v - l0.kernel[k]), l.bias ? Array.from(l.bias, (v, k) => v - l0.bias![k]) : null);
  });
  layerDistances(net, initial).forEach((d, i) => assert.ok(Math.abs(d - frobenius(diffs[i])) < 1e-12 * frobenius(diffs[i])));
  const l21 = diffs.map((M) => M.reduce((s, row) => s + Math.sqrt(row.reduce((t, v) => t + v * v, 0)), 0));
  bartlettGroupNorms(net, initial).forEach((g, i) => assert.ok(Math.abs(g - l21[i]) < 1e-12 * l21[i]));

  const data = selfLabelled(net, 60, 3);
  const r = await computeMeasures(net, data, { initial, measures: ['margin', 'dist_from_init', 'bartlett_spectral'] });
  const gamma = r.measures.margin!;
  assert.ok(gamma > 0);
  const s = weightLayers(net).map((l) => largestSingularValue(augmented(l)));
  const ref = (s.reduce((p, v) => p * v * v, 1) * s.reduce((acc, v, i) => acc + (l21[i] / v) ** (2 / 3), 0) ** 3) / gamma ** 2;
  assert.ok(Math.abs(r.measures.bartlett_spectral! - ref) / ref < 1e-9, `${r.measures.bartlett_spectral} vs ${ref}`);
  const total = Math.sqrt(diffs.reduce((a, M) => a + frobenius(M) ** 2, 0));
  assert.ok(Math.abs(r.measures.dist_from_init! - total) < 1e-12 * total);
  // the conv distance counts every position the kernel is applied at: larger than the plain parameter distance
  assert.ok(r.measures.dist_from_init! > (r.components as any).param_dist_from_init);
});

test('no initial weights: the init measures are null with a note; a different architecture is a UserError', async () => {
  const net = mlp([3, 2, 2], false, 1);
  const r = await computeMeasures(net, null, { measures: ['params', 'dist_from_init', 'bartlett_spectral'], initialMissing: 'no initial weights (x/initial/model.json not found)' });
  assert.equal(r.measures.params, 10);
  assert.equal(r.measures.dist_from_init, null);
  assert.equal(r.measures.bartlett_spectral, null);
  assert.ok(r.notes.includes('dist_from_init is null: no initial weights (x/initial/model.json not found)'), r.notes.join('\n'));
  assert.throws(() => checkSameArchitecture(net, mlp([3, 4, 2], false, 1)), (e: unknown) => isUserError(e) && /do not match the model/.test((e as Error).message));
  await assert.rejects(computeMeasures(net, null, { initial: mlp([3, 2, 2], true, 1) }), (e: unknown) => isUserError(e));
});
