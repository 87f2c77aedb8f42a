/**
 * The ranking of the measures: one network counts once (runs of one training configuration and measure
 * options are merged before τ and Ψ), and τ of a constant measure is undefined, shown as such.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { conditionalMutualInformation, kendallTau, varyingHyperparameters } from '../../src/report/correlation.js';
import { toReportRun } from '../../src/report/fromStore.js';
import { rankingHtml } from '../../src/report/html.js';
import { dedupeByTraining, generalizationGap, hyperparameters, rankMeasures } from '../../src/report/ranking.js';
import type { ReportRun } from '../../src/report/figures.js';
import type { StoredRun } from '../../src/experiments/store.js';

function run(p: Partial<ReportRun> & { key: string }): ReportRun {
  return {
    experiment: 'random-labels',
    data: 'mnist',
    model: 'mlp:512',
    seed: 1,
    size: 1000,
    labels: 'true',
    confusion: 0,
    width: null,
    converged: true,
    epochs: 30,
    trainError: 0,
    testError: 0.1,
    measures: {},
    components: {},
    curve: [],
    ...p,
  };
}

const MO = '{"measures":["l2","params"],"samples":10}';

/** A random-labels sweep (sizes × labels) and a confusion sweep whose confusion-0 run is the random-labels 2000/true network. */
function sweeps(): ReportRun[] {
  const runs: ReportRun[] = [];
  const gap = (size: number, labels: string, confusion = 0) => (labels === 'random' ? 0.9 : 0.2 - size / 20000 + confusion / 5000);
  for (const size of [500, 1000, 2000]) {
    for (const labels of ['true', 'random'] as const) {
      runs.push(run({ key: `rl-${size}-${labels}`, trainKey: `t-${size}-${labels}-0`, measureOptions: MO, size, labels, testError: gap(size, labels), measures: { l2: (labels === 'random' ? 100 : 10) * size, params: 407040 } }));
    }
  }
  for (const confusion of [0, 500, 1000]) {
    // the confusion-0 run trained the very network of rl-2000-true (same training configuration)
    runs.push(
      run({
        key: `c-${confusion}`,
        experiment: 'confusion',
        trainKey: `t-2000-true-${confusion}`,
        measureOptions: MO,
        size: 2000,
        confusion,
        testError: gap(2000, 'true', confusion),
        measures: { l2: confusion === 0 ? 20000 : 20000 + 30 * confusion, params: 407040 },
      }),
    );
  }
  return runs;
}

test('ranking: a network recorded by two experiments counts once in τ and Ψ', () => {
  const runs = sweeps();
  assert.equal(runs.length, 9);
  const { runs: distinct, duplicates } = dedupeByTraining(runs);
  assert.equal(duplicates, 1);
  assert.equal(distinct.length, 8);
  assert.ok(!distinct.some((r) => r.key === 'c-0'), 'the second record of rl-2000-true is the one left out');
  const l2 = rankMeasures(runs).find((r) => r.measure === 'l2')!;
  assert.equal(l2.runs, 8);
  assert.equal(l2.duplicates, 1);
  const gap = (r: ReportRun) => r.testError! - r.trainError!;
  assert.equal(l2.tau, kendallTau(distinct.map((r) => r.measures.l2!), distinct.map(gap)));
  assert.notEqual(l2.tau, kendallTau(runs.map((r) => r.measures.l2!), runs.map(gap)), 'counting it twice changes τ');

  // the same network measured with other options is another measurement: kept
  const other = runs.map((r) => (r.key === 'c-0' ? { ...r, measureOptions: '{"measures":["l2"],"samples":2}' } : r));
  assert.equal(dedupeByTraining(other).duplicates, 0);
  // runs without a train key (not from a database) are never merged
  assert.equal(dedupeByTraining(runs.map((r) => ({ ...r, trainKey: undefined }))).duplicates, 0);
});

test('ranking: τ of a measure that is constant over the runs is undefined, not 0, and the table says so', () => {
  const rows = rankMeasures(sweeps());
  const params = rows.find((r) => r.measure === 'params')!;
  assert.equal(params.tau, null);
  assert.equal(params.tauUndefined, 'constant measure');
  assert.equal(params.psi, null);
  for (const [h, p] of Object.entries(params.perHyper)) {
    assert.equal(p.psi, null, h);
    assert.ok(p.constant > 0, `${h}: the groups left out are counted`);
  }
  assert.equal(rows.at(-1)!.measure, 'params', 'undefined last');
  const l2 = rows.find((r) => r.measure === 'l2')!;
  assert.equal(l2.tauUndefined, null);
  assert.ok(l2.tau !== null && l2.tau > 0);

  const html = rankingHtml(rows);
  const paramsRow = html.split('\n').find((l) => l.includes('<td class="l">params</td>'))!;
  assert.match(paramsRow, /<td><span class="muted" title="undefined: the measure takes the same value on every run compared">undefined\*<\/span><\/td>/);
  assert.ok(!/<td>0<\/td>/.test(paramsRow), 'not shown as 0');
  assert.match(html, /\* undefined: the measure \(or the generalization gap\) takes one value on every run compared/);
  assert.match(html, /Each network counts once: 1 run that repeats a training configuration/);
  // a measure with fewer than two runs: a dash, no footnote
  const lone = rankingHtml(rankMeasures([run({ key: 'a', measures: { x: 1 } })]));
  assert.match(lone, /<td class="l">x<\/td><td>—<\/td><td>—<\/td>/);
  assert.ok(!lone.includes('undefined'));
});

test('ranking: the CMI column, minimised over pairs of swept hyperparameters, beside τ and Ψ', () => {
  const runs = sweeps();
  const rows = rankMeasures(runs);
  const l2 = rows.find((r) => r.measure === 'l2')!;
  const distinct = dedupeByTraining(runs).runs;
  const points = distinct.map((r) => ({ hyper: hyperparameters(r), mu: r.measures.l2!, gap: generalizationGap(r)! }));
  const expected = conditionalMutualInformation(points, varyingHyperparameters(points))!;
  assert.equal(l2.cmi, expected.score);
  assert.deepEqual(l2.cmiWorstSet, expected.worstSet);
  assert.ok(l2.cmi! >= 0 && l2.cmi! <= 1);
  // sizes × labels (+ confusion on size 2000, true labels): pairs {confusion, labels}, {confusion, size}, {labels, size}
  assert.deepEqual(expected.perSet.map((s) => s.set.join()), ['confusion,labels', 'confusion,size', 'labels,size']);
  // params is constant: no information about the gap
  assert.equal(rows.find((r) => r.measure === 'params')!.cmi, 0);
  // rank order is still by τ
  const taus = rows.map((r) => r.tau ?? -Infinity);
  assert.deepEqual(taus, [...taus].sort((a, b) => b - a));

  const html = rankingHtml(rows);
  assert.match(html, /<th>CMI<\/th><th>runs<\/th><\/tr>/);
  const l2Row = html.split('\n').find((l) => l.includes('<td class="l">l2</td>'))!;
  assert.ok(l2Row.includes(`<td class="cmi">${Number(l2.cmi!.toPrecision(3))} <span class="muted">(${l2.cmiWorstSet!.join(', ')})</span></td>`), l2Row);
  assert.match(html, /<p class="meta ranking-note">CMI: the conditional mutual information between sign\(Δμ\) and sign\(Δgap\)/);
  // no usable pair: a dash
  const lone = rankingHtml(rankMeasures([run({ key: 'a', measures: { x: 1 } })]));
  assert.match(lone, /<td class="cmi">—<\/td><td>1<\/td>/);
});

test('report runs from the database carry their training configuration key and measure options', () => {
  const stored = {
    key: 'k', train_key: 'tk', experiment: 'width', label: 'width=8', train_size: 64, labels: 'true', confusion: 0, width: 8,
    data: 'mnist', model: 'mlp:8', seed: 1, status: 'done', converged: 1, epochs: 3, train_error: 0, test_error: 0.1,
    measure_options: { samples: 2, measures: ['l2'] }, measures: { l2: 1 }, components: {}, pac_bayes_curve: [],
  } as unknown as StoredRun;
  const r = toReportRun(stored);
  assert.equal(r.trainKey, 'tk');
  assert.equal(r.measureOptions, '{"measures":["l2"],"samples":2}', 'canonical JSON: key order does not matter');
});
