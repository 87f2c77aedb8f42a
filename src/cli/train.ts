/** `genmeasures train`: train one network the way the paper did and save the run folder. */
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { initEngine, parseDevice, parseThreads, cores } from '../engine/index.js';
import { makeConfig } from '../train/config.js';
import { checkOutDir, trainRun } from '../train/run.js';
import { parseModelSpec } from '../models/spec.js';
import { createTrainProgress } from '../util/progress.js';

export const command: CommandDef = {
  name: 'train',
  summary: 'train a network (SGD as in the paper) and save it with its run record',
  usage: 'genmeasures train [--data SPEC] [--model SPEC] [--train-size N] [--labels true|random] [--seed S] [--out DIR]',
  options: {
    data: { type: 'string', value: 'SPEC', default: 'mnist', help: 'data set: mnist (embedded 10,000 digits), idx:DIR, cifar10:DIR, synthetic[:OPTS]' },
    model: { type: 'string', value: 'SPEC', default: 'mlp:1024', help: 'network: mlp:1024, mlp:512,512, vgg:16,16,M,32,32,M, vgg:64,64,M,128,128,M,256,256,M,512,512,A4,D512 (vgg: C conv, M/Mk max-pool, Ak avg-pool, Dn dense)' },
    'train-size': { type: 'int', value: 'N', min: 1, help: 'train on a seeded, nested subset of N training points [default: all]' },
    labels: { type: 'string', value: 'KIND', default: 'true', choices: ['true', 'random'], help: 'true labels, or random labels drawn once with the seed' },
    confusion: { type: 'int', value: 'N', default: 0, min: 0, help: 'add N random-labelled points from the rest of the training set (confusion set)' },
    classes: { type: 'int', value: 'N', min: 2, help: 'number of classes (network outputs); every label must be below N [default: the data set\'s; for idx:DIR the largest training label + 1, and a label range with empty classes is refused]' },
    bias: { type: 'boolean', help: 'give every layer a bias (the paper\'s networks have none)' },
    seed: { type: 'int', value: 'S', default: 1, help: 'seed for initialisation, subsets, labels and batch order' },
    lr: { type: 'number', value: 'LR', default: 0.01, help: 'SGD learning rate' },
    momentum: { type: 'number', value: 'M', default: 0.9, help: 'SGD momentum' },
    'batch-size': { type: 'int', value: 'B', default: 64, min: 1, help: 'mini-batch size' },
    'target-loss': { type: 'number', value: 'L', default: 0.01, min: 0, help: 'stop when the epoch-average training cross-entropy is below L' },
    'max-epochs': { type: 'int', value: 'N', default: 1000, min: 1, help: 'epoch cap (then the run is marked "did not converge")' },
    'max-minutes': { type: 'number', value: 'MIN', help: 'wall-clock cap in minutes (then "did not converge") [default: none]' },
    out: { type: 'string', value: 'DIR', help: 'run folder to write [default: runs/<model>-<data>-<size>-<labels>-s<seed>]' },
    force: { type: 'boolean', help: 'replace an existing run folder' },
    threads: { type: 'int', value: 'N', min: 1, help: 'ONNX Runtime threads [default: the number of cores]' },
    device: { type: 'string', value: 'NAME', default: 'cpu', choices: ['cpu', 'webgpu', 'cuda'], help: 'execution provider' },
    quiet: { type: 'boolean', help: 'no progress output' },
  },
  epilog: [
    'Examples:',
    '  genmeasures train --data mnist --model mlp:512 --train-size 2000 --seed 1',
    '  genmeasures train --data mnist --model mlp:512 --train-size 2000 --labels random --max-epochs 3000',
    '  genmeasures train --data cifar10:/data/cifar-10-batches-bin --model vgg:32,M,64,M --train-size 5000',
  ].join('\n'),
};

function defaultOut(o: ParsedOptions): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9.,=-]+/g, '_').replace(/^_+|_+$/g, '');
  const dataName = clean(String(o.data).split(':')[0] === 'idx' || String(o.data).split(':')[0] === 'cifar10' ? `${String(o.data).split(':')[0]}-${path.basename(String(o.data).slice(String(o.data).indexOf(':') + 1))}` : String(o.data));
  const size = o['train-size'] !== undefined ? `n${o['train-size']}` : 'all';
  const conf = Number(o.confusion) > 0 ? `-c${o.confusion}` : '';
  return path.join('runs', `${clean(String(o.model).replace(':', '-'))}-${dataName}-${size}${conf}-${o.labels}-s${o.seed}`);
}

export async function run(o: ParsedOptions): Promise<void> {
  const config = makeConfig({
    data: String(o.data),
    model: String(o.model),
    trainSize: o['train-size'] === undefined ? null : Number(o['train-size']),
    labels: o.labels as 'true' | 'random',
    confusion: Number(o.confusion),
    bias: !!o.bias,
    seed: Number(o.seed),
    lr: Number(o.lr),
    momentum: Number(o.momentum),
    batchSize: Number(o['batch-size']),
    targetLoss: Number(o['target-loss']),
    maxEpochs: Number(o['max-epochs']),
    maxMinutes: o['max-minutes'] === undefined ? null : Number(o['max-minutes']),
    classes: o.classes === undefined ? undefined : Number(o.classes),
  });
  parseModelSpec(config.model); // a bad spec fails before any data is loaded
  const out = o.out ? String(o.out) : defaultOut(o);
  checkOutDir(out, !!o.force);
  const backend = await initEngine({ device: parseDevice(String(o.device)), threads: o.threads === undefined ? cores() : parseThreads(Number(o.threads)) });
  const quiet = !!o.quiet;
  const progress = createTrainProgress({ targetLoss: config.targetLoss, maxEpochs: config.maxEpochs, quiet }); // the loss toward the target, log scale
  const tty = !!process.stderr.isTTY;
  const say = (s: string) => {
    if (!quiet) process.stderr.write(s + '\n');
  };
  const { record } = await trainRun(config, backend, {
    out,
    force: !!o.force,
    onStart: ({ m, params, testSize }) =>
      say(`training ${config.model} (${params} weights) on ${m} points of ${config.data} (${config.labels} labels${config.confusion ? `, ${config.confusion} confusion points` : ''}), backend ${backend}, seed ${config.seed}${testSize ? `; ${testSize} test points` : ''}`),
    onEpoch: (rec) => {
      const loss = Number.isFinite(rec.loss) && Math.abs(rec.loss) < 1e4 ? rec.loss.toFixed(4) : rec.loss.toPrecision(4);
      const status = `loss ${loss} train error ${(100 * rec.error).toFixed(2)}% (${rec.seconds.toFixed(1)}s/epoch)`;
      if (tty) progress.update(rec.epoch, rec.loss, `train error ${(100 * rec.error).toFixed(2)}% (${rec.seconds.toFixed(1)}s/epoch)`);
      else say(`epoch ${rec.epoch} ${status}`);
    },
  });
  if (tty) progress.done();
  const f = record.final;
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);
  console.log(record.converged ? `converged: ${record.stopReason}` : `DID NOT CONVERGE: ${record.stopReason.replace(/^did not converge: /, '')}`);
  console.log(`epochs ${record.epochs}, ${record.seconds.toFixed(1)}s (${record.secondsPerEpoch.toFixed(2)}s/epoch)`);
  console.log(`train loss ${f.trainLoss.toFixed(5)}, train error ${pct(f.trainError)}, test error ${pct(f.testError)}${f.testLoss !== null ? ` (test loss ${f.testLoss.toFixed(4)})` : ''}`);
  process.stderr.write(`saved ${path.join(out, 'model.json')} (+ weights.bin, initial/, run.json)\n`);
}
