/**
 * Model spec strings and the networks they build.
 *
 *   mlp:1024            one hidden layer of 1024 ReLU units, then a dense output layer
 *   mlp:512,512         two hidden layers
 *   vgg:16,16,M,32,32,M 3x3 convolutions (stride 1, 'same' padding, ReLU) with the given channel counts,
 *                       M = 2x2 max-pooling (stride 2), then flatten and a dense output layer
 *   vgg tokens:         C   a 3x3 conv with C channels (then ReLU)
 *                       M   2x2 max-pool, stride 2 (= M2)
 *                       Mk  kxk max-pool, stride k, 'valid' padding
 *                       Ak  kxk average-pool, stride k, 'valid' padding
 *                       Dn  a hidden dense layer of n ReLU units after flatten; D's come after every
 *                           conv and pool token, several are allowed
 *   vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512
 *                       the network of the paper's released code (on 32x32x3: A4 leaves 1x1x512)
 *
 * Initialisation (the PyTorch default the paper's released code used): every weight and bias is drawn
 * from U(−1/√fan_in, 1/√fan_in), fan_in = inputs of a dense unit or kh·kw·cin of a conv filter, from a
 * seeded generator, one stream per weight layer, in layer order.
 */
import { UserError } from '../errors.js';
import { Rng, deriveSeed } from '../util/random.js';
import { convPadding } from './geometry.js';
import { Layer, Network, Shape3 } from './network.js';

/** A kxk pooling layer with stride k and 'valid' padding (Mk or Ak). */
export interface PoolBlock {
  pool: 'max' | 'avg';
  size: number;
}

/** A conv layer's channel count, 'M' (the 2x2 max-pool, also written M2) or another pooling layer. */
export type VggBlock = number | 'M' | PoolBlock;

export type ModelPlan =
  | { family: 'mlp'; hidden: number[] }
  | {
      family: 'vgg';
      blocks: VggBlock[];
      /** The hidden dense layers (D tokens), after flatten; absent when there are none. */
      dense?: number[];
    };

function positiveInt(s: string, spec: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1) {
    throw new UserError(`--model: bad model spec "${spec}": "${s}" is not a positive whole number`);
  }
  return Number(s);
}

const VGG_TOKENS = 'C (a 3x3 conv with C channels), M, Mk (kxk max-pool), Ak (kxk average-pool) or Dn (dense layer of n units)';

type VggToken = { kind: 'block'; block: VggBlock } | { kind: 'dense'; units: number };

function vggToken(tok: string, spec: string): VggToken {
  if (/^\d+$/.test(tok)) return { kind: 'block', block: positiveInt(tok, spec) };
  const m = /^([MAD])(.*)$/i.exec(tok);
  if (!m) throw new UserError(`--model: bad model spec "${spec}": "${tok}" is not a vgg layer (expected ${VGG_TOKENS})`);
  const letter = m[1].toUpperCase();
  if (letter === 'M' && m[2] === '') return { kind: 'block', block: 'M' };
  if (!/^\d+$/.test(m[2]) || Number(m[2]) < 1) {
    const what = letter === 'D' ? 'Dn needs a positive whole number of units, e.g. D512' : `${letter}k needs a positive whole pool size k, e.g. ${letter}4`;
    throw new UserError(`--model: bad model spec "${spec}": "${tok}" is not a vgg layer (${what})`);
  }
  const n = Number(m[2]);
  if (letter === 'D') return { kind: 'dense', units: n };
  if (letter === 'M' && n === 2) return { kind: 'block', block: 'M' };
  return { kind: 'block', block: { pool: letter === 'M' ? 'max' : 'avg', size: n } };
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
  const blocks: VggBlock[] = [];
  const dense: number[] = [];
  let firstDense = '';
  for (const p of parts) {
    const t = vggToken(p, spec);
    if (t.kind === 'dense') {
      if (!firstDense) firstDense = p;
      dense.push(t.units);
    } else {
      if (firstDense) {
        throw new UserError(`--model: bad model spec "${spec}": "${firstDense}" comes before "${p}"; D (dense) layers must come after every conv and pool layer`);
      }
      blocks.push(t.block);
    }
  }
  if (!blocks.some((b) => typeof b === 'number')) throw new UserError(`--model: bad model spec "${spec}": a vgg needs at least one conv layer`);
  return dense.length > 0 ? { family: 'vgg', blocks, dense } : { family: 'vgg', blocks };
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
      if (typeof b !== 'number') {
        const { pool, size: k } = b === 'M' ? { pool: 'max' as const, size: 2 } : b;
        const ph = convPadding(shape[0], k, k, 'valid');
        const pw = convPadding(shape[1], k, k, 'valid');
        if (ph.out < 1 || pw.out < 1) {
          const letter = pool === 'max' ? 'M' : 'A';
          const tok = b === 'M' ? 'M' : `${letter}${k}`;
          throw new UserError(
            `--model: bad model spec "${spec}": too many ${letter} (${pool === 'max' ? 'max' : 'average'}-pool) layers for ${opts.inputShape.join('x')} inputs: "${tok}" is a ${k}x${k} pool but the map is ${shape[0]}x${shape[1]} there`,
          );
        }
        const outShape: Shape3 = [ph.out, pw.out, shape[2]];
        layers.push({ kind: pool === 'max' ? 'maxpool' : 'avgpool', inShape: shape, outShape, poolSize: [k, k], strides: [k, k], padding: 'valid' });
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
    let size = shape[0] * shape[1] * shape[2];
    for (const h of plan.dense ?? []) {
      denseLayer(size, h);
      layers.push({ kind: 'relu' });
      size = h;
    }
    denseLayer(size, opts.numClasses);
  }
  return { inputShape: [...opts.inputShape] as Shape3, numClasses: opts.numClasses, layers };
}
