import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli/cli.js';
import { loadNetwork } from '../../src/models/io.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-train-'));
const readRun = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));

test('the same command and seed give bit-identical weights; another seed does not', () => {
  const d = tmp();
  const args = (out: string, seed: string) => ['train', '--data', 'synthetic', '--model', 'mlp:32', '--seed', seed, '--max-epochs', '4', '--out', out, '--threads', '1'];
  for (const [name, seed] of [['a', '3'], ['b', '3'], ['c', '4']]) {
    const r = runCli(args(path.join(d, name), seed));
    assert.equal(r.code, 0, r.stderr);
  }
  const w = (n: string) => fs.readFileSync(path.join(d, n, 'weights.bin'));
  assert.ok(w('a').equals(w('b')), 'same seed, same weights');
  assert.ok(!w('a').equals(w('c')), 'another seed, other weights');
  assert.deepEqual(readRun(path.join(d, 'a')).history.map((h: any) => h.loss), readRun(path.join(d, 'b')).history.map((h: any) => h.loss));
  // the initial weights are saved beside the trained ones and differ from them
  const init = fs.readFileSync(path.join(d, 'a', 'initial', 'weights.bin'));
  assert.equal(init.length, w('a').length);
  assert.ok(!init.equals(w('a')));
});

test('an MLP on real MNIST digits converges to training error 0 and generalizes; run.json records everything', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  const r = runCli(['train', '--data', 'mnist', '--model', 'mlp:64', '--train-size', '500', '--seed', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^converged/m);
  const run = readRun(out);
  assert.equal(run.converged, true);
  assert.ok(run.history.at(-1).loss < 0.01);
  assert.equal(run.final.trainError, 0);
  assert.ok(run.final.testError < 0.2, `test error ${run.final.testError}`);
  assert.equal(run.data.m, 500);
  assert.equal(run.data.testSize, 2000);
  assert.equal(run.data.normalization.mean.length, 1);
  assert.equal(run.config.lr, 0.01);
  assert.equal(run.config.momentum, 0.9);
  assert.equal(run.config.batchSize, 64);
  for (const h of run.history) assert.ok(h.seconds >= 0 && h.error >= 0 && h.error <= 1);
  const net = loadNetwork(path.join(out, 'model.json'));
  assert.deepEqual(net.layers.map((l) => l.kind), ['flatten', 'dense', 'relu', 'dense']);
});

test('random labels on a small MNIST subset are fitted too (training error 0)', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  const r = runCli(['train', '--data', 'mnist', '--model', 'mlp:256', '--train-size', '200', '--labels', 'random', '--seed', '2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const run = readRun(out);
  assert.equal(run.converged, true, run.stopReason);
  assert.equal(run.final.trainError, 0);
  assert.ok(run.final.testError > 0.6, `random labels should not generalize (test error ${run.final.testError})`);
});

test('an epoch cap that is too small marks the run "did not converge"', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  const r = runCli(['train', '--data', 'mnist', '--model', 'mlp:16', '--train-size', '300', '--max-epochs', '2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /DID NOT CONVERGE/);
  const run = readRun(out);
  assert.equal(run.converged, false);
  assert.match(run.stopReason, /did not converge/);
  assert.equal(run.epochs, 2);
});

test('a small VGG trains on synthetic image-shaped data', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  const r = runCli(['train', '--data', 'synthetic:n=256,test=64,shape=8x8x3,classes=4', '--model', 'vgg:8,M,16,M', '--max-epochs', '200', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const run = readRun(out);
  assert.equal(run.converged, true, run.stopReason);
  assert.equal(run.final.trainError, 0);
  assert.equal(run.data.normalization.mean.length, 3);
  const net = loadNetwork(path.join(out, 'model.json'));
  assert.deepEqual(net.layers.map((l) => l.kind), ['conv2d', 'relu', 'maxpool', 'conv2d', 'relu', 'maxpool', 'flatten', 'dense']);
});

test('a small VGG trains on generated CIFAR-10 binary files', () => {
  const d = tmp();
  // 120 training records, 40 test records: class c has a bright square at a class-specific place
  const record = (label: number, i: number) => {
    const r = Buffer.alloc(3073);
    r[0] = label;
    for (let p = 1; p < 3073; p++) r[p] = (p * 7 + i * 13) % 60;
    const ch = label % 3;
    const oy = 4 + 8 * (label % 3);
    const ox = 4 + 8 * Math.floor(label / 3);
    for (let y = oy; y < oy + 6; y++) for (let x = ox; x < ox + 6; x++) r[1 + ch * 1024 + y * 32 + x] = 250;
    return r;
  };
  const batch = (n: number, off: number) => Buffer.concat(Array.from({ length: n }, (_, i) => record((i + off) % 10, i + off)));
  fs.writeFileSync(path.join(d, 'data_batch_1.bin'), batch(60, 0));
  fs.writeFileSync(path.join(d, 'data_batch_2.bin'), batch(60, 60));
  fs.writeFileSync(path.join(d, 'test_batch.bin'), batch(40, 1000));
  const out = path.join(d, 'run');
  const r = runCli(['train', '--data', `cifar10:${d}`, '--model', 'vgg:4,M,8,M', '--train-size', '100', '--max-epochs', '150', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const run = readRun(out);
  assert.equal(run.data.m, 100);
  assert.deepEqual(run.data.inputShape, [32, 32, 3]);
  assert.equal(run.data.normalization.std.length, 3);
  assert.equal(run.converged, true, run.stopReason);
  assert.equal(run.final.trainError, 0);
  assert.ok(run.final.testError < 0.5, `test error ${run.final.testError}`);
});
