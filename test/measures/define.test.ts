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

/** The cells of a CSV line (quoted cells may hold commas; none of these holds a line break). */
function csvCells(line: string): string[] {
  return [...line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)].map((m) => m[1].replace(/^"|"$/g, '').replace(/""/g, '"'));
}

/**
 * A plugin module, as a user writes it: an option of its own (defineOption), a quantity that reads a
 * built-in one (the spectral norms), and two measures: spectral_power reads the quantity and the option,
 * weight_count (the old form: no declarations) reads the network.
 */
function writePlugin(dir: string): string {
  const file = path.join(dir, 'plugin.mjs');
  const lib = pathToFileURL(path.resolve(here, '../../src/measures/index.js')).href;
  fs.writeFileSync(
    file,
    `import { defineMeasure, defineOption, defineQuantity, spectralNorms } from ${JSON.stringify(lib)};
const power = defineOption({ name: 'myPower', flag: 'my-power', type: 'int', value: 'P', default: 2, min: 1, help: 'the power of spectral_power', keyed: true });
const logSpectral = defineQuantity({
  name: 'log_spectral_norms',
  reads: [spectralNorms],
  components: ['log_spectral_norms'],
  async compute(ctx) {
    const logs = (await ctx.read(spectralNorms)).map(Math.log10);
    ctx.set('log_spectral_norms', logs);
    return logs;
  },
});
defineMeasure({
  name: 'spectral_power',
  summary: 'the product of the spectral norms, each to the power --my-power',
  reads: [logSpectral],
  options: ['myPower'],
  async compute(ctx) {
    const logs = await ctx.read(logSpectral);
    return { value: 10 ** (ctx.option(power) * logs.reduce((a, b) => a + b, 0)) };
  },
});
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

test('--plugin end to end: its measures, option and quantity in measure --help, measure, run (old runs keep their keys), export and the report', () => {
  const d = tmp();
  const db = path.join(d, 'g.db');
  const plugin = writePlugin(d);
  // measure --help lists the plugin's measures and its flag
  const help = runCli(['measure', '--plugin', plugin, '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^ {2}spectral_power\s+the product of the spectral norms/m);
  assert.match(help.stdout, /^ {2}weight_count\s+number of weights/m);
  assert.match(help.stdout, /--measures LIST .*spectral_power, weight_count/);
  assert.match(help.stdout, /^ {2}--my-power P\s+the power of spectral_power \[default: 2\]/m);
  assert.doesNotMatch(runCli(['measure', '--help']).stdout, /spectral_power|--my-power/);
  assert.match(runCli(['run', '--plugin', plugin, '--help']).stdout, /--my-power P .*\[default: 2\]/);

  // run: first without the plugin, then with it: the recorded runs get the measures, without new keys
  const args = ['run', 'width', '--widths', '4,8', '--train-size', '48', '--data', 'synthetic:n=200,test=64,shape=6x6x1,classes=3', '--max-epochs', '60', '--target-loss', '1.5', '--threads', '1', '--workers', '2', '--db', db];
  const first = runCli([...args, '--measures', 'l2']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /2 of 2 runs recorded \(2 now\)/);
  assertUserError(runCli([...args, '--measures', 'l2,weight_count']), 'unknown measure weight_count');
  assertUserError(runCli([...args, '--my-power', '3']), 'unknown option --my-power');
  const second = runCli([...args, '--measures', 'l2,weight_count,spectral_power', '--plugin', plugin]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /2 done before without some measures \(adding them\)/);
  const lines = second.stdout.split('\n').filter((l) => /^\[\d\/2\] width=\d+: /.test(l));
  assert.equal(lines.length, 2, second.stdout);
  for (const l of lines) assert.match(l, /\(\d+s, checkpoint reused, added measures spectral_power, weight_count\)$/);
  assert.match(second.stdout, /2 of 2 runs recorded \(0 now, 2 with new measures\)/);
  // the plugin's option off its default is a new measurement of the same networks: new keys, checkpoints reused
  const third = runCli([...args, '--measures', 'l2,spectral_power', '--plugin', plugin, '--my-power', '3']);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, /2 of 2 runs recorded \(2 now\)/);
  assertUserError(runCli([...args, '--plugin', plugin, '--my-power', '0']), '--my-power', 'below the minimum 1');

  // export: a column per measure and one for the option (the default where the run was stored without it)
  const csv = runCli(['export', '--db', db, '--format', 'csv']);
  assert.equal(csv.code, 0, csv.stderr);
  const [head, ...rows] = csv.stdout.trim().split('\n').map(csvCells);
  for (const c of ['weight_count', 'spectral_power', 'measure_options.myPower', 'measure_options.sharpnessTarget']) assert.ok(head.includes(c), `${c} in ${head.join(',')}`);
  // runs stored without the option were measured at its default; export (no --plugin) does not know a
  // plugin's default, so those cells are empty, while a built-in option's default is filled in
  assert.deepEqual(rows.map((r) => r[head.indexOf('measure_options.myPower')]).sort(), ['', '', '3', '3']);
  assert.deepEqual(rows.map((r) => r[head.indexOf('measure_options.sharpnessTarget')]), ['0.05', '0.05', '0.05', '0.05']);
  const json = runCli(['export', '--db', db, '--format', 'json']);
  const runs = JSON.parse(json.stdout) as { measures: Record<string, number>; measure_options: Record<string, unknown>; components: Record<string, number[]> }[];
  assert.equal(runs.length, 4);
  // mlp:W on 6x6x1 inputs, 3 classes: 36W + 3W weights
  assert.deepEqual(runs.filter((r) => !('myPower' in r.measure_options)).map((r) => r.measures.weight_count).sort((a, b) => a - b), [4 * 39, 8 * 39]);
  for (const r of runs) {
    const p = (r.measure_options.myPower as number | undefined) ?? 2;
    const logs = r.components.log_spectral_norms;
    assert.equal(logs.length, 2, 'the plugin quantity\'s declared component is stored');
    const expected = 10 ** (p * logs.reduce((a, b) => a + b, 0));
    assert.ok(Math.abs(r.measures.spectral_power - expected) <= 1e-9 * expected, `${r.measures.spectral_power} vs ${expected}`);
  }

  // measure --plugin, with the option
  const ckpt = fs.readdirSync(path.join(d, 'checkpoints')).find((f) => !f.startsWith('.'))!;
  const model = path.join(d, 'checkpoints', ckpt, 'model.json');
  const m = runCli(['measure', '--model', model, '--data', path.join(d, 'checkpoints', ckpt), '--measures', 'spectral_power,weight_count', '--plugin', plugin, '--my-power', '1', '--json', '-']);
  assert.equal(m.code, 0, m.stderr);
  const out = JSON.parse(m.stdout);
  assert.ok([4 * 39, 8 * 39].includes(out.measures.weight_count), m.stdout);
  const norms: number[] = out.components.spectral_norms;
  assert.ok(Math.abs(out.measures.spectral_power - norms[0] * norms[1]) <= 1e-9 * out.measures.spectral_power);
  assert.ok('log_spectral_norms' in out.quantity_timings_ms && 'spectral_norms' in out.quantity_timings_ms, JSON.stringify(out.quantity_timings_ms));
  assertUserError(runCli(['measure', '--model', model, '--data', 'mnist', '--my-power', '2']), 'unknown option --my-power');
  assertUserError(runCli(['measure', '--model', 'x.json', '--data', 'mnist', '--plugin', path.join(d, 'nope.mjs')]), '--plugin', 'cannot be loaded');

  // the report ranks the plugin's measures with the others
  const report = runCli(['report', '--db', db, '--out', path.join(d, 'report')]);
  assert.equal(report.code, 0, report.stderr);
  const html = fs.readFileSync(path.join(d, 'report', 'index.html'), 'utf8');
  const ranking = html.slice(html.indexOf('<table id="ranking">'));
  assert.match(ranking, /<td class="l">spectral_power</);
  assert.match(ranking, /<td class="l">weight_count</);
});
