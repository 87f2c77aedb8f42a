import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { assertUserError, runCli } from './cli.js';

/** Whether onnxruntime-node's CUDA provider libraries are installed (`npm ci` does not download them). */
function hasCudaProvider(): boolean {
  let dir: string;
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    dir = entry.slice(0, entry.lastIndexOf(`${path.sep}onnxruntime-node${path.sep}`) + '/onnxruntime-node'.length);
  } catch {
    return false;
  }
  const found = (d: string): boolean =>
    fs.readdirSync(d, { withFileTypes: true }).some((e) => (e.isDirectory() ? found(path.join(d, e.name)) : /onnxruntime_providers_cuda/.test(e.name)));
  return fs.existsSync(path.join(dir, 'bin')) && found(path.join(dir, 'bin'));
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cli-run-'));
const TINY = ['--data', 'synthetic:n=200,test=64,shape=6x6x1,classes=3', '--max-epochs', '40', '--measures', 'margin,l2,sharpness', '--samples', '2', '--threads', '1'];

test('run: bad input is a one-line user error, and nothing is written', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  assertUserError(runCli(['run', '--db', db]), 'name an experiment', 'random-labels|confusion|width');
  assertUserError(runCli(['run', 'widht', '--db', db]), 'unknown experiment "widht"', 'random-labels, confusion, width');
  assertUserError(runCli(['run', 'width', 'confusion', '--db', db]), 'one experiment at a time');
  assertUserError(runCli(['run', 'width', '--preset', 'fast', '--db', db]), '--preset', '"fast"', 'quick, paper');
  assertUserError(runCli(['run', 'random-labels', '--preset', 'paper', '--db', db]), '--data cifar10:DIR');
  assertUserError(runCli(['run', 'confusion', '--preset', 'paper', '--db', db]), '--data cifar10:DIR');
  assertUserError(runCli(['run', 'width', '--model', 'mlp:3', '--db', db]), '--model does not apply to the width experiment', '--widths');
  assertUserError(runCli(['run', 'random-labels', '--widths', '8', '--db', db]), '--widths does not apply');
  assertUserError(runCli(['run', 'width', '--widths', '8,abc', '--db', db]), '--widths', '"abc"');
  assertUserError(runCli(['run', 'width', '--workers', '0', '--db', db]), '--workers', 'minimum 1');
  assertUserError(runCli(['run', 'width', '--measures', 'l2,nope', '--db', db]), 'unknown measure nope');
  assertUserError(runCli(['run', 'width', '--model', 'bogus', '--db', db]), '--model');
  assertUserError(runCli(['run', 'random-labels', '--model', 'bogus:1', '--db', db]), '--model', 'bogus:1');
  assertUserError(runCli(['run', 'random-labels', '--data', `cifar10:${path.join(d, 'nope')}`, '--preset', 'paper', '--db', db]), 'does not exist');
  assertUserError(runCli(['run', 'width', '--db', d]), '--db', 'is a folder');
  assertUserError(runCli(['run', 'width', '--threads', '0', '--db', db]), '--threads');
  assertUserError(runCli(['run', 'width', '--device', 'tpu', '--db', db]), '--device', '"tpu"');
  // a device the workers cannot start (the CUDA provider libraries are not installed by npm ci)
  if (!hasCudaProvider()) {
    assertUserError(runCli(['run', 'width', '--widths', '4', '--train-size', '32', '--db', db, ...TINY.slice(0, 2), '--device', 'cuda']), '--device cuda', 'CUDA');
    assert.ok(fs.existsSync(db), 'the database is created before the workers start');
    fs.rmSync(db);
    fs.rmSync(path.join(d, 'checkpoints'), { recursive: true, force: true });
  }
  assert.ok(!fs.existsSync(db), 'no database was created');
});

test('run: --dry-run prints the plan with keys and statuses', () => {
  const d = tmp();
  const r = runCli(['run', 'width', '--dry-run', '--db', path.join(d, 'g.db')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^width \(preset quick\): 6 runs/);
  for (const w of [8, 32, 128, 512, 2048, 4096]) assert.match(r.stdout, new RegExp(`^width=${w} +mlp:${w} +4000 +true +0 +[0-9a-f]{12} +[0-9a-f]{12} +to run$`, 'm'));
  assert.match(r.stdout, /stop at cross-entropy < 0\.01 or 1000 epochs/);
  assert.ok(!fs.existsSync(path.join(d, 'g.db')));
  const help = runCli(['run', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--preset NAME/);
  assert.match(help.stdout, /--workers N/);
});

test('run: --seeds runs every configuration with each seed; seed 1 keeps its keys; a bad list or --seed with it is exit 2', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const one = runCli(['run', 'width', '--widths', '8,32', '--dry-run', '--db', db]);
  const two = runCli(['run', 'width', '--widths', '8,32', '--dry-run', '--db', db, '--seeds', '1,2']);
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stdout, /^width \(preset quick\): 4 runs/);
  assert.match(two.stdout, /seeds 1, 2/);
  const keys = (out: string, label: RegExp) => [...out.matchAll(label)].map((m) => m[1]);
  const oneKeys = keys(one.stdout, /^width=\d+ +mlp:\d+ +4000 +true +0 +([0-9a-f]{12})/gm);
  assert.equal(oneKeys.length, 2);
  assert.deepEqual(keys(two.stdout, /^width=\d+ seed=1 +mlp:\d+ +4000 +true +0 +([0-9a-f]{12})/gm), oneKeys);
  assert.equal(keys(two.stdout, /^width=\d+ seed=2 +mlp:\d+ +4000 +true +0 +([0-9a-f]{12})/gm).length, 2);
  assertUserError(runCli(['run', 'width', '--dry-run', '--db', db, '--seeds', '1,x']), '--seeds', '"x"');
  assertUserError(runCli(['run', 'width', '--dry-run', '--db', db, '--seeds', '1,2', '--seed', '3']), '--seed and --seeds');
  assert.ok(!fs.existsSync(db));
});

test('run: --alpha-grid changes the run keys (not the checkpoints); the default grid written out keeps them; a bad grid is exit 2', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const keys = (extra: string[]) => {
    const r = runCli(['run', 'width', '--widths', '8,32', '--dry-run', '--db', db, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return [...r.stdout.matchAll(/^width=\d+ .* ([0-9a-f]{12}) +([0-9a-f]{12}) +to run$/gm)].map((m) => [m[1], m[2]]);
  };
  const base = keys([]);
  assert.equal(base.length, 2);
  assert.deepEqual(keys(['--alpha-grid', '1e-4:0.1:16']), base);
  const wide = keys(['--alpha-grid', '1e-4:100:30']);
  wide.forEach(([run, ckpt], i) => {
    assert.notEqual(run, base[i][0]);
    assert.equal(ckpt, base[i][1]);
  });
  assertUserError(runCli(['run', 'width', '--dry-run', '--db', db, '--alpha-grid', '1:0.1:5']), '--alpha-grid: LO must be smaller than HI');
  assert.ok(!fs.existsSync(db));
});

test('run: a tiny sweep prints one line per run and a summary; a second run skips everything', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const args = ['run', 'width', '--widths', '4,8,16', '--train-size', '64', '--workers', '2', '--db', db, ...TINY];
  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => /^\[\d\/3\] width=\d+: /.test(l)).length, 3, r.stdout);
  assert.match(r.stdout, /train err [\d.]+%, test err [\d.]+%, l2 \S+, sharpness \S+ \(\d+s\)/);
  assert.match(r.stdout, /^width: 3 of 3 runs recorded \(3 now\) in \S+; db /m);
  assert.match(r.stderr, /width \(preset quick\): 3 runs; 3 to run on 2 workers/);
  const dry = runCli(['run', 'width', '--widths', '4,8,16', '--train-size', '64', '--db', db, '--dry-run', ...TINY]);
  assert.equal(dry.stdout.match(/ done$/gm)?.length, 3, dry.stdout);
  const again = runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /3 runs, 3 already done; nothing to do/);
  assert.match(again.stdout, /3 of 3 runs recorded \(0 now, 3 before\)/);
});
