/**
 * The rank table does not put an artefact of the α grid first: measures read at the PAC-Bayes bound's α*
 * go after the others when α* is the grid's first or last value in most runs.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { ReportRun } from '../../src/report/figures.js';
import { alphaStarAtEdge, rankMeasures } from '../../src/report/ranking.js';

function run(i: number, alphaStar: number, atEdge: 'low' | 'high' | null | undefined): ReportRun {
  const gap = 0.05 * i;
  return {
    key: `k${i}`,
    trainKey: `t${i}`,
    measureOptions: JSON.stringify({ alphaGrid: [1e-4, 1e-3, 1e-2, 1e-1] }),
    experiment: 'width',
    data: 'mnist',
    model: `mlp:${8 * (i + 1)}`,
    seed: 1,
    size: 100,
    labels: 'true',
    confusion: 0,
    width: 8 * (i + 1),
    converged: true,
    epochs: 10,
    trainError: 0,
    testError: gap,
    // expected_sharpness follows the gap exactly (τ = 1), l2 almost (τ < 1)
    measures: { expected_sharpness: gap, l2: i === 1 ? 0.5 : i, kl: 1 },
    components: atEdge === undefined ? { pac_bayes_alpha: alphaStar } : { pac_bayes_alpha: alphaStar, pac_bayes_alpha_at_edge: atEdge },
    curve: [],
  };
}

test('α* at the grid edge: read from the flag, or from the stored grid for older runs', () => {
  assert.equal(alphaStarAtEdge(run(0, 0.1, 'high')), true);
  assert.equal(alphaStarAtEdge(run(0, 0.1, null)), false);
  assert.equal(alphaStarAtEdge(run(0, 0.1, undefined)), true); // largest value of the stored grid
  assert.equal(alphaStarAtEdge(run(0, 1e-4, undefined)), true); // smallest
  assert.equal(alphaStarAtEdge(run(0, 1e-2, undefined)), false);
});

test('a measure read at the grid edge in most runs is ranked after the others, and counted', () => {
  const edge = [0, 1, 2, 3, 4].map((i) => run(i, 0.1, 'high'));
  const ranked = rankMeasures(edge, ['expected_sharpness', 'l2']);
  assert.deepEqual(ranked.map((r) => r.measure), ['l2', 'expected_sharpness']);
  assert.equal(ranked[1].tau, 1);
  assert.equal(ranked[1].atGridEdge, 5);
  assert.equal(ranked[0].atGridEdge, 0);
  // with α* inside the grid it competes on τ again, and wins
  const inside = [0, 1, 2, 3, 4].map((i) => run(i, 1e-2, null));
  assert.deepEqual(rankMeasures(inside, ['expected_sharpness', 'l2']).map((r) => r.measure), ['expected_sharpness', 'l2']);
});
