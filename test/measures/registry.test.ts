/**
 * The open registry: quantities computed once and timed under their own names, declarations enforced,
 * options declared once (flags, stored options, export columns), and run keys that do not move.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { DEFAULT_CONFIG } from '../../src/train/config.js';
import { runKey, widthPlan, randomLabelsPlan, resolveMeasureOptions } from '../../src/experiments/index.js';
import { csvColumns } from '../../src/experiments/export.js';
import {
  MEASURES,
  computeMeasures,
  defineMeasure,
  defineOption,
  defineQuantity,
  dependsOnOptions,
  gamma,
  resolveOptions,
  spectralNorms,
  type Quantity,
} from '../../src/measures/index.js';
import { OPTIONS, cliFlags, fromFlags, storedOptions } from '../../src/measures/options.js';
import { mlp } from './nets.js';
import { loadData } from '../../src/data/index.js';

const isUserError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test((e as Error).message);

test('run keys of the presets do not move (pinned before the registry existed)', () => {
  // computed by the code before options were declared (commit e948481): a change here orphans stored runs
  assert.equal(runKey(widthPlan('quick').runs[0]), '7d15c1ed9623d087aa958af9a2a38c2e666dc893a0825ca0c47485ac9e105cad');
  assert.equal(runKey(widthPlan('quick').runs[1]), 'af1c26db6516d0eb1f043bdedecdf4256c49ef3688e7fd48995a8a4948efc5f4');
  assert.equal(runKey(randomLabelsPlan('quick').runs[0]), '248edd3f44ee6f6841626085211697e42824d5ff859a18a8b936be19d853af94');
  assert.equal(runKey(widthPlan('quick', { measureOptions: { sharpnessTarget: 0.1 } }).runs[0]), 'c57af0fa4c1427b9ac3bf2ea43be85cb3b6a3f07d86403797eee31f2d3030301');
  assert.equal(runKey(widthPlan('quick', { measureOptions: { samples: 3, alphaGrid: [1e-3, 1e-2] } }).runs[0]), '7b03cbe807c640392258604b7741bb4828e69fee27ab0a53cd5cfe67a9cfd82e');
  // the twelve options stored always, sharpnessTarget only off its default
  assert.deepEqual(Object.keys(resolveMeasureOptions({ measures: ['l2'] })).sort(), [
    'accuracyDrop', 'accuracyTol', 'alpha', 'alphaGrid', 'delta', 'marginEps', 'measures', 'samples', 'seed', 'sharpnessPoints', 'sharpnessSteps', 'sigmaMax', 'sigmaSteps',
  ]);
});

test('defineOption: a new keyed option does not re-key runs at its default; off it, it is stored, keyed, a flag and a column', () => {
  const spec = { experiment: 'width' as const, config: { ...DEFAULT_CONFIG, model: 'mlp:8' }, measureOptions: resolveMeasureOptions({ measures: ['l2'] }) };
  const before = runKey(spec);
  const opt = defineOption({ name: 'testWindow', flag: 'test-window', type: 'int', value: 'W', default: 3, min: 1, max: 9, help: 'a test option', keyed: true });
  assert.equal(runKey({ ...spec, measureOptions: resolveMeasureOptions({ measures: ['l2'] }) }), before, 'declaring it changes no key');
  assert.equal(runKey({ ...spec, measureOptions: resolveMeasureOptions({ measures: ['l2'], testWindow: 3 }) }), before, 'nor setting it to its default');
  const off = resolveMeasureOptions({ measures: ['l2'], testWindow: 5 });
  assert.equal(off.testWindow, 5);
  assert.notEqual(runKey({ ...spec, measureOptions: off }), before);
  assert.equal(resolveOptions().testWindow, 3);
  assert.throws(() => resolveOptions({ testWindow: 0 }), isUserError(/^testWindow: must be ≥ 1 \(got 0\)$/));
  assert.throws(() => resolveOptions({ testWindow: 2.5 }), isUserError(/^testWindow: must be a whole number/));
  assert.throws(() => resolveOptions({ testWindw: 2 }), isUserError(/unknown measure option testWindw/));
  // the flags of measure and run, and their values
  assert.deepEqual(cliFlags('measure', { withDefaults: true, taken: [] })['test-window'], { type: 'int', value: 'W', help: 'a test option', default: 3, min: 1, max: 9 });
  assert.match(cliFlags('run', { withDefaults: false, taken: [] })['test-window'].help, /\[default: 3\]$/);
  assert.deepEqual(fromFlags('run', { 'test-window': 7 }), { testWindow: 7 });
  assert.deepEqual(fromFlags('run', {}), {}, 'an unset flag leaves the preset\'s value');
  assert.ok(!('seed' in cliFlags('run', { withDefaults: false, taken: [] })), 'run\'s --seed is the training seed');
  assert.throws(() => cliFlags('measure', { withDefaults: true, taken: ['test-window'] }), isUserError(/testWindow has the flag --test-window, which genmeasures measure uses already/));
  assert.ok(csvColumns([]).includes('measure_options.testWindow'), 'an export column');
  assert.equal(opt.defaultValue(), 3);
  // bad declarations
  const bad = (spec: unknown, re: RegExp) => assert.throws(() => defineOption(spec as Parameters<typeof defineOption>[0]), isUserError(re));
  bad({ name: 'test-x', flag: 'x', type: 'int', default: 1, help: 'h', keyed: true }, /not camelCase/);
  bad({ name: 'testWindow', flag: 'x', type: 'int', default: 1, help: 'h', keyed: true }, /exists already/);
  bad({ name: 'testOther', flag: 'test-window', type: 'int', default: 1, help: 'h', keyed: true }, /--test-window is taken \(by testWindow\)/);
  bad({ name: 'testOther', flag: 'Other', type: 'int', default: 1, help: 'h', keyed: true }, /not kebab-case/);
  bad({ name: 'testOther', flag: 'other', type: 'int', default: 1, help: 'h' }, /keyed must be/);
  bad({ name: 'testOther', flag: 'other', type: 'int', default: 0, min: 1, help: 'h', keyed: false }, /the default does not pass its own check/);
  bad({ name: 'testOther', flag: 'other', type: 'string', default: 'a', help: 'h', keyed: false }, /needs parse/);
  assert.equal(OPTIONS.filter((o) => o.name === 'testOther').length, 0);
  // a non-keyed option is neither stored nor exported
  defineOption({ name: 'testLabel', flag: 'test-label', type: 'string', default: 'x', parse: (t: string) => t, help: 'h', keyed: false });
  assert.ok(!('testLabel' in storedOptions(resolveOptions({ testLabel: 'y' }))));
  assert.ok(!csvColumns([]).includes('measure_options.testLabel'));
});

test('quantities: computed once per call, timed under their own names; a measure\'s time includes the quantities it read first', async () => {
  let calls = 0;
  const slow = defineQuantity({
    name: 'test_slow_sum',
    reads: [spectralNorms],
    async compute(ctx) {
      calls++;
      await new Promise((r) => setTimeout(r, 30));
      return (await ctx.read(spectralNorms)).reduce((a, b) => a + b, 0);
    },
  });
  defineMeasure({ name: 'test_sum_a', summary: 'a', reads: [slow], compute: async (ctx) => ({ value: await ctx.read(slow) }) });
  defineMeasure({ name: 'test_sum_b', summary: 'b', reads: [slow], compute: async (ctx) => ({ value: 2 * (await ctx.read(slow)) }) });
  const net = mlp([4, 5, 3], true);
  const r = await computeMeasures(net, null, { measures: ['test_sum_a', 'test_sum_b', 'spectral'] });
  assert.equal(calls, 1, 'computed once');
  assert.equal(r.measures.test_sum_b, 2 * r.measures.test_sum_a!);
  assert.ok(r.quantity_timings_ms!.test_slow_sum >= 25, JSON.stringify(r.quantity_timings_ms));
  assert.ok('spectral_norms' in r.quantity_timings_ms! && 'widths' in r.quantity_timings_ms!);
  assert.ok(r.timings_ms.test_sum_a >= 25, 'the first reader is charged');
  assert.ok(r.timings_ms.test_sum_b < 25, 'the second reads it from the cache');
  assert.equal(r.measures.spectral, null, 'spectral reads γ, which needs data');
  assert.deepEqual(MEASURES.find((m) => m.name === 'spectral')!.needs, ['weights', 'data'], 'needs include the reads\' needs');
  assert.deepEqual(dependsOnOptions(MEASURES.find((m) => m.name === 'pac_bayes')!).sort(), ['alphaGrid', 'delta', 'samples', 'seed', 'sharpnessPoints']);
});

test('declarations are enforced: an undeclared quantity, option or component throws', async () => {
  const net = mlp([4, 5, 3], false);
  const data = loadData('synthetic:n=40,shape=2x2x1,classes=3').train;
  const q: Quantity<number> = gamma as unknown as Quantity<number>;
  defineMeasure({ name: 'test_reads_undeclared', summary: 'x', needs: ['weights'], compute: async (ctx) => ({ value: await (ctx.read as (q: unknown) => Promise<number>)(q) }) });
  defineMeasure({ name: 'test_option_undeclared', summary: 'x', needs: ['weights'], compute: (ctx) => ({ value: (ctx.options as Record<string, number>).alpha }) });
  defineMeasure({ name: 'test_component_undeclared', summary: 'x', needs: ['weights'], compute: (ctx) => (ctx.set('anything', 1), { value: 1 }) });
  defineMeasure({ name: 'test_declared', summary: 'x', reads: [gamma], options: ['alpha'], components: ['test_declared_alpha'], compute: async (ctx) => (ctx.set('test_declared_alpha', ctx.options.alpha), { value: (await ctx.read(gamma)).k }) });
  await assert.rejects(computeMeasures(net, data, { measures: ['test_reads_undeclared'] }), /measure test_reads_undeclared reads the quantity gamma, which it does not declare in reads/);
  await assert.rejects(computeMeasures(net, data, { measures: ['test_option_undeclared'] }), /measure test_option_undeclared reads the option alpha, which it does not declare in options/);
  await assert.rejects(computeMeasures(net, data, { measures: ['test_component_undeclared'] }), /writes the component anything, which it does not declare/);
  const ok = await computeMeasures(net, data, { measures: ['test_declared'], alpha: 0.25 });
  assert.equal(ok.measures.test_declared, 2, 'k = ⌈0.05 · 40⌉');
  assert.equal(ok.components.test_declared_alpha, 0.25);
  // definitions that cannot be right are refused when defined
  const bad = (spec: unknown, re: RegExp) => assert.throws(() => defineMeasure(spec as Parameters<typeof defineMeasure>[0]), isUserError(re));
  bad({ name: 'test_bad_reads', summary: 'x', reads: [{ name: 'gamma' }], compute: () => ({ value: 1 }) }, /reads must list quantities made by defineQuantity/);
  bad({ name: 'test_bad_option', summary: 'x', options: ['nope'], compute: () => ({ value: 1 }) }, /unknown option nope/);
  bad({ name: 'test_bad_component', summary: 'x', components: ['spectral_norms'], compute: () => ({ value: 1 }) }, /the component spectral_norms is written by the quantity spectral_norms already/);
  assert.throws(() => defineQuantity({ name: 'gamma', compute: () => 1 }), isUserError(/a quantity named gamma exists already/));
});
