import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli/cli.js';
import { checkReportInBrowser } from './browser.js';

test('measure --html writes a one-model report: measures, margin histogram, PAC-Bayes curve', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-single-'));
  const run = path.join(d, 'run');
  const t = runCli(['train', '--data', 'synthetic', '--model', 'mlp:16', '--max-epochs', '100', '--out', run, '--quiet']);
  assert.equal(t.code, 0, t.stderr);
  const html = path.join(d, 'model.html');
  const m = runCli(['measure', '--model', path.join(run, 'model.json'), '--data', run, '--measures', 'margin,l2,spectral,pac_bayes', '--samples', '2', '--html', html, '--quiet']);
  assert.equal(m.code, 0, m.stderr);
  const text = fs.readFileSync(html, 'utf8');
  for (const name of ['margin', 'l2', 'spectral', 'pac_bayes']) assert.ok(text.includes(`>${name}<`), name);
  assert.match(text, /γ = /);
  const r = await checkReportInBrowser(html, path.join(d, 'shot.png'));
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.figures.map((f) => f.id), ['margins', 'pac-bayes']);
  for (const f of r.figures) assert.ok(!f.empty && f.width > 100 && f.height > 100, `${f.id} shown`);
});
