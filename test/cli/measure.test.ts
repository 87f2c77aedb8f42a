import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveNetwork } from '../../src/models/io.js';
import { buildNetwork } from '../../src/models/spec.js';
import { formatValue, parseNormalize } from '../../src/cli/measure.js';
import { isUserError } from '../../src/errors.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genmeasures-measure-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/**
 * The command line to run `genmeasures measure`: main.js once `measure` is registered in its command table,
 * until then a stand-in that does what main.js does (parse, run, UserError → one line + exit 2).
 */
function entry(): string[] {
  const probe = spawnSync(process.execPath, [MAIN, 'measure', '--help'], { encoding: 'utf8' });
  if (probe.status === 0) return [MAIN, 'measure'];
  const shim = path.join(tmp, 'measure-shim.mjs');
  const url = (p: string) => new URL(p, import.meta.url).href;
  fs.writeFileSync(
    shim,
    [
      `import { parseCommand, helpText } from '${url('../../src/cli/args.js')}';`,
      `import * as m from '${url('../../src/cli/measure.js')}';`,
      `import { isUserError } from '${url('../../src/errors.js')}';`,
      'try {',
      '  const { options, positionals, help } = parseCommand(m.command, process.argv.slice(2));',
      '  if (help) console.log(helpText(m.command)); else await m.run(options, positionals);',
      '} catch (e) { if (isUserError(e)) { console.error(`genmeasures measure: ${e.message}`); process.exitCode = 2; } else throw e; }',
    ].join('\n'),
  );
  return [shim];
}
const CMD = entry();

function measure(args: string[]) {
  return spawnSync(process.execPath, [...CMD, ...args], { encoding: 'utf8', timeout: 120000 });
}

/** A model folder: DIR/model.json + weights.bin, and DIR/initial/ with the initial weights. */
function modelDir(name: string, shape: [number, number, number] = [8, 8, 1], classes = 10): string {
  const dir = path.join(tmp, name);
  const initial = buildNetwork('mlp:12', { inputShape: shape, numClasses: classes, seed: 1 });
  const net = buildNetwork('mlp:12', { inputShape: shape, numClasses: classes, seed: 2 });
  saveNetwork(net, path.join(dir, 'model.json'));
  saveNetwork(initial, path.join(dir, 'initial', 'model.json'));
  return dir;
}

function expectUserError(args: string[], pattern: RegExp) {
  const r = measure(args);
  assert.equal(r.status, 2, `exit code for ${args.join(' ')}: ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], /^genmeasures measure: /);
  assert.match(lines[0], pattern);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
}

test('measure on directly named data: a table with every measure, and the JSON report', () => {
  const dir = modelDir('ok');
  const json = path.join(tmp, 'ok.json');
  const r = measure(['--model', path.join(dir, 'model.json'), '--data', 'synthetic:n=200', '--samples', '2', '--sharpness-steps', '3', '--json', json, '--threads', '1', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['params', 'margin', 'l2', 'l1_path', 'l2_path', 'spectral', 'sharpness', 'expected_sharpness', 'pac_bayes_sigma', 'dist_from_init', 'bartlett_spectral']) {
    assert.match(r.stdout, new RegExp(`^${name}\\s`, 'm'), name);
  }
  assert.match(r.stdout, /^total\s/m);
  const out = JSON.parse(fs.readFileSync(json, 'utf8'));
  for (const k of ['model', 'data', 'm', 'measures', 'components', 'pac_bayes_curve', 'notes', 'timings_ms']) assert.ok(k in out, k);
  assert.equal(out.m, 200);
  assert.equal(out.measures.params, 64 * 12 + 12 * 10);
  assert.equal(typeof out.measures.dist_from_init, 'number');
  assert.equal(out.pac_bayes_curve.length, 16);
  for (const [k, v] of Object.entries(out.measures)) if (v === null) assert.ok(out.notes.some((n: string) => n.startsWith(`${k} is null: `)), k);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
});

test('measure a training run on exactly its training points (--data RUN_DIR), and --train-size / --measures / --json -', () => {
  const run = path.join(tmp, 'run');
  const t = spawnSync(process.execPath, [MAIN, 'train', '--data', 'synthetic:n=300', '--model', 'mlp:10', '--train-size', '120', '--max-epochs', '3', '--out', run, '--threads', '1', '--quiet'], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const r = measure(['--model', path.join(run, 'model.json'), '--data', run, '--measures', 'margin,l2,dist_from_init', '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.m, 120);
  assert.deepEqual(Object.keys(out.measures), ['margin', 'l2', 'dist_from_init']);
  assert.equal(typeof out.measures.dist_from_init, 'number');
  const sub = measure(['--model', path.join(run, 'model.json'), '--data', path.join(run, 'run.json'), '--train-size', '50', '--measures', 'margin', '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(sub.status, 0, sub.stderr);
  assert.equal(JSON.parse(sub.stdout).m, 50);
  expectUserError(['--model', path.join(run, 'model.json'), '--data', run, '--normalize', '0.5,0.2'], /--normalize cannot be used with a run/);
});

test('--alpha-grid sets the α grid of the PAC-Bayes curve; a bad grid is one line, exit 2', () => {
  const dir = modelDir('alpha-grid');
  const args = ['--model', path.join(dir, 'model.json'), '--data', 'synthetic:n=100', '--measures', 'pac_bayes', '--samples', '2', '--json', '-', '--threads', '1', '--quiet'];
  const r = measure([...args, '--alpha-grid', '1e-3:1:8']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.pac_bayes_curve.length, 8);
  assert.ok(Math.abs(out.pac_bayes_curve[0].alpha - 1e-3) < 1e-15 && Math.abs(out.pac_bayes_curve[7].alpha - 1) < 1e-12);
  assert.ok(['low', 'high', null].includes(out.components.pac_bayes_alpha_at_edge));
  const d = measure(args);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(JSON.parse(d.stdout).pac_bayes_curve.length, 16);
  expectUserError([...args, '--alpha-grid', '1:0.1:5'], /--alpha-grid: LO must be smaller than HI/);
  expectUserError([...args, '--alpha-grid', '1e-3:1:one'], /--alpha-grid: "one" is not a number/);
});

test('--sharpness-target sets the expected sharpness kl_at_sharpness reads the kl at; outside (0, 1) is one line, exit 2', () => {
  const dir = modelDir('sharpness-target');
  const args = ['--model', path.join(dir, 'model.json'), '--data', 'synthetic:n=100', '--measures', 'kl_at_sharpness', '--samples', '2', '--json', '-', '--threads', '1', '--quiet'];
  const r = measure([...args, '--sharpness-target', '0.2']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).components.kl_at_sharpness_target, 0.2);
  const d = measure(args);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(JSON.parse(d.stdout).components.kl_at_sharpness_target, 0.05);
  expectUserError([...args, '--sharpness-target', '1'], /--sharpness-target: 1 is above the maximum/);
  expectUserError([...args, '--sharpness-target', '0'], /--sharpness-target: 0 is below the minimum/);
});

test('bad input: missing model file', () => {
  expectUserError(['--model', path.join(tmp, 'nope', 'model.json'), '--data', 'synthetic'], /nope\/model.json does not exist/);
  expectUserError(['--data', 'synthetic'], /--model FILE is required/);
});

test('bad input: weights.bin shorter or longer than the manifest', () => {
  for (const [name, change] of [
    ['short', (b: Buffer) => b.subarray(0, b.length - 8)],
    ['long', (b: Buffer) => Buffer.concat([b, Buffer.alloc(12)])],
  ] as [string, (b: Buffer) => Buffer][]) {
    const dir = modelDir(`w-${name}`);
    const f = path.join(dir, 'weights.bin');
    fs.writeFileSync(f, change(fs.readFileSync(f)));
    expectUserError(['--model', path.join(dir, 'model.json'), '--data', 'synthetic'], name === 'short' ? /truncated/ : /too long/);
  }
});

test('bad input: an unsupported layer is named', () => {
  for (const cls of ['LSTM', 'Conv1D']) {
    const dir = modelDir(`layer-${cls}`);
    const f = path.join(dir, 'model.json');
    const j = JSON.parse(fs.readFileSync(f, 'utf8'));
    j.modelTopology.config.layers.splice(1, 0, { class_name: cls, config: { name: `odd_${cls}`, units: 4, filters: 4, kernel_size: 3 } });
    fs.writeFileSync(f, JSON.stringify(j));
    expectUserError(['--model', f, '--data', 'synthetic'], new RegExp(`odd_${cls} of type ${cls} is not supported`));
  }
});

test('bad input: data whose input shape or class count does not match the model', () => {
  const dir = modelDir('shape');
  const model = path.join(dir, 'model.json');
  expectUserError(['--model', model, '--data', 'synthetic:shape=4x4x1', '--threads', '1'], /4x4x1 inputs, 10 classes\) does not match the model \(8x8x1 inputs, 10 classes\)/);
  // fewer classes than the model's outputs is valid (every label is an output); more is not
  expectUserError(['--model', model, '--data', 'synthetic:classes=12', '--threads', '1'], /point \d+ has label 1[01], and the model's outputs are classes 0\.\.9/);
});

test('bad input: unknown measures, bad --normalize, bad --threads and --device, the removed --workers, a folder that is not a run', () => {
  const model = path.join(modelDir('misc'), 'model.json');
  expectUserError(['--model', model, '--data', 'synthetic', '--measures', 'l2,sharpnes'], /unknown measure sharpnes \(valid: params, vc_dim, margin, /);
  expectUserError(['--model', model, '--data', 'synthetic', '--normalize', '0.5', '--threads', '1'], /--normalize: expected MEAN,STD/);
  expectUserError(['--model', model, '--data', 'synthetic', '--threads', 'two'], /--threads: "two" is not a number/);
  expectUserError(['--model', model, '--data', 'synthetic', '--threads', '0'], /--threads: 0 is below the minimum 1/);
  expectUserError(['--model', model, '--data', 'synthetic', '--device', 'tpu'], /--device: "tpu" is not one of cpu, webgpu, cuda/);
  expectUserError(['--model', model, '--data', 'synthetic', '--workers', '2'], /unknown option --workers/);
  expectUserError(['--model', model, '--data', tmp], /is a folder without run.json/);
});

test('--normalize parsing and value formatting', () => {
  assert.deepEqual(parseNormalize('0.5,0.25', 3), { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  assert.deepEqual(parseNormalize('1,2,3/4,5,6', 3), { mean: [1, 2, 3], std: [4, 5, 6] });
  assert.throws(() => parseNormalize('1,2/4,5', 3), (e: unknown) => isUserError(e));
  assert.throws(() => parseNormalize('0.5,0', 1), (e: unknown) => isUserError(e));
  assert.equal(formatValue(null), 'null');
  assert.equal(formatValue(813056), '813056');
  assert.equal(formatValue(1.5e20), '1.5000e+20');
  assert.equal(formatValue(0.012345678), '0.012346');
});
