/**
 * Saving and loading networks in the TensorFlow.js LayersModel format (model.json + weights.bin),
 * loadable by tf.loadLayersModel.
 *
 * Loading accepts any Sequential LayersModel made of Dense, Conv2D, MaxPooling2D, AveragePooling2D,
 * Flatten, ReLU / Activation('relu'|'linear'), BatchNormalization (folded into the preceding linear
 * layer), Dropout (ignored: inference mode) and InputLayer; a softmax on the output layer is dropped
 * (measures use the logits). Any other layer is a clear error naming it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { readFileOrFail, readJsonOrFail, writeFileAtomic } from '../util/fsx.js';
import { convPadding } from './geometry.js';
import { Layer, Network, Shape3, WeightLayer, isWeightLayer } from './network.js';

const GENERATOR = 'genmeasures 0.1.0';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

/** The model.json object and the weight bytes for a network. */
export function toLayersModelArtifacts(net: Network, weightsFile = 'weights.bin'): { modelJson: any; weights: Uint8Array } {
  const layersJson: any[] = [];
  const specs: WeightSpec[] = [];
  const arrays: Float32Array[] = [];
  let first = true;
  const counters: Record<string, number> = {};
  const nameFor = (base: string) => `${base}_${(counters[base] = (counters[base] ?? 0) + 1)}`;
  const withInput = (config: any) => {
    if (first) {
      config.batch_input_shape = [null, ...net.inputShape];
      config.dtype = 'float32';
      first = false;
    }
    return config;
  };
  const ls = net.layers;
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i];
    const nextIsRelu = ls[i + 1]?.kind === 'relu';
    if (l.kind === 'dense' || l.kind === 'conv2d') {
      const name = nameFor(l.kind === 'dense' ? 'dense' : 'conv2d');
      const activation = nextIsRelu ? 'relu' : 'linear';
      if (nextIsRelu) i++;
      const common = {
        name,
        trainable: true,
        activation,
        use_bias: l.bias !== null,
        kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1 / 3, mode: 'fan_in', distribution: 'uniform', seed: null } },
        bias_initializer: { class_name: 'Zeros', config: {} },
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
      };
      if (l.kind === 'dense') {
        layersJson.push({ class_name: 'Dense', config: withInput({ units: l.outSize, ...common }) });
        specs.push({ name: `${name}/kernel`, shape: [l.inSize, l.outSize], dtype: 'float32' });
      } else {
        layersJson.push({
          class_name: 'Conv2D',
          config: withInput({
            filters: l.outShape[2],
            kernel_size: l.kernelSize,
            strides: l.strides,
            padding: l.padding,
            data_format: 'channels_last',
            dilation_rate: [1, 1],
            ...common,
          }),
        });
        specs.push({ name: `${name}/kernel`, shape: [l.kernelSize[0], l.kernelSize[1], l.inShape[2], l.outShape[2]], dtype: 'float32' });
      }
      arrays.push(l.kernel);
      if (l.bias) {
        specs.push({ name: `${name}/bias`, shape: [l.bias.length], dtype: 'float32' });
        arrays.push(l.bias);
      }
    } else if (l.kind === 'relu') {
      layersJson.push({ class_name: 'ReLU', config: withInput({ name: nameFor('re_lu'), trainable: true, max_value: null }) });
    } else if (l.kind === 'maxpool' || l.kind === 'avgpool') {
      layersJson.push({
        class_name: l.kind === 'maxpool' ? 'MaxPooling2D' : 'AveragePooling2D',
        config: withInput({
          name: nameFor(l.kind === 'maxpool' ? 'max_pooling2d' : 'average_pooling2d'),
          trainable: true,
          pool_size: l.poolSize,
          strides: l.strides,
          padding: l.padding,
          data_format: 'channels_last',
        }),
      });
    } else if (l.kind === 'flatten') {
      layersJson.push({ class_name: 'Flatten', config: withInput({ name: nameFor('flatten'), trainable: true, data_format: 'channels_last' }) });
    }
  }
  let total = 0;
  for (const a of arrays) total += a.byteLength;
  const weights = new Uint8Array(total);
  let off = 0;
  for (const a of arrays) {
    weights.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: GENERATOR,
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: 'sequential_1', layers: layersJson },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: [weightsFile], weights: specs }],
  };
  return { modelJson, weights };
}

/** Save as DIR/<base>.json... : writes `modelFile` and its weights file beside it, atomically. */
export function saveNetwork(net: Network, modelFile: string, weightsName = 'weights.bin'): void {
  const { modelJson, weights } = toLayersModelArtifacts(net, weightsName);
  const dir = path.dirname(modelFile);
  writeFileAtomic(path.join(dir, weightsName), weights);
  writeFileAtomic(modelFile, JSON.stringify(modelJson, null, 1));
}

// ---------------------------------------------------------------------------------------------
// Loading

function cfg(config: any, snake: string, camel: string): any {
  if (config[snake] !== undefined) return config[snake];
  return config[camel];
}

function pair(v: any, what: string, file: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new UserError(`${file}: ${what} ${JSON.stringify(v)} is not a number or a pair of numbers`);
}

/** Read the weight bytes named by the manifest, check their total length, return name → array. */
function readWeights(modelFile: string, manifest: any[]): { specs: WeightSpec[]; data: Map<string, Float32Array>; ordered: Float32Array[] } {
  const dir = path.dirname(modelFile);
  const specs: WeightSpec[] = [];
  const buffers: Buffer[] = [];
  const files: string[] = [];
  for (const group of manifest) {
    for (const p of group.paths ?? []) {
      const f = path.join(dir, p);
      files.push(f);
      buffers.push(readFileOrFail(f, 'model weights'));
    }
    for (const w of group.weights ?? []) {
      if (w.quantization) throw new UserError(`${modelFile}: weight ${w.name} is quantized; only float32 weights are supported`);
      if ((w.dtype ?? 'float32') !== 'float32') throw new UserError(`${modelFile}: weight ${w.name} has dtype ${w.dtype}; only float32 weights are supported`);
      specs.push({ name: w.name, shape: w.shape, dtype: 'float32' });
    }
  }
  const all = Buffer.concat(buffers);
  const needed = specs.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (all.length !== needed) {
    const where = files.length === 1 ? files[0] : `the weight files (${files.join(', ')})`;
    throw new UserError(`${where} has ${all.length} bytes but ${modelFile} describes ${needed} bytes of weights (${all.length < needed ? 'truncated' : 'too long'})`);
  }
  const data = new Map<string, Float32Array>();
  const ordered: Float32Array[] = [];
  let off = 0;
  for (const w of specs) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const arr = new Float32Array(n);
    for (let i = 0; i < n; i++) arr[i] = all.readFloatLE(off + 4 * i);
    off += 4 * n;
    data.set(w.name, arr);
    ordered.push(arr);
  }
  return { specs, data, ordered };
}

/** A weight array with a NaN or an infinity is not a usable model (e.g. saved from a run that diverged): a one-line UserError. */
function checkFinite(modelFile: string, layerName: string, what: string, arr: Float32Array): void {
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  if (nan + inf === 0) return;
  const kinds = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean).join(' and ');
  throw new UserError(
    `${modelFile}: layer ${layerName} has ${kinds} ${what} value${nan + inf > 1 ? 's' : ''} (of ${arr.length}); the weights are not usable (did its training diverge?)`,
  );
}

/** Parse a model.json file (and its weights) into a Network. NaN or infinite weights are refused, naming the layer. */
export function loadNetwork(modelFile: string): Network & { notes: string[] } {
  if (!fs.existsSync(modelFile)) throw new UserError(`--model: ${modelFile} does not exist`);
  const json = readJsonOrFail(modelFile, '--model');
  let topo = json.modelTopology;
  if (!topo) throw new UserError(`${modelFile}: no modelTopology (is it a TF.js LayersModel model.json? graph models cannot be measured)`);
  if (topo.model_config) topo = topo.model_config;
  if (topo.class_name !== 'Sequential') {
    throw new UserError(`${modelFile}: the model is a ${topo.class_name}; only Sequential models are supported`);
  }
  const layerDefs: any[] = Array.isArray(topo.config) ? topo.config : topo.config?.layers;
  if (!Array.isArray(layerDefs) || layerDefs.length === 0) throw new UserError(`${modelFile}: the Sequential model has no layers`);
  const { specs, data, ordered } = readWeights(modelFile, json.weightsManifest ?? []);
  let nextOrdered = 0;
  const used = new Set<string>();
  const take = (layerName: string, suffix: string, shape: number[]): Float32Array => {
    const wanted = `${layerName}/${suffix}`;
    let found: WeightSpec | undefined = specs.find((s) => s.name === wanted && !used.has(s.name));
    if (!found) found = specs.find((s) => s.name.endsWith(`/${wanted}`) && !used.has(s.name));
    let arr: Float32Array | undefined;
    if (found) {
      used.add(found.name);
      arr = data.get(found.name);
      if (found.shape.join(',') !== shape.join(',')) {
        throw new UserError(`${modelFile}: weight ${found.name} has shape [${found.shape}] but layer ${layerName} needs [${shape}]`);
      }
    } else {
      // fall back to manifest order
      while (nextOrdered < specs.length && used.has(specs[nextOrdered].name)) nextOrdered++;
      if (nextOrdered >= specs.length) throw new UserError(`${modelFile}: no weight ${wanted} in the weights manifest`);
      const s = specs[nextOrdered];
      if (s.shape.reduce((a, b) => a * b, 1) !== shape.reduce((a, b) => a * b, 1)) {
        throw new UserError(`${modelFile}: no weight ${wanted} in the weights manifest`);
      }
      used.add(s.name);
      arr = ordered[nextOrdered++];
    }
    checkFinite(modelFile, layerName, suffix, arr!);
    return arr!;
  };

  const notes: string[] = [];
  const layers: Layer[] = [];
  let inputShape: Shape3 | null = null;
  let shape: number[] | null = null; // current activation shape without batch
  const need = (name: string): number[] => {
    if (!shape) throw new UserError(`${modelFile}: layer ${name} comes before the input shape is known (no batch_input_shape)`);
    return shape;
  };
  const setInput = (config: any) => {
    const bis = cfg(config, 'batch_input_shape', 'batchInputShape');
    const is = bis ? bis.slice(1) : cfg(config, 'input_shape', 'inputShape');
    if (is && !shape) {
      if (is.some((v: any) => typeof v !== 'number')) throw new UserError(`${modelFile}: input shape ${JSON.stringify(is)} has unknown sizes`);
      shape = [...is];
      if (is.length === 1) inputShape = [1, 1, is[0]];
      else if (is.length === 2) inputShape = [is[0], is[1], 1];
      else if (is.length === 3) inputShape = [is[0], is[1], is[2]];
      else throw new UserError(`${modelFile}: input shape ${JSON.stringify(is)} is not supported (rank 1 to 3 expected)`);
    }
  };
  const addActivation = (act: string | undefined, name: string, isLast: boolean) => {
    const a = act ?? 'linear';
    if (a === 'relu') layers.push({ kind: 'relu' });
    else if (a === 'linear') return;
    else if (a === 'softmax' && isLast) notes.push(`the softmax of the output layer ${name} is left out: measures use the logits`);
    else throw new UserError(`${modelFile}: layer ${name} has activation "${a}"; only relu and linear are supported`);
  };
  const lastIndex = (() => {
    let k = layerDefs.length - 1;
    while (k > 0 && ['Dropout', 'Activation', 'Softmax'].includes(layerDefs[k].class_name)) k--;
    return k;
  })();

  layerDefs.forEach((def, idx) => {
    const cls: string = def.class_name;
    const config = def.config ?? {};
    const name: string = config.name ?? `${cls}_${idx}`;
    setInput(config);
    const isLast = idx >= lastIndex;
    switch (cls) {
      case 'InputLayer':
        break;
      case 'Dense': {
        const s = need(name);
        let inSize: number;
        if (s.length === 1) inSize = s[0];
        else if (s.length === 3 && s[0] === 1 && s[1] === 1) inSize = s[2];
        else throw new UserError(`${modelFile}: Dense layer ${name} gets a [${s}] input; add a Flatten before it`);
        const units = cfg(config, 'units', 'units');
        const useBias = cfg(config, 'use_bias', 'useBias') ?? true;
        const kernel = take(name, 'kernel', [inSize, units]);
        const bias = useBias ? take(name, 'bias', [units]) : null;
        layers.push({ kind: 'dense', inSize, outSize: units, kernel, bias });
        shape = [units];
        addActivation(config.activation, name, isLast);
        break;
      }
      case 'Conv2D': {
        const s = need(name);
        if (s.length !== 3) throw new UserError(`${modelFile}: Conv2D layer ${name} gets a [${s}] input, not [height, width, channels]`);
        const df = cfg(config, 'data_format', 'dataFormat') ?? 'channels_last';
        if (df !== 'channels_last') throw new UserError(`${modelFile}: Conv2D layer ${name} uses ${df}; only channels_last is supported`);
        const dil = pair(cfg(config, 'dilation_rate', 'dilationRate') ?? 1, 'dilation_rate', modelFile);
        if (dil[0] !== 1 || dil[1] !== 1) throw new UserError(`${modelFile}: Conv2D layer ${name} is dilated; dilated convolutions are not supported`);
        const k = pair(cfg(config, 'kernel_size', 'kernelSize'), 'kernel_size', modelFile);
        const st = pair(cfg(config, 'strides', 'strides') ?? 1, 'strides', modelFile);
        const padding = (config.padding ?? 'valid') as string;
        if (padding !== 'same' && padding !== 'valid') throw new UserError(`${modelFile}: Conv2D layer ${name} has padding "${padding}"`);
        const filters: number = config.filters;
        const ph = convPadding(s[0], k[0], st[0], padding);
        const pw = convPadding(s[1], k[1], st[1], padding);
        const inShape: Shape3 = [s[0], s[1], s[2]];
        const outShape: Shape3 = [ph.out, pw.out, filters];
        const useBias = cfg(config, 'use_bias', 'useBias') ?? true;
        const kernel = take(name, 'kernel', [k[0], k[1], s[2], filters]);
        const bias = useBias ? take(name, 'bias', [filters]) : null;
        layers.push({ kind: 'conv2d', inShape, outShape, kernelSize: k, strides: st, padding, kernel, bias });
        shape = outShape;
        addActivation(config.activation, name, isLast);
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const s = need(name);
        if (s.length !== 3) throw new UserError(`${modelFile}: ${cls} layer ${name} gets a [${s}] input`);
        const ps = pair(cfg(config, 'pool_size', 'poolSize') ?? 2, 'pool_size', modelFile);
        const st = pair(cfg(config, 'strides', 'strides') ?? ps, 'strides', modelFile);
        const padding = (config.padding ?? 'valid') as 'same' | 'valid';
        const ph = convPadding(s[0], ps[0], st[0], padding);
        const pw = convPadding(s[1], ps[1], st[1], padding);
        const inShape: Shape3 = [s[0], s[1], s[2]];
        const outShape: Shape3 = [ph.out, pw.out, s[2]];
        layers.push({ kind: cls === 'MaxPooling2D' ? 'maxpool' : 'avgpool', inShape, outShape, poolSize: ps, strides: st, padding });
        shape = outShape;
        break;
      }
      case 'Flatten': {
        const s = need(name);
        const size = s.reduce((a, b) => a * b, 1);
        if (s.length === 3) layers.push({ kind: 'flatten', inShape: [s[0], s[1], s[2]] });
        else layers.push({ kind: 'flatten', inShape: [1, 1, size] });
        shape = [size];
        break;
      }
      case 'ReLU': {
        const mv = cfg(config, 'max_value', 'maxValue');
        if (mv !== null && mv !== undefined) throw new UserError(`${modelFile}: ReLU layer ${name} has max_value ${mv}; only the plain ReLU is supported`);
        layers.push({ kind: 'relu' });
        break;
      }
      case 'Activation':
        addActivation(config.activation, name, isLast);
        break;
      case 'Softmax':
        if (!isLast) throw new UserError(`${modelFile}: Softmax layer ${name} is not at the output; not supported`);
        notes.push(`the softmax layer ${name} is left out: measures use the logits`);
        break;
      case 'Dropout':
        break;
      case 'BatchNormalization': {
        const prev = layers[layers.length - 1];
        if (!prev || !isWeightLayer(prev)) {
          throw new UserError(`${modelFile}: BatchNormalization layer ${name} does not directly follow a Dense or Conv2D layer, so it cannot be folded`);
        }
        const units = prev.kind === 'dense' ? prev.outSize : prev.outShape[2];
        const axis = config.axis ?? -1;
        const axisOk = axis === -1 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === need(name).length));
        if (!(axisOk || axis === need(name).length)) throw new UserError(`${modelFile}: BatchNormalization layer ${name} normalises axis ${JSON.stringify(axis)}; only the channel axis is supported`);
        const eps = config.epsilon ?? 1e-3;
        const gamma = (config.scale ?? true) ? take(name, 'gamma', [units]) : new Float32Array(units).fill(1);
        const beta = (config.center ?? true) ? take(name, 'beta', [units]) : new Float32Array(units);
        const mean = take(name, 'moving_mean', [units]);
        const variance = take(name, 'moving_variance', [units]);
        foldBatchNorm(prev, gamma, beta, mean, variance, eps);
        notes.push(`BatchNormalization layer ${name} folded into the preceding layer`);
        break;
      }
      default:
        throw new UserError(`${modelFile}: layer ${name} of type ${cls} is not supported (supported: Dense, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, ReLU, Activation, BatchNormalization, Dropout)`);
    }
  });
  if (!inputShape) throw new UserError(`${modelFile}: the model does not say its input shape (batch_input_shape)`);
  const final = shape as number[] | null;
  if (!final || final.length !== 1) throw new UserError(`${modelFile}: the model's output has shape [${final}], not a vector of class scores`);
  if (!layers.some(isWeightLayer)) throw new UserError(`${modelFile}: the model has no Dense or Conv2D layer`);
  return { inputShape: inputShape as Shape3, numClasses: final[0], layers, notes };
}

/** y = γ (x − μ)/√(σ²+ε) + β folded into the preceding layer's kernel and bias (a bias is added if absent). */
export function foldBatchNorm(l: WeightLayer, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, eps: number): void {
  const units = gamma.length;
  const scale = new Float64Array(units);
  for (let u = 0; u < units; u++) scale[u] = gamma[u] / Math.sqrt(variance[u] + eps);
  const kernel = l.kernel.slice();
  for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i] * scale[i % units];
  const bias = new Float32Array(units);
  for (let u = 0; u < units; u++) bias[u] = ((l.bias ? l.bias[u] : 0) - mean[u]) * scale[u] + beta[u];
  l.kernel = kernel;
  l.bias = bias;
}
