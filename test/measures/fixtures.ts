/** A small network trained on real MNIST digits, shared by the slower measure tests (trained once per process). */
import { loadData } from '../../src/data/index.js';
import { subset } from '../../src/data/transforms.js';
import type { Dataset } from '../../src/data/types.js';
import type { Network } from '../../src/models/network.js';
import { buildNetwork } from '../../src/models/spec.js';
import { trainSmall } from './train.js';

let cached: Promise<{ net: Network; data: Dataset }> | null = null;

/** mlp:16 trained for 12 epochs on 500 MNIST digits (inputs ubyte/255). */
export function trainedMnist(): Promise<{ net: Network; data: Dataset }> {
  cached ??= (async () => {
    const data = subset(loadData('mnist').train, 500, 11);
    const net = await trainSmall(buildNetwork('mlp:16', { inputShape: [28, 28, 1], numClasses: 10, seed: 5 }), data, { epochs: 12, lr: 0.05, batch: 50 });
    return { net, data };
  })();
  return cached;
}
