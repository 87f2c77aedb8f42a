/**
 * Inputs that used to be accepted silently or crash (issue "Inputs"): non-finite weights, diverging
 * training, class counts, synthetic:classes=1, negative option values, foreign or empty SQLite files,
 * corrupt checkpoints. Each bad input is one line on stderr naming the file or option, exit code 2, and
 * nothing that existed before is changed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { encodeIdx } from '../../src/data/idx.js';
import { buildNetwork } from '../../src/models/spec.js';
import { saveNetwork } from '../../src/models/io.js';
import { assertUserError, runCli, type CliResult } from './cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cli-inputs-'));
const DATA = 'synthetic:n=64,test=16,shape=4x4x1,classes=3';
const TINY = ['--model', 'mlp:4', '--max-epochs', '2', '--threads', '1', '--quiet'];

/** Every file under a folder with its bytes (a snapshot to compare before and after). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

function ok(r: CliResult): void {
  assert.equal(r.code, 0, `exit code ${r.code}; stderr: ${r.stderr}`);
}

/** An IDX folder of n 4x4 images with the given training labels (no test files). */
function writeIdx(dir: string, labels: number[]): void {
  const n = labels.length;
  const img = new Uint8Array(n * 16).map((_, i) => (i * 37 + labels[Math.floor(i / 16)] * 50) % 256);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx(img, [n, 4, 4]));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx(Uint8Array.from(labels), [n]));
}

/** A model folder (model.json, weights.bin) of an MLP 4x4x1 → 4 → classes, not trained. */
function writeModel(dir: string, classes = 3): string {
  const net = buildNetwork('mlp:4', { inputShape: [4, 4, 1], numClasses: classes, seed: 1 });
  const file = path.join(dir, 'model.json');
  saveNetwork(net, file);
  return file;
}

test('measure: a model with NaN or infinite weights is refused, naming the file, the layer and the count', () => {
  const d = tmp();
  const model = writeModel(d);
  const w = path.join(d, 'weights.bin');
  const bytes = fs.readFileSync(w);
  // dense_1/kernel has 16×4 = 64 floats, then dense_2/kernel 4×3 = 12
  bytes.writeFloatLE(NaN, 4 * 3);
  fs.writeFileSync(w, bytes);
  const before = snapshot(d);
  assertUserError(runCli(['measure', '--model', model, '--data', DATA, '--measures', 'l2', '--threads', '1']), model, 'dense_1', '1 NaN', /not usable/);
  bytes.writeFloatLE(Infinity, 4 * (64 + 2));
  bytes.writeFloatLE(-Infinity, 4 * (64 + 5));
  bytes.writeFloatLE(1, 4 * 3);
  fs.writeFileSync(w, bytes);
  assertUserError(runCli(['measure', '--model', model, '--data', DATA, '--measures', 'l2', '--threads', '1']), 'dense_2', '2 infinite');
  assert.deepEqual(Object.keys(snapshot(d)).sort(), ['model.json', 'weights.bin'], 'measure wrote nothing beside the model');
});

test('train: a run that diverges stops at once, is not saved, and leaves an existing run in --out as it was', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  ok(runCli(['train', '--data', DATA, ...TINY, '--out', out]));
  const before = snapshot(out);
  const r = runCli(['train', '--data', DATA, ...TINY, '--max-epochs', '50', '--lr', '1e6', '--out', out, '--force']);
  assertUserError(r, 'training diverged at epoch', /loss (NaN|Infinity|-Infinity|[\d.e+]+, \d+)/, '--lr');
  const epoch = Number(/diverged at epoch (\d+)/.exec(r.stderr)![1]);
  assert.ok(epoch >= 1 && epoch < 50, 'stopped as soon as it diverged');
  assert.deepEqual(snapshot(out), before, 'the existing run is untouched');
  assert.deepEqual(fs.readdirSync(d), ['run'], 'no temporary folder left');
  // and into a new folder: nothing is created
  const fresh = path.join(d, 'fresh');
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--max-epochs', '50', '--lr', '1e6', '--out', fresh]), 'diverged');
  assert.ok(!fs.existsSync(fresh));
  assert.deepEqual(fs.readdirSync(d), ['run']);
});

test('train: IDX labels with empty classes in their range are refused unless --classes accepts them', () => {
  const d = tmp();
  const data = path.join(d, 'data');
  const labels = Array.from({ length: 24 }, (_, i) => i % 3);
  labels[7] = 200; // a stray label
  writeIdx(data, labels);
  const dataBefore = snapshot(data);
  const out = path.join(d, 'out');
  assertUserError(runCli(['train', '--data', `idx:${data}`, ...TINY, '--out', out]), `--data idx:${data}`, '0 to 200', '197 of these 201 classes', '--classes 201');
  assert.ok(!fs.existsSync(out));
  // --classes N accepts them
  ok(runCli(['train', '--data', `idx:${data}`, ...TINY, '--classes', '201', '--out', out]));
  const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.data.numClasses, 201);
  assert.equal(run.config.classes, 201);
  // --classes below a label, or below 2
  assertUserError(runCli(['train', '--data', `idx:${data}`, ...TINY, '--classes', '100', '--out', path.join(d, 'o2')]), 'train-labels-idx1-ubyte', 'label 200', '--classes 100');
  assertUserError(runCli(['train', '--data', `idx:${data}`, ...TINY, '--classes', '1', '--out', path.join(d, 'o2')]), '--classes', 'minimum 2');
  assert.deepEqual(snapshot(data), dataBefore);
  // a label range without gaps is the number of classes, as before; one class only is refused
  const full = path.join(d, 'full');
  writeIdx(full, Array.from({ length: 24 }, (_, i) => i % 4));
  ok(runCli(['train', '--data', `idx:${full}`, ...TINY, '--out', path.join(d, 'o3')]));
  assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'o3', 'run.json'), 'utf8')).data.numClasses, 4);
  assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'o3', 'run.json'), 'utf8')).config.classes, undefined, 'no classes in the configuration unless given');
  const one = path.join(d, 'one');
  writeIdx(one, new Array(24).fill(0));
  assertUserError(runCli(['train', '--data', `idx:${one}`, ...TINY, '--out', path.join(d, 'o4')]), `--data idx:${one}`, 'one class', '--classes');
  // --classes on other data: more outputs than the data set's classes
  ok(runCli(['train', '--data', DATA, ...TINY, '--classes', '5', '--out', path.join(d, 'o5')]));
  assert.equal(JSON.parse(fs.readFileSync(path.join(d, 'o5', 'run.json'), 'utf8')).data.numClasses, 5);
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--classes', '2', '--out', path.join(d, 'o6')]), '--classes 2', 'label 2');
});

test('measure: data is valid when every label is one of the model\'s outputs, whatever its own class count', () => {
  const d = tmp();
  const model = writeModel(d, 10);
  // 4 classes measured with a 10-class model: labels 0..3 are outputs of the model
  const r = runCli(['measure', '--model', model, '--data', 'synthetic:n=32,test=0,shape=4x4x1,classes=4', '--measures', 'margin,l2', '--threads', '1']);
  ok(r);
  // a label the model has no output for
  const small = path.join(d, 'small');
  fs.mkdirSync(small);
  const m2 = writeModel(small, 2);
  assertUserError(runCli(['measure', '--model', m2, '--data', 'synthetic:n=32,test=0,shape=4x4x1,classes=3', '--measures', 'l2', '--threads', '1']), 'does not match the model', 'label 2', '0..1');
});

test('synthetic:classes=1 is a user error, not a crash', () => {
  const d = tmp();
  assertUserError(runCli(['train', '--data', 'synthetic:classes=1', ...TINY, '--out', path.join(d, 'o')]), '--data synthetic', 'classes', '≥ 2', 'got 1');
  assertUserError(runCli(['measure', '--model', writeModel(d), '--data', 'synthetic:classes=1,shape=4x4x1', '--threads', '1']), '--data synthetic', 'classes');
  assert.deepEqual(fs.readdirSync(d).sort(), ['model.json', 'weights.bin']);
});

test('negative numbers after a space: accepted where valid, the option\'s own message where not', () => {
  const d = tmp();
  const out = path.join(d, 'neg');
  ok(runCli(['train', '--data', DATA, ...TINY, '--seed', '-1', '--out', out]));
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).config.seed, -1);
  const o2 = path.join(d, 'o2');
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--lr', '-1', '--out', o2]), '--lr', '-1', 'positive');
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--train-size', '-5', '--out', o2]), '--train-size', '-5', 'minimum 1');
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--max-epochs', '-2', '--out', o2]), '--max-epochs', '-2');
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--momentum', '-0.5', '--out', o2]), '--momentum', '-0.5');
  // an option-like value that is not a number
  assertUserError(runCli(['train', '--data', DATA, ...TINY, '--out', '-x']), '--out', '"-x"', '--out=-x');
  assert.ok(!fs.existsSync(o2));
  assert.deepEqual(fs.readdirSync(d), ['neg']);
});

test('--db: another application\'s SQLite database or an empty file is refused and left as it was', () => {
  const d = tmp();
  const other = path.join(d, 'other.db');
  const db = new Database(other);
  db.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO runs (name) VALUES ('x')");
  db.close();
  const before = snapshot(d);
  assertUserError(runCli(['export', '--db', other, '--format', 'csv']), '--db', other, 'not a genmeasures results database');
  assertUserError(runCli(['report', '--db', other, '--out', path.join(d, 'report')]), '--db', other, 'not a genmeasures results database');
  assertUserError(
    runCli(['run', 'width', '--preset', 'quick', '--data', DATA, '--widths', '4', '--train-size', '16', '--max-epochs', '2', '--measures', 'l2', '--workers', '1', '--db', other]),
    '--db',
    other,
    'not a genmeasures results database',
  );
  assert.deepEqual(snapshot(d), before, 'nothing written, nothing created beside it');

  const empty = path.join(d, 'empty.db');
  fs.writeFileSync(empty, '');
  assertUserError(runCli(['report', '--db', empty, '--out', path.join(d, 'report')]), '--db', empty, '0 bytes');
  assertUserError(runCli(['export', '--db', empty, '--format', 'json']), '--db', empty, '0 bytes');
  assert.equal(fs.statSync(empty).size, 0, 'report and export do not write to the file they read');
  assert.deepEqual(Object.keys(snapshot(d)).sort(), ['empty.db', 'other.db']);
});

test('run: a corrupt checkpoint is retrained, not a user error that stops every later sweep', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const sweep = (measures: string) =>
    runCli(['run', 'width', '--preset', 'quick', '--data', DATA, '--widths', '4', '--train-size', '32', '--max-epochs', '3', '--measures', measures, '--workers', '1', '--threads', '1', '--quiet', '--db', db]);
  ok(sweep('l2'));
  const [ckpt] = fs.readdirSync(path.join(d, 'checkpoints')).filter((f) => !f.startsWith('.'));
  const dir = path.join(d, 'checkpoints', ckpt);
  const weights = fs.readFileSync(path.join(dir, 'weights.bin'));
  fs.writeFileSync(path.join(dir, 'weights.bin'), weights.subarray(0, 10)); // truncated
  // another measure set: a new run of the same training configuration, which reuses the checkpoint
  const r = sweep('l2,margin');
  ok(r);
  assert.match(r.stdout, /1 of 1 runs recorded/);
  assert.doesNotMatch(r.stdout, /checkpoint reused/);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'weights.bin')), weights, 'retrained to the same (deterministic) weights');
  // a run.json that is not JSON
  fs.writeFileSync(path.join(dir, 'run.json'), '{ not json');
  ok(sweep('spectral')); // a measure the recorded run lacks: it is added from the checkpoint, which is retrained
  assert.ok(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).config);
  assert.deepEqual(fs.readdirSync(path.join(d, 'checkpoints')).filter((f) => !f.startsWith('.') || /discarded/.test(f)), [ckpt], 'no folder left aside');
});
