/** `genmeasures export-model`: write a trained network in another format (ONNX). */
import fs from 'node:fs';
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { UserError } from '../errors.js';
import { loadAnyNetwork } from '../models/load.js';
import { countParams } from '../models/network.js';
import { networkToOnnx } from '../models/onnxExport.js';
import { checkOutputFile, writeOutput } from '../util/output.js';

export const command: CommandDef = {
  name: 'export-model',
  summary: 'write a trained network as an ONNX model (NCHW input, the same logits)',
  usage: 'genmeasures export-model RUN_DIR|MODEL.json --format onnx --out FILE',
  positionals: true,
  options: {
    format: { type: 'string', value: 'FORMAT', default: 'onnx', choices: ['onnx'], help: 'onnx: an ONNX model (opset 17) that ONNX Runtime and PyTorch tools load' },
    out: { type: 'string', value: 'FILE', help: 'the file to write (replaced atomically; - for standard output)' },
  },
  epilog: [
    'The model takes `input`, float32 [N, C, H, W] (NCHW, as PyTorch) for a network with convolutions, or',
    '[N, D] for an MLP (an image flattened in PyTorch\'s C, H, W order), and gives `logits` [N, classes]: the',
    'logits genmeasures computes on the same images in NHWC, within float32 rounding.',
    '',
    'Examples:',
    '  genmeasures export-model runs/a --format onnx --out a.onnx',
    '  genmeasures export-model runs/a/model.json --out a.onnx',
  ].join('\n'),
};

/** RUN_DIR → RUN_DIR/model.json; a file as it is. */
function resolveModel(given: string): string {
  if (!fs.existsSync(given)) throw new UserError(`${given} does not exist (give a run folder or its model.json)`);
  if (fs.statSync(given).isDirectory()) {
    const file = path.join(given, 'model.json');
    if (!fs.existsSync(file)) throw new UserError(`${given} is a folder without model.json (give a run folder or a model file)`);
    return file;
  }
  return given;
}

export async function run(o: ParsedOptions, positionals: string[] = []): Promise<void> {
  if (positionals.length === 0) throw new UserError('a run folder or a model file is needed (genmeasures export-model RUN_DIR --format onnx --out FILE)');
  if (positionals.length > 1) throw new UserError(`one model at a time (got ${positionals.length}: ${positionals.join(', ')})`);
  if (o.out === undefined) throw new UserError('--out FILE is required');
  if ((o.format ?? 'onnx') !== 'onnx') throw new UserError(`--format: "${o.format}" is not one of onnx`);
  const target = checkOutputFile(String(o.out), '--out');
  const file = resolveModel(positionals[0]);
  const net = loadAnyNetwork(file);
  const bytes = networkToOnnx(net);
  writeOutput(target, bytes, '--out');
  if (target.kind !== 'stdout') {
    const [h, w, c] = net.inputShape;
    const conv = net.layers.some((l) => l.kind === 'conv2d' || l.kind === 'maxpool' || l.kind === 'avgpool');
    const shape = conv ? `[N, ${c}, ${h}, ${w}] (NCHW)` : `[N, ${h * w * c}]`;
    process.stderr.write(`wrote ${target.given}: ONNX opset 17, input ${shape}, output logits [N, ${net.numClasses}], ${countParams(net)} weights\n`);
  }
}
