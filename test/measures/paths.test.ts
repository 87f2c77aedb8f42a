import test from 'node:test';
import assert from 'node:assert/strict';
import { logits } from '../../src/engine/programs.js';
import { parameterArrays, type Network } from '../../src/models/network.js';
import { pathSum } from '../../src/measures/paths.js';
import { randomArray } from '../helpers.js';
import { tfCpu, tfForward } from '../tfcpu.js';
import { convNetA, convNetB, mlp } from './nets.js';
import { enumeratePathSum, forward64 } from './reference.js';

function checkPaths(net: Network, what: string) {
  for (const p of [1, 2, 0.5]) {
    const ref = enumeratePathSum(net, p);
    assert.ok(ref.paths > 10, `${what}: enumerated ${ref.paths} paths`);
    const got = pathSum(net, p);
    const rel = Math.abs(got.value - ref.sum) / ref.sum;
    assert.ok(rel < 1e-12, `${what} p=${p}: pathSum ${got.value} vs enumeration of ${ref.paths} paths ${ref.sum} (rel ${rel})`);
    assert.ok(Math.abs(got.log10 - Math.log10(ref.sum)) < 1e-12);
  }
}

test('path sums equal brute-force enumeration: MLP without biases', () => checkPaths(mlp([5, 4, 3, 2], false, 1), 'mlp'));
test('path sums equal brute-force enumeration: MLP with biases (paths may start at a bias)', () => {
  const net = mlp([5, 4, 3, 2], true, 2);
  checkPaths(net, 'mlp+bias');
  // and the biases matter
  const noBias = mlp([5, 4, 3, 2], false, 2);
  assert.ok(pathSum(net, 1).value > pathSum(noBias, 1).value);
});
test('path sums equal brute-force enumeration: conv + bias + max-pool + dense', () => checkPaths(convNetA(true), 'convA'));
test('path sums equal brute-force enumeration: strided conv, overlapping padded avg-pool, valid conv, overlapping max-pool', () =>
  checkPaths(convNetB(), 'convB'));

test('path sums do not overflow: 60 layers of weight 400 (exact value 8·6^59·400^(2·60) for p = 2)', () => {
  const sizes = [4, ...new Array(59).fill(6), 2];
  const net = mlp(sizes, false, 3, 1);
  for (const l of net.layers) if (l.kind === 'dense') l.kernel.fill(400);
  const r = pathSum(net, 2);
  const exact = Math.log10(8) + 59 * Math.log10(6) + 120 * Math.log10(400);
  assert.ok(exact > 308);
  assert.ok(Math.abs(r.log10 - exact) < 1e-9 * exact, `log10 ${r.log10} vs ${exact}`);
  assert.equal(r.value, Infinity);
  // a hand case: W = [[1,3,5],[2,4,6]] (kernel [[1,2],[3,4],[5,6]]): Σ|w| = 21, Σw² = 91
  const one = mlp([3, 2], false, 1);
  const d = one.layers[1];
  if (d.kind !== 'dense') throw new Error();
  d.kernel.set([1, 2, 3, 4, 5, 6]);
  assert.equal(pathSum(one, 1).value, 21);
  assert.equal(pathSum(one, 2).value, 91);
});

test('the tiny reference networks compute what TF.js computes (checks the reference geometry), and so does the engine', async () => {
  await tfCpu();
  for (const net of [convNetA(true), convNetB(), mlp([5, 4, 3, 2], true, 2)]) {
    const size = net.inputShape[0] * net.inputShape[1] * net.inputShape[2];
    const x = randomArray(3 * size, 5, 1);
    const t = tfForward(net, x, 3);
    const y = t.arraySync();
    t.dispose();
    const ours = await logits(net, parameterArrays(net), x, 0, 3);
    const c = net.numClasses;
    for (let b = 0; b < 3; b++) {
      const ref = forward64(net, x.subarray(b * size, (b + 1) * size));
      ref.forEach((v, j) => assert.ok(Math.abs(v - y[b][j]) < 1e-4, `output ${b},${j}: ${v} vs TF.js ${y[b][j]}`));
      ref.forEach((v, j) => assert.ok(Math.abs(v - ours[b * c + j]) < 1e-4, `output ${b},${j}: ${v} vs engine ${ours[b * c + j]}`));
    }
  }
});
