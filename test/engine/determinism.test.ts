/**
 * Determinism: the same command and seed give bit-identical weights and measures across runs, processes
 * and thread counts (ONNX Runtime's CPU kernels split work across threads without changing any sum's
 * order), for an MLP and a conv net.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli/cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-determinism-'));

function trainAndMeasure(dir: string, model: string, data: string, threads: number): { weights: Buffer; initial: Buffer; history: unknown; measures: unknown } {
  const out = path.join(dir, `run-t${threads}-${Math.random().toString(36).slice(2, 8)}`);
  const r = runCli(['train', '--data', data, '--model', model, '--seed', '3', '--max-epochs', '6', '--threads', String(threads), '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const json = path.join(dir, `m-${path.basename(out)}.json`);
  const m = runCli(['measure', '--model', path.join(out, 'model.json'), '--data', out, '--threads', String(threads), '--samples', '3', '--sharpness-steps', '3', '--json', json, '--quiet']);
  assert.equal(m.code, 0, m.stderr);
  const report = JSON.parse(fs.readFileSync(json, 'utf8'));
  return {
    weights: fs.readFileSync(path.join(out, 'weights.bin')),
    initial: fs.readFileSync(path.join(out, 'initial', 'weights.bin')),
    history: JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).history.map((h: { loss: number; error: number }) => [h.loss, h.error]),
    measures: { measures: report.measures, curve: report.pac_bayes_curve },
  };
}

for (const [name, model, data] of [
  ['an MLP', 'mlp:32,16', 'synthetic:n=200,test=50,shape=6x6x1,classes=4'],
  ['a conv net', 'vgg:4,M,8,M', 'synthetic:n=96,test=32,shape=8x8x3,classes=3'],
  // channels in whole blocks: the convolutions and max-pooling on ONNX Runtime's NCHWc kernels
  ['a conv net of 16 and 32 channels', 'vgg:16,M,32,M', 'synthetic:n=96,test=32,shape=8x8x3,classes=3'],
]) {
  test(`determinism: ${name} trains and measures bit-identically across processes and 1 vs 2 threads`, () => {
    const d = tmp();
    const a = trainAndMeasure(d, model, data, 1);
    const b = trainAndMeasure(d, model, data, 2);
    const c = trainAndMeasure(d, model, data, 2);
    assert.ok(a.weights.equals(b.weights), 'weights differ between 1 and 2 threads');
    assert.ok(b.weights.equals(c.weights), 'weights differ between two runs');
    assert.ok(!a.weights.equals(a.initial), 'training changed no weight');
    assert.deepEqual(a.history, b.history);
    assert.deepEqual(a.measures, b.measures);
    assert.deepEqual(b.measures, c.measures);
  });
}
