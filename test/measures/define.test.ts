/** defineMeasure: a measure from the user's code, seen by computeMeasures, the lists, the export and the CLI (--plugin). */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MEASURES, MEASURE_NAMES, computeMeasures, defineMeasure, parseMeasureList, type MeasureSpec } from '../../src/measures/index.js';
import * as library from '../../src/index.js';
import { csvColumns } from '../../src/experiments/export.js';
import { resolveMeasureOptions } from '../../src/experiments/plan.js';
import { UserError } from '../../src/errors.js';
import { runCli, assertUserError } from '../cli/cli.js';
import { mlp } from './nets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gm-define-'));

const layerCount: MeasureSpec<[], never> = {
  name: 'test_layer_count',
  summary: 'number of weight layers (a test measure)',
  needs: ['weights'],
  compute: (ctx) => ({ value: ctx.net.layers.filter((l) => l.kind === 'dense' || l.kind === 'conv2d').length }),
};

test('defineMeasure: the measure is in the registry, computed by default and by name, and exported as a column', async () => {
  assert.equal(library.defineMeasure, defineMeasure, 'exported by the library');
  const before = MEASURE_NAMES.length;
  defineMeasure(layerCount);
  assert.equal(MEASURE_NAMES.length, before + 1);
  assert.equal(MEASURE_NAMES.at(-1), 'test_layer_count', 'after the built-in measures');
  assert.deepEqual(MEASURE_NAMES, MEASURES.map((m) => m.name), 'the two lists agree');
  assert.deepEqual(parseMeasureList('l2,test_layer_count'), ['l2', 'test_layer_count']);
  const net = mlp([4, 5, 3], false);
  const one = await computeMeasures(net, null, { measures: ['test_layer_count', 'l2'] });
  assert.deepEqual(Object.keys(one.measures), ['l2', 'test_layer_count']);
  assert.equal(one.measures.test_layer_count, 2);
  const all = await computeMeasures(net, null);
  assert.equal(all.measures.test_layer_count, 2, 'computed by default');
  assert.ok(resolveMeasureOptions().measures.includes('test_layer_count'), 'in the experiments\' default list');
  assert.ok(csvColumns([]).includes('test_layer_count'), 'an export column');
  // a measure that needs data it does not get is null with a note, as the built-in ones
  defineMeasure({ name: 'test_needs_data', summary: 'x', needs: ['data'], compute: () => ({ value: 1 }) });
  const r = await computeMeasures(net, null, { measures: ['test_needs_data'] });
  assert.equal(r.measures.test_needs_data, null);
  assert.match(r.notes.join(' '), /test_needs_data is null: needs the training data/);
});

test('defineMeasure: a taken, badly named or incomplete definition is a user error', () => {
  const bad = (def: unknown, re: RegExp) => assert.throws(() => defineMeasure(def as MeasureSpec<[], never>), (e) => e instanceof UserError && re.test(e.message));
  bad({ ...layerCount, name: 'l2' }, /a measure named l2 exists already/);
  defineMeasure({ ...layerCount, name: 'test_dup' });
  const n = MEASURE_NAMES.length;
  bad({ ...layerCount, name: 'test_dup' }, /exists already/);
  assert.equal(MEASURE_NAMES.length, n);
  for (const name of ['MyMeasure', 'my-measure', 'my__measure', '_x', '1x', 'x_', '', 42, undefined]) bad({ ...layerCount, name }, /is not snake_case/);
  bad({ ...layerCount, name: 'gen_gap' }, /run field of the export/);
  bad({ ...layerCount, name: 'test_nosummary', summary: '' }, /summary is required/);
  bad({ ...layerCount, name: 'test_badneeds', needs: ['gpu'] }, /needs must list/);
  bad({ ...layerCount, name: 'test_nocompute', compute: 1 }, /compute\(ctx\) must be a function/);
  bad(null, /expected a measure definition/);
});

/** A plugin module: a file that defines a measure at its top level, importing genmeasures as built. */
function writePlugin(dir: string): string {
  const file = path.join(dir, 'plugin.mjs');
  const measures = pathToFileURL(path.resolve(here, '../../src/measures/index.js')).href;
  fs.writeFileSync(
    file,
    `import { defineMeasure } from ${JSON.stringify(measures)};
defineMeasure({
  name: 'weight_count',
  summary: 'number of weights',
  needs: ['weights'],
  compute: (ctx) => ({ value: ctx.net.layers.reduce((s, l) => s + (l.kernel ? l.kernel.length : 0), 0) }),
});
`,
  );
  return file;
}

test('--plugin: run adds the plugin\'s measure to the recorded runs (workers import it), measure and export show it', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plugin = writePlugin(d);
  const args = ['run', 'width', '--widths', '4,8', '--train-size', '48', '--data', 'synthetic:n=200,test=64,shape=6x6x1,classes=3', '--max-epochs', '20', '--threads', '1', '--workers', '2', '--db', db];
  const first = runCli([...args, '--measures', 'l2']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /2 of 2 runs recorded \(2 now\)/);
  assertUserError(runCli([...args, '--measures', 'l2,weight_count']), 'unknown measure weight_count');
  const second = runCli([...args, '--measures', 'l2,weight_count', '--plugin', plugin]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /2 done before without some measures \(adding them\)/);
  const lines = second.stdout.split('\n').filter((l) => /^\[\d\/2\] width=\d+: /.test(l));
  assert.equal(lines.length, 2, second.stdout);
  for (const l of lines) assert.match(l, /\(\d+s, checkpoint reused, added measures weight_count\)$/);
  assert.match(second.stdout, /2 of 2 runs recorded \(0 now, 2 with new measures\)/);
  // export: a column of its own, with the values (mlp:W on 6x6x1 inputs, 3 classes: 36W + 3W weights)
  const csv = runCli(['export', '--db', db, '--format', 'csv']);
  assert.equal(csv.code, 0, csv.stderr);
  assert.ok(csv.stdout.split('\n')[0].split(',').includes('weight_count'), csv.stdout.split('\n')[0]);
  const json = runCli(['export', '--db', db, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const runs = JSON.parse(json.stdout) as { measures: Record<string, number>; measure_options: { measures: string[] } }[];
  assert.deepEqual(runs.map((r) => r.measures.weight_count).sort((a, b) => a - b), [4 * 39, 8 * 39]);
  for (const r of runs) assert.deepEqual(r.measure_options.measures, ['l2', 'weight_count']);
  // measure --plugin
  const ckpt = fs.readdirSync(path.join(d, 'checkpoints')).find((f) => !f.startsWith('.'))!;
  const m = runCli(['measure', '--model', path.join(d, 'checkpoints', ckpt, 'model.json'), '--data', path.join(d, 'checkpoints', ckpt), '--measures', 'weight_count', '--plugin', plugin, '--json', '-']);
  assert.equal(m.code, 0, m.stderr);
  assert.ok([4 * 39, 8 * 39].includes(JSON.parse(m.stdout).measures.weight_count), m.stdout);
  assertUserError(runCli(['measure', '--model', 'x.json', '--data', 'mnist', '--plugin', path.join(d, 'nope.mjs')]), '--plugin', 'cannot be loaded');
});
