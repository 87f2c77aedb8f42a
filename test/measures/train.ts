/**
 * A small SGD loop for the measure tests: momentum SGD (μ = 0.9; v ← μv + g, w ← w − lr·v) on the mean
 * cross-entropy, mini-batches in data order (no reshuffle), run by the engine's SgdProgram.
 */
import type { Dataset } from '../../src/data/types.js';
import { SgdProgram } from '../../src/engine/programs.js';
import { Network, cloneNetwork, parameterArrays } from '../../src/models/network.js';

export async function trainSmall(start: Network, data: Dataset, opts: { epochs: number; lr: number; batch: number }): Promise<Network> {
  const net = cloneNetwork(start);
  const sgd = new SgdProgram(net, parameterArrays(net), opts.batch, opts.lr, 0.9);
  const y = new BigInt64Array(data.n);
  for (let i = 0; i < data.n; i++) y[i] = BigInt(data.y[i]);
  const order = new BigInt64Array(data.n);
  for (let i = 0; i < data.n; i++) order[i] = BigInt(i);
  const batches = Math.ceil(data.n / opts.batch);
  for (let e = 0; e < opts.epochs; e++) await sgd.steps(data.x, y, order, data.n, 0, batches);
  // the trained weights, into the network's own arrays
  const arrays = parameterArrays(net);
  sgd.params.forEach((p, i) => arrays[i].set(p));
  return net;
}
