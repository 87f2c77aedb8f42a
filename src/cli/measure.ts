/** `genmeasures measure`: compute the complexity measures of a trained network on a data set. */
import fs from 'node:fs';
import path from 'node:path';
import { CommandDef, ParsedOptions } from './args.js';
import { UserError, isUserError } from '../errors.js';
import { initEngine, parseDevice, parseThreads, cores } from '../engine/index.js';
import { loadData } from '../data/index.js';
import { normalize, subset } from '../data/transforms.js';
import type { Dataset } from '../data/types.js';
import { isOnnxFile, loadAnyNetwork } from '../models/load.js';
import type { Network } from '../models/network.js';
import { loadRunData, resolveRunJson } from '../train/prepare.js';
import { checkDataMatchesNetwork, checkSameArchitecture, computeMeasures, DEFAULTS, MEASURES, MEASURE_NAMES, parseMeasureList, type MeasureReport } from '../measures/index.js';
import { fromFlags, withMeasureFlags } from '../measures/options.js';
import { createProgress, formatDuration } from '../util/progress.js';
import { checkOutputFile, sameTarget, writeOutput, type OutputTarget } from '../util/output.js';
import { evaluateNetwork } from '../measures/margin.js';
import { writeModelReport } from '../report/single.js';
import { importPlugin, preparePlugin } from '../util/plugins.js';

/** The command's own flags; the measure options' flags come from their declarations (measures/options.ts). */
const OWN_FLAGS_BEFORE: CommandDef['options'] = {
  model: { type: 'string', value: 'FILE', help: 'the network: a TF.js LayersModel model.json (a run folder\'s DIR/model.json) or an ONNX model (e.g. exported from PyTorch); DIR/initial/model.json (or model.onnx), if present, gives the initial weights' },
  init: { type: 'string', value: 'FILE', help: 'the initial weights (same architecture; model.json or .onnx), for dist_from_init, bartlett_spectral and pac_bayes_optimized' },
  data: {
    type: 'string',
    value: 'SPEC',
    help: 'a run\'s run.json (or its folder): exactly the points, labels and normalisation it was trained on; or mnist, idx:DIR, cifar10:DIR, synthetic[:OPTS], used as loaded (ubyte/255)',
  },
  split: { type: 'string', value: 'PART', default: 'train', choices: ['train', 'test'], help: 'which part of the data to measure on' },
  'train-size': { type: 'int', value: 'N', min: 1, help: 'measure on a seeded, nested subset of N points [default: all]' },
  normalize: { type: 'string', value: 'MEAN,STD', help: 'normalise directly named data: (x − MEAN)/STD for every channel, or per channel m1,m2,m3/s1,s2,s3' },
};
const OWN_FLAGS_AFTER: CommandDef['options'] = {
  json: { type: 'string', value: 'FILE', help: 'also write the full report as JSON to FILE (- for standard output instead of the table)' },
  html: { type: 'string', value: 'FILE', help: 'also write a one-model HTML report: the measures, a histogram of the training margins, the PAC-Bayes curve (- for standard output instead of the table)' },
  threads: { type: 'int', value: 'N', min: 1, help: 'ONNX Runtime threads [default: the number of cores]' },
  device: { type: 'string', value: 'NAME', default: 'cpu', choices: ['cpu', 'webgpu', 'cuda'], help: 'execution provider' },
  plugin: { type: 'string', value: 'FILE', help: 'an ES module to import first, e.g. one whose top level calls defineMeasure (and defineOption): its measures are computed with the others, its options are flags here' },
  quiet: { type: 'boolean', help: 'no progress output' },
};

/** One line per measure of the registry (a plugin's included): its name and summary, as --help lists them. */
export function measureList(width = 110): string[] {
  const w = Math.max(...MEASURES.map((m) => m.name.length)) + 2;
  return MEASURES.map((m) => {
    const line = `  ${m.name.padEnd(w)}${m.summary}`;
    return line.length > width ? line.slice(0, width - 1) + '…' : line;
  });
}

/**
 * The option table, built when it is read: after the --plugin is imported (prepare), so that a plugin's
 * measures are in the --measures help and the measure list, and its options are flags.
 */
export const command: CommandDef = {
  name: 'measure',
  summary: 'compute the complexity measures of a trained network on its training set',
  usage: 'genmeasures measure --model DIR/model.json --data SPEC [--train-size N] [--measures a,b,…] [--json FILE] [--plugin FILE]',
  get options(): CommandDef['options'] {
    const measures: CommandDef['options'][string] = { type: 'string', value: 'LIST', help: `comma-separated measures [default: all]: ${MEASURE_NAMES.join(', ')}` };
    return withMeasureFlags('measure', { ...OWN_FLAGS_BEFORE, measures, ...OWN_FLAGS_AFTER }, { withDefaults: true });
  },
  get epilog(): string {
    return [
      'Measures (--plugin FILE adds its own):',
      ...measureList(),
      '',
      'Examples:',
      '  genmeasures measure --model runs/a/model.json --data runs/a/run.json',
      '  genmeasures measure --model runs/a/model.json --data runs/a --measures margin,l2,spectral --json a.json',
      '  genmeasures measure --model m/model.json --data idx:/data/mnist --normalize 0.1307,0.3081 --train-size 5000',
      '  genmeasures measure --model runs/a/model.json --data runs/a --plugin ./my-measure.mjs',
      '',
      'Null values come with a note saying why (e.g. a margin that is not positive). Large measures are also',
      'given as log10 in components.log10.',
      '',
      'Output files are checked before measuring (an existing folder, a missing or read-only folder is refused)',
      'and replaced atomically; a symbolic link is followed (the file it points to is replaced), a FIFO or a',
      'device (/dev/null, /dev/stdout) is written directly. "wrote FILE" messages go to standard error.',
    ].join('\n');
  },
};

/** Before parsing: import the --plugin (its measures and option flags must be known to the parser and --help). */
export const prepare = preparePlugin;

interface LoadedData {
  data: Dataset;
  description: string;
  notes: string[];
}

/** Whether --data names a run (its run.json or folder) rather than a data set spec. */
function isRunData(spec: string): boolean {
  if (/^(mnist|synthetic|idx|cifar10)(:|$)/.test(spec)) return false;
  if (!fs.existsSync(spec)) {
    if (spec.endsWith('.json')) throw new UserError(`--data: ${spec} does not exist`);
    return false;
  }
  if (fs.statSync(spec).isDirectory()) {
    if (fs.existsSync(path.join(spec, 'run.json'))) return true;
    throw new UserError(`--data: ${spec} is a folder without run.json (for data files in a folder use idx:DIR or cifar10:DIR)`);
  }
  return true;
}

/** "0.13,0.31" (every channel) or "m1,m2,m3/s1,s2,s3" (per channel). */
export function parseNormalize(text: string, channels: number): { mean: number[]; std: number[] } {
  const nums = (s: string) =>
    s.split(',').map((v) => {
      const x = Number(v);
      if (v.trim() === '' || !Number.isFinite(x)) throw new UserError(`--normalize: "${v}" is not a number (expected MEAN,STD or m1,m2,m3/s1,s2,s3)`);
      return x;
    });
  let mean: number[];
  let std: number[];
  if (text.includes('/')) {
    const [a, b, ...rest] = text.split('/');
    if (rest.length) throw new UserError(`--normalize: "${text}" has more than one "/"`);
    mean = nums(a);
    std = nums(b);
    if (mean.length !== channels || std.length !== channels) {
      throw new UserError(`--normalize: ${mean.length} means and ${std.length} stds given for data with ${channels} channel(s)`);
    }
  } else {
    const v = nums(text);
    if (v.length !== 2) throw new UserError(`--normalize: expected MEAN,STD (two numbers) or m1,m2,m3/s1,s2,s3, got "${text}"`);
    mean = new Array(channels).fill(v[0]);
    std = new Array(channels).fill(v[1]);
  }
  if (std.some((s) => !(s > 0))) throw new UserError(`--normalize: standard deviations must be positive (got ${std.join(', ')})`);
  return { mean, std };
}

export function loadMeasureData(o: ParsedOptions): LoadedData {
  const spec = String(o.data);
  const split = String(o.split ?? 'train');
  const seed = Number(o.seed ?? DEFAULTS.seed);
  const notes: string[] = [];
  let data: Dataset;
  let description: string;
  if (isRunData(spec)) {
    if (o.normalize !== undefined) throw new UserError('--normalize cannot be used with a run\'s run.json: the run\'s own normalisation is applied');
    const file = resolveRunJson(spec);
    const rd = loadRunData(file);
    if (split === 'test') {
      if (!rd.test) throw new UserError(`--split test: the data of ${file} (${rd.config.data}) has no test part`);
      data = rd.test;
      description = `${file} (test part of ${rd.config.data}, normalised as in training)`;
    } else {
      data = rd.train;
      description = `${file} (the run's training set, normalised as in training)`;
      if (rd.trueCount > 0 && rd.trueCount < rd.train.n) {
        data = { ...rd.train, n: rd.trueCount, x: rd.train.x.subarray(0, rd.trueCount * rd.train.shape[0] * rd.train.shape[1] * rd.train.shape[2]), y: rd.train.y.subarray(0, rd.trueCount) };
        notes.push(`measured on the ${rd.trueCount} true-labelled training points of the run (its ${rd.train.n - rd.trueCount} random-labelled confusion points left out, as in the paper's experiment 2)`);
      }
    }
  } else {
    const parts = loadData(spec, { seed });
    if (split === 'test') {
      if (!parts.test) throw new UserError(`--split test: ${spec} has no test part`);
      data = parts.test;
    } else data = parts.train;
    description = `${spec} (${split} part${o.normalize !== undefined ? `, normalised with ${o.normalize}` : ', as loaded'})`;
    if (o.normalize !== undefined) data = normalize(data, parseNormalize(String(o.normalize), data.shape[2]));
  }
  if (o['train-size'] !== undefined) {
    data = subset(data, Number(o['train-size']), seed, '--train-size');
    notes.push(`measured on a seeded subset of ${data.n} points (seed ${seed})`);
  }
  return { data, description, notes };
}

/** The initial weights beside the model, or a reason why there are none. */
function loadInitial(modelFile: string, net: Network, given: string | undefined): { initial: Network | null; reason: string } {
  if (given !== undefined) {
    // named by the user: it must load and match
    const initial = loadAnyNetwork(given);
    checkSameArchitecture(net, initial, `--init ${given}`);
    return { initial, reason: '' };
  }
  const file = path.join(path.dirname(modelFile), 'initial', isOnnxFile(modelFile) ? 'model.onnx' : 'model.json');
  if (!fs.existsSync(file)) return { initial: null, reason: `no initial weights (${file} not found; --init FILE names them)` };
  try {
    const initial = loadAnyNetwork(file);
    checkSameArchitecture(net, initial, `the initial weights ${file}`);
    return { initial, reason: '' };
  } catch (e) {
    if (!isUserError(e)) throw e;
    return { initial: null, reason: `the initial weights could not be used: ${e.message}` };
  }
}

export function formatValue(v: number | null): string {
  if (v === null) return 'null';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(4);
  return v.toPrecision(5);
}

export function formatTable(report: MeasureReport): string {
  const names = Object.keys(report.measures);
  const w = Math.max(7, ...names.map((n) => n.length)) + 2;
  const values = names.map((n) => formatValue(report.measures[n]));
  const vw = Math.max(5, ...values.map((v) => v.length)) + 2;
  const time = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : formatDuration(ms));
  const lines = [`${'measure'.padEnd(w)}${'value'.padStart(vw)}${'time'.padStart(10)}`];
  names.forEach((n, i) => lines.push(`${n.padEnd(w)}${values[i].padStart(vw)}${time(report.timings_ms[n] ?? 0).padStart(10)}`));
  const total = Object.values(report.timings_ms).reduce((a, b) => a + b, 0);
  lines.push(`${'total'.padEnd(w)}${''.padStart(vw)}${time(total).padStart(10)}`);
  // the shared quantities, each timed under its own name (their time is inside the first measure that read them)
  const q = Object.entries(report.quantity_timings_ms ?? {}).filter(([, ms]) => ms > 0);
  if (q.length) lines.push('', `shared quantities (timed inside the first measure that read them): ${q.map(([n, ms]) => `${n} ${time(ms)}`).join(', ')}`);
  if (report.notes.length) {
    lines.push('', 'notes:');
    for (const n of report.notes) lines.push(`  - ${n}`);
  }
  return lines.join('\n');
}

export async function run(o: ParsedOptions): Promise<void> {
  if (o.model === undefined) throw new UserError('--model FILE is required (a model.json, e.g. runs/a/model.json)');
  if (o.data === undefined) throw new UserError('--data SPEC is required (a run\'s run.json, or mnist, idx:DIR, cifar10:DIR, synthetic)');
  if (o.plugin !== undefined) await importPlugin(String(o.plugin));
  const measures = o.measures !== undefined ? parseMeasureList(String(o.measures)) : undefined;
  // every measure option from its flag (declared in measures/options.ts; a plugin's too), checked now
  const optionValues = fromFlags('measure', o);
  // Output paths are checked before any work: a bad one fails at once, not after minutes of measuring.
  const jsonTarget: OutputTarget | null = o.json !== undefined ? checkOutputFile(String(o.json), '--json') : null;
  const htmlTarget: OutputTarget | null = o.html !== undefined ? checkOutputFile(String(o.html), '--html') : null;
  if (jsonTarget && htmlTarget && sameTarget(jsonTarget, htmlTarget)) {
    throw new UserError(`--json ${jsonTarget.given} and --html ${htmlTarget.given} name the same ${jsonTarget.kind === 'stdout' ? 'output (standard output)' : 'file'}; give them different files`);
  }
  const modelFile = String(o.model);
  const net = loadAnyNetwork(modelFile);
  const { initial, reason } = loadInitial(modelFile, net, o.init === undefined ? undefined : String(o.init));
  const backend = await initEngine({ device: parseDevice(String(o.device ?? 'cpu')), threads: o.threads === undefined ? cores() : parseThreads(Number(o.threads)) });
  const { data, description, notes: dataNotes } = loadMeasureData(o);
  checkDataMatchesNetwork(net, data);
  const quiet = !!o.quiet;
  const toStdout = jsonTarget?.kind === 'stdout' || htmlTarget?.kind === 'stdout';
  if (!quiet) process.stderr.write(`measuring ${modelFile} on ${data.n} points of ${description}, backend ${backend}\n`);
  const report = await computeMeasures(
    net,
    data,
    {
      measures,
      ...optionValues,
      initial,
      initialMissing: reason,
    },
    (label, total) => createProgress({ total, label, quiet }),
  );
  report.notes.unshift(...net.notes, ...dataNotes);
  const out = {
    model: modelFile,
    data: String(o.data),
    split: String(o.split ?? 'train'),
    m: data.n,
    backend,
    measures: report.measures,
    components: report.components,
    pac_bayes_curve: report.pac_bayes_curve,
    notes: report.notes,
    timings_ms: report.timings_ms,
    quantity_timings_ms: report.quantity_timings_ms ?? {},
  };
  // Standard output carries the table (first: a failed write loses nothing), unless --json - or --html - use it for their data.
  if (!toStdout) console.log(formatTable(report));
  const say = (msg: string) => {
    if (!quiet) process.stderr.write(msg + '\n');
  };
  if (htmlTarget) {
    const { margins } = await evaluateNetwork(net, data);
    await writeModelReport(htmlTarget, { model: modelFile, data: description, m: data.n, report, margins });
    if (htmlTarget.kind === 'file' || htmlTarget.kind === 'stream') say(`wrote ${htmlTarget.given}`);
  }
  if (jsonTarget) {
    writeOutput(jsonTarget, JSON.stringify(out, null, 1) + '\n');
    if (jsonTarget.kind === 'file' || jsonTarget.kind === 'stream') say(`wrote ${jsonTarget.given}`);
  }
}
