/**
 * Model spec strings and the networks they build.
 *
 *   mlp:1024            one hidden layer of 1024 ReLU units, then a dense output layer
 *   mlp:512,512         two hidden layers
 *   vgg:16,16,M,32,32,M 3x3 convolutions (stride 1, 'same' padding, ReLU) with the given channel counts,
 *                       M = 2x2 max-pooling (stride 2), then flatten and a dense output layer
 *
 * Initialisation (the PyTorch default the paper's released code used): every weight and bias is drawn
 * from U(−1/√fan_in, 1/√fan_in), fan_in = inputs of a dense unit or kh·kw·cin of a conv filter, from a
 * seeded generator, one stream per layer.
 */
import { UserError } from '../errors.js';
import { Rng, deriveSeed } from '../util/random.js';
import { convPadding } from '../engine/ops.js';
import { Layer, Network, Shape3 } from './network.js';

export type ModelPlan =
  | { family: 'mlp'; hidden: number[] }
  | { family: 'vgg'; blocks: (number | 'M')[] };

function positiveInt(s: string, spec: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1) {
    throw new UserError(`--model: bad model spec "${spec}": "${s}" is not a positive whole number`);
  }
  return Number(s);
}

export function parseModelSpec(spec: string): ModelPlan {
  const m = /^(mlp|vgg):(.*)$/.exec(spec.trim());
  if (!m) throw new UserError(`--model: unknown model spec "${spec}" (expected e.g. mlp:1024, mlp:512,512 or vgg:16,16,M,32,32,M)`);
  const parts = m[2].split(',').map((s) => s.trim());
  if (m[1] === 'mlp') {
    if (m[2].trim() === '') return { family: 'mlp', hidden: [] };
    return { family: 'mlp', hidden: parts.map((p) => positiveInt(p, spec)) };
  }
  if (m[2].trim() === '') throw new UserError(`--model: bad model spec "${spec}": a vgg needs at least one conv layer, e.g. vgg:16,M`);
  const blocks = parts.map((p) => (p.toUpperCase() === 'M' ? ('M' as const) : positiveInt(p, spec)));
  if (!blocks.some((b) => b !== 'M')) throw new UserError(`--model: bad model spec "${spec}": a vgg needs at least one conv layer`);
  return { family: 'vgg', blocks };
}

function uniformArray(n: number, bound: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rng.uniform() - 1) * bound;
  return a;
}

export interface BuildOptions {
  inputShape: Shape3;
  numClasses: number;
  bias?: boolean;
  seed?: number;
}

/** Build a freshly initialised network for a spec string. */
export function buildNetwork(spec: string, opts: BuildOptions): Network {
  const plan = parseModelSpec(spec);
  const bias = opts.bias ?? false;
  const seed = opts.seed ?? 1;
  const layers: Layer[] = [];
  let wi = 0;
  const denseLayer = (inSize: number, outSize: number) => {
    const rng = new Rng(deriveSeed(seed, `init:${wi++}`));
    const bound = 1 / Math.sqrt(inSize);
    const kernel = uniformArray(inSize * outSize, bound, rng);
    layers.push({ kind: 'dense', inSize, outSize, kernel, bias: bias ? uniformArray(outSize, bound, rng) : null });
  };
  let shape: Shape3 = [...opts.inputShape] as Shape3;
  if (plan.family === 'mlp') {
    let size = shape[0] * shape[1] * shape[2];
    layers.push({ kind: 'flatten', inShape: shape });
    for (const h of plan.hidden) {
      denseLayer(size, h);
      layers.push({ kind: 'relu' });
      size = h;
    }
    denseLayer(size, opts.numClasses);
  } else {
    for (const b of plan.blocks) {
      if (b === 'M') {
        const ph = convPadding(shape[0], 2, 2, 'valid');
        const pw = convPadding(shape[1], 2, 2, 'valid');
        if (ph.out < 1 || pw.out < 1) {
          throw new UserError(`--model: bad model spec "${spec}": too many M (max-pool) layers for ${opts.inputShape.join('x')} inputs`);
        }
        const outShape: Shape3 = [ph.out, pw.out, shape[2]];
        layers.push({ kind: 'maxpool', inShape: shape, outShape, poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
        shape = outShape;
      } else {
        const rng = new Rng(deriveSeed(seed, `init:${wi++}`));
        const fanIn = 9 * shape[2];
        const bound = 1 / Math.sqrt(fanIn);
        const outShape: Shape3 = [shape[0], shape[1], b];
        layers.push({
          kind: 'conv2d',
          inShape: shape,
          outShape,
          kernelSize: [3, 3],
          strides: [1, 1],
          padding: 'same',
          kernel: uniformArray(9 * shape[2] * b, bound, rng),
          bias: bias ? uniformArray(b, bound, rng) : null,
        });
        layers.push({ kind: 'relu' });
        shape = outShape;
      }
    }
    layers.push({ kind: 'flatten', inShape: shape });
    denseLayer(shape[0] * shape[1] * shape[2], opts.numClasses);
  }
  return { inputShape: [...opts.inputShape] as Shape3, numClasses: opts.numClasses, layers };
}
