import test from 'node:test';
import assert from 'node:assert/strict';
import { loadData } from '../../src/data/index.js';
import { subset } from '../../src/data/transforms.js';
import type { Dataset } from '../../src/data/types.js';
import { Network, cloneNetwork, weightLayers } from '../../src/models/network.js';
import { buildNetwork } from '../../src/models/spec.js';
import { computeMeasures } from '../../src/measures/index.js';
import { randomArray } from '../helpers.js';
import { augmented, enumeratePathSum, forward64, frobenius, largestSingularValue, marginAndLoss } from './reference.js';
import { trainSmall } from './train.js';

/** The formulas of docs/definitions.md, in float64, from the reference helpers only. */
function reference(net: Network, data: Dataset, eps: number) {
  const size = 784;
  const margins: number[] = [];
  for (let i = 0; i < data.n; i++) margins.push(marginAndLoss(forward64(net, data.x.subarray(i * size, (i + 1) * size)), data.y[i]).margin);
  margins.sort((a, b) => a - b);
  const gamma = margins[Math.ceil(eps * data.n) - 1];
  const mats = weightLayers(net).map((l) => augmented(l));
  const d = mats.length;
  const h = mats.map((M) => M.length);
  const fro = mats.map(frobenius);
  const spec = mats.map(largestSingularValue);
  const p1 = enumeratePathSum(net, 1).sum;
  const p2 = enumeratePathSum(net, 2).sum;
  const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
  return {
    gamma,
    l2: prod(fro.map((f) => 4 * f * f)) / gamma ** 2,
    l1_path: (4 ** d * p1 * p1) / gamma ** 2,
    l2_path: (4 ** d * prod(h) * p2) / gamma ** 2,
    spectral: prod(spec.map((s, i) => h[i] * s * s)) / gamma ** 2,
  };
}

test('dense ReLU net trained on real MNIST digits: l2, l1_path, l2_path, spectral agree with an independent float64 computation to 1e-3', async () => {
  const digits = subset(loadData('mnist').train, 1000, 7);
  const start = buildNetwork('mlp:32,16', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
  const net = await trainSmall(start, digits, { epochs: 15, lr: 0.05, batch: 50 });
  // the same net with biases (weights from an always-on unit)
  const biased = cloneNetwork(net);
  weightLayers(biased).forEach((l, i) => (l.bias = randomArray(l.kind === 'dense' ? l.outSize : 0, 50 + i, 0.05)));
  for (const [what, n] of [
    ['no bias', net],
    ['with biases', biased],
  ] as [string, Network][]) {
    const r = await computeMeasures(n, digits, { measures: ['margin', 'l2', 'l1_path', 'l2_path', 'spectral'] });
    const ref = reference(n, digits, 0.05);
    assert.ok(ref.gamma > 0, `${what}: the trained net should have a positive margin (γ = ${ref.gamma})`);
    assert.ok(Math.abs(r.measures.margin! - ref.gamma) / ref.gamma < 1e-4, `${what} margin ${r.measures.margin} vs ${ref.gamma}`);
    for (const name of ['l2', 'l1_path', 'l2_path', 'spectral'] as const) {
      const got = r.measures[name]!;
      const rel = Math.abs(got - ref[name]) / ref[name];
      assert.ok(rel < 1e-3, `${what} ${name}: ${got} vs float64 ${ref[name]} (rel ${rel.toExponential(2)})`);
    }
  }
});
