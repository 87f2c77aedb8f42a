import test from 'node:test';
import assert from 'node:assert/strict';
import { MEASURES } from '../../src/measures/index.js';

/** A sweep's default list: every measure but the costly opt-in ones (sweepOptIn). */
const SWEEP_NAMES = MEASURES.filter((m) => !m.sweepOptIn).map((m) => m.name);
import { DEFAULT_CONFIG } from '../../src/train/config.js';
import { prepareData } from '../../src/train/prepare.js';
import {
  CONFUSION_PRESETS,
  RANDOM_LABELS_PRESETS,
  WIDTH_PRESETS,
  buildPlan,
  canonicalJson,
  confusionPlan,
  parseSeedList,
  parseSizeList,
  randomLabelsPlan,
  resolveMeasureOptions,
  runKey,
  trainKey,
  widthPlan,
} from '../../src/experiments/index.js';
import { UserError } from '../../src/errors.js';

const isUserError = (re: RegExp) => (e: unknown) => e instanceof UserError && re.test(e.message);

test('random-labels: one true and one random run per size, same seed, every measure', () => {
  const plan = randomLabelsPlan('quick');
  const sizes = RANDOM_LABELS_PRESETS.quick.sizes;
  assert.equal(plan.runs.length, 2 * sizes.length);
  assert.deepEqual(plan.runs.map((r) => [r.size, r.labels]), sizes.flatMap((s) => [[s, 'true'], [s, 'random']]));
  for (const r of plan.runs) {
    assert.equal(r.experiment, 'random-labels');
    assert.equal(r.config.trainSize, r.size);
    assert.equal(r.config.labels, r.labels);
    assert.equal(r.config.data, 'mnist');
    assert.equal(r.config.seed, plan.runs[0].config.seed);
    assert.equal(r.config.targetLoss, 0.01, 'the paper\'s stopping rule');
    assert.equal(r.config.lr, DEFAULT_CONFIG.lr);
    assert.equal(r.confusion, 0);
    assert.equal(r.width, null);
    assert.deepEqual(r.measureOptions.measures, SWEEP_NAMES);
    assert.ok(!SWEEP_NAMES.includes('sharpness_mag_flatness'), 'the costly measures are opt-in in sweeps');
  }
  // a plan is plain data: it survives JSON unchanged
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan);
  assert.equal(new Set(plan.runs.map(runKey)).size, plan.runs.length);
});

test('random-labels: the subsets are nested (same seed), and random labels are drawn on them', () => {
  const plan = randomLabelsPlan('quick', { data: 'synthetic:n=300,test=50,shape=4x4x1', model: 'mlp:8', sizes: [100, 200] });
  const [t100, r100, t200] = plan.runs.map((r) => prepareData(r.config));
  // The 200-point subset starts with the 100-point one: same inputs (before normalisation, compare raw order via labels of true runs).
  assert.deepEqual(Array.from(t200.train.y.subarray(0, 100)), Array.from(t100.train.y));
  assert.equal(r100.train.n, 100);
  assert.notDeepEqual(Array.from(r100.train.y), Array.from(t100.train.y));
});

test('confusion: a fixed true-labelled set plus growing confusion sets', () => {
  const plan = confusionPlan('quick');
  const s = CONFUSION_PRESETS.quick;
  assert.deepEqual(plan.runs.map((r) => r.confusion), s.confusionSizes);
  for (const r of plan.runs) {
    assert.equal(r.size, s.trainSize);
    assert.equal(r.config.trainSize, s.trainSize);
    assert.equal(r.config.confusion, r.confusion);
    assert.equal(r.config.labels, 'true');
  }
  assert.ok(s.confusionSizes.includes(0), 'the baseline without confusion set');
  const small = confusionPlan('quick', { data: 'synthetic:n=300,test=50,shape=4x4x1', trainSize: 100, confusionSizes: [0, 50, 100] });
  const [c0, c50, c100] = small.runs.map((r) => prepareData(r.config));
  assert.equal(c0.trueCount, 100);
  assert.equal(c50.trueCount, 100);
  assert.equal(c100.train.n, 200);
  // the confusion sets are nested: the first 50 confusion labels of the 100-point set are those of the 50-point set
  assert.deepEqual(Array.from(c100.train.y.subarray(100, 150)), Array.from(c50.train.y.subarray(100, 150)));
});

test('width: one-hidden-layer MLPs of growing width on one training set', () => {
  const plan = widthPlan('quick');
  assert.deepEqual(plan.runs.map((r) => r.width), WIDTH_PRESETS.quick.widths);
  assert.deepEqual(plan.runs.map((r) => r.config.model), WIDTH_PRESETS.quick.widths.map((w) => `mlp:${w}`));
  assert.ok(plan.runs.every((r) => r.config.trainSize === WIDTH_PRESETS.quick.trainSize && r.config.data === 'mnist'));
  const paper = widthPlan('paper');
  assert.deepEqual(paper.runs.map((r) => r.width), [8, 32, 128, 512, 2048, 8192]);
  assert.equal(paper.runs[0].config.trainSize, null);
});

test('paper presets use the paper\'s sizes and need CIFAR-10 for random-labels and confusion', () => {
  assert.throws(() => randomLabelsPlan('paper'), isUserError(/--data cifar10:DIR/));
  assert.throws(() => confusionPlan('paper'), isUserError(/--data cifar10:DIR/));
  const rl = randomLabelsPlan('paper', { data: 'cifar10:/x' });
  assert.deepEqual([...new Set(rl.runs.map((r) => r.size))], [5000, 10000, 20000, 30000, 40000, 50000]);
  const cf = confusionPlan('paper', { data: 'cifar10:/x' });
  assert.deepEqual(cf.runs.map((r) => r.confusion), [0, 1000, 2000, 3000, 4000, 5000]);
  assert.ok(cf.runs.every((r) => r.size === 10000));
});

test('overrides: applied, checked, and the ones that do not apply are refused', () => {
  const p = randomLabelsPlan('quick', { seed: 7, maxEpochs: 5, model: 'mlp:16', measureOptions: { measures: ['l2', 'margin'], samples: 3 } });
  assert.ok(p.runs.every((r) => r.config.seed === 7 && r.config.maxEpochs === 5 && r.config.model === 'mlp:16'));
  assert.deepEqual(p.runs[0].measureOptions.measures, ['margin', 'l2'], 'kept in output order');
  assert.equal(p.runs[0].measureOptions.samples, 3);
  assert.throws(() => widthPlan('quick', { model: 'mlp:3' }), isUserError(/--model does not apply to the width experiment/));
  assert.throws(() => randomLabelsPlan('quick', { widths: [8] }), isUserError(/--widths/));
  assert.throws(() => confusionPlan('quick', { sizes: [8] }), isUserError(/--sizes/));
  assert.throws(() => buildPlan('nope', 'quick'), isUserError(/unknown experiment "nope".*random-labels, confusion, width/));
  assert.throws(() => buildPlan('width', 'huge'), isUserError(/--preset/));
  assert.deepEqual(parseSizeList('8, 32,2K', '--widths'), [8, 32, 2000]);
  assert.throws(() => parseSizeList('8,x', '--widths'), isUserError(/--widths: "x"/));
  assert.throws(() => parseSizeList('8,8', '--widths'), isUserError(/repeats/));
  assert.throws(() => parseSizeList('0,8', '--widths'), isUserError(/≥ 1/));
});

test('keys: stable, canonical, and sensitive to every part of the configuration', () => {
  const [a] = widthPlan('quick').runs;
  const [b] = widthPlan('quick').runs;
  assert.equal(runKey(a), runKey(b));
  assert.match(runKey(a), /^[0-9a-f]{64}$/);
  // key order does not matter
  const shuffled = { ...a, config: Object.fromEntries(Object.entries(a.config).reverse()) as typeof a.config };
  assert.equal(runKey(shuffled), runKey(a));
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
  // pinned keys: a change in how keys are made (which would orphan every stored run) must be deliberate
  const literal = {
    experiment: 'width' as const,
    config: { data: 'mnist', model: 'mlp:8', trainSize: 100, labels: 'true' as const, confusion: 0, bias: false, seed: 1, lr: 0.01, momentum: 0.9, batchSize: 64, targetLoss: 0.01, maxEpochs: 1000, maxMinutes: null },
    measureOptions: { measures: ['l2'], samples: 10 } as unknown as ReturnType<typeof resolveMeasureOptions>,
  };
  // Schema 2: the key leaves the measure list out (which measures to compute is not who the run is; a new
  // measure must not re-key every stored run). It was f2dad9b4… with the list (schema 1, still computed by
  // test/experiments/keys.test.ts's copy of the old function, which the store migrates from).
  assert.equal(runKey(literal), 'c13d89817a4004c4c0296d354b21bb02a19448cd6033d3b70cf8a98fd9829a9d');
  assert.equal(runKey(literal), runKey({ ...literal, measureOptions: { ...literal.measureOptions, measures: ['l2', 'margin'] } }));
  assert.equal(trainKey(literal.config), 'daddd2d34403d288f5b62b24fa5f515e01b4dfb46e4e0fa056ca2a7dd907e064');
  const pinned = {
    experiment: 'width' as const,
    config: { ...DEFAULT_CONFIG, model: 'mlp:8', trainSize: 100 },
    measureOptions: resolveMeasureOptions({ measures: ['l2'] }),
  };
  assert.equal(trainKey(pinned.config), trainKey({ ...pinned.config }));
  assert.notEqual(runKey(pinned), runKey({ ...pinned, experiment: 'confusion' }));
  assert.notEqual(runKey(pinned), runKey({ ...pinned, measureOptions: resolveMeasureOptions({ measures: ['l2'], samples: 3 }) }));
  assert.notEqual(runKey(pinned), runKey({ ...pinned, config: { ...pinned.config, seed: 2 } }));
  // measure options change the run key but not the checkpoint (train) key
  assert.equal(trainKey(pinned.config), trainKey({ ...pinned.config }));
  assert.equal(
    runKey(pinned),
    runKey({ ...pinned, measureOptions: resolveMeasureOptions({ measures: ['l2'], samples: 10 }) }),
    'explicit defaults hash as the defaults',
  );
});

test('seeds: the plan is configurations × seeds; seed 1 keeps the one-seed keys; labels name the seed only with several seeds', () => {
  for (const experiment of ['random-labels', 'confusion', 'width'] as const) {
    const one = buildPlan(experiment, 'quick');
    const three = buildPlan(experiment, 'quick', { seeds: [1, 2, 3] });
    assert.equal(three.runs.length, 3 * one.runs.length);
    assert.deepEqual(three.runs.map((r) => r.config.seed), one.runs.flatMap(() => [1, 2, 3]));
    const seed1 = three.runs.filter((r) => r.config.seed === 1);
    assert.deepEqual(seed1.map(runKey), one.runs.map(runKey), `${experiment}: seed 1 runs keep the one-seed keys`);
    assert.deepEqual(three.runs.map((r) => r.label), one.runs.flatMap((r) => [1, 2, 3].map((s) => `${r.label} seed=${s}`)));
    assert.equal(new Set(three.runs.map(runKey)).size, three.runs.length);
    assert.equal(new Set(three.runs.map((r) => trainKey(r.config))).size, three.runs.length, 'each seed trains its own network');
    // the seed does not change the measure options (the Monte-Carlo seed of the measures stays the same)
    assert.deepEqual(new Set(three.runs.map((r) => canonicalJson(r.measureOptions))).size, 1);
  }
  // one seed: the one-seed plan itself (labels and keys), whichever seed
  const single = buildPlan('width', 'quick', { seeds: [1] });
  assert.deepEqual(single, buildPlan('width', 'quick'));
  assert.deepEqual(buildPlan('width', 'quick', { seeds: [7] }), buildPlan('width', 'quick', { seed: 7 }));
  assert.throws(() => buildPlan('width', 'quick', { seeds: [1, 2], seed: 3 }), isUserError(/--seed and --seeds/));
  assert.throws(() => buildPlan('width', 'quick', { seeds: [] }), isUserError(/--seeds/));
});

test('seeds: parseSeedList', () => {
  assert.deepEqual(parseSeedList('1,2,3'), [1, 2, 3]);
  assert.deepEqual(parseSeedList(' 0, 42 '), [0, 42]);
  assert.throws(() => parseSeedList('1,x'), isUserError(/--seeds: "x"/));
  assert.throws(() => parseSeedList('1,,2'), isUserError(/--seeds/));
  assert.throws(() => parseSeedList('1.5'), isUserError(/--seeds/));
  assert.throws(() => parseSeedList('1,2,1'), isUserError(/repeats/));
});
