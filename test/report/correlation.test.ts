import test from 'node:test';
import assert from 'node:assert/strict';
import { granulatedKendall, kendallTau, varyingHyperparameters, RunPoint } from '../../src/report/correlation.js';

test('Kendall τ: perfect agreement, perfect disagreement, fewer than two points', () => {
  assert.equal(kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(kendallTau([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.equal(kendallTau([5], [1]), null);
  assert.equal(kendallTau([], []), null);
});

test('Kendall τ-a by hand, with ties', () => {
  // μ = [1, 2, 2, 3], g = [1, 3, 2, 2]
  // pairs (i<j): (0,1) +·+ = 1; (0,2) +·+ = 1; (0,3) +·+ = 1; (1,2) 0 (μ tie); (1,3) −·+ ... sign(2−3)=−1, sign(3−2)=+1 → −1;
  // (2,3) sign(2−3)=−1 · sign(2−2)=0 → 0.  Sum = 2 over 6 unordered pairs → τ = 2/6.
  assert.ok(Math.abs(kendallTau([1, 2, 2, 3], [1, 3, 2, 2])! - 1 / 3) < 1e-15);
  // all μ tied (a constant measure) or all gaps tied: undefined, not 0
  assert.equal(kendallTau([7, 7, 7], [1, 2, 3]), null);
  assert.equal(kendallTau([1, 2, 3], [0.5, 0.5, 0.5]), null);
  // three points, one discordant pair: μ=[1,2,3], g=[1,3,2]: (0,1)+1, (0,2)+1, (1,2) −1 → 1/3
  assert.ok(Math.abs(kendallTau([1, 2, 3], [1, 3, 2])! - 1 / 3) < 1e-15);
});

test('granulated Kendall by hand: two hyperparameters on a 2×2 grid plus a lone run', () => {
  // hyperparameters: width ∈ {8, 32}, labels ∈ {true, random}
  const pts: RunPoint[] = [
    { hyper: { width: 8, labels: 'true' }, mu: 1, gap: 0.1 },
    { hyper: { width: 32, labels: 'true' }, mu: 2, gap: 0.05 }, // discordant with the one above
    { hyper: { width: 8, labels: 'random' }, mu: 5, gap: 0.9 },
    { hyper: { width: 32, labels: 'random' }, mu: 6, gap: 0.95 }, // concordant with the one above
  ];
  // ψ_width: cells by labels: true → τ(−1), random → τ(+1) → mean 0
  // ψ_labels: cells by width: 8 → (1,0.1) vs (5,0.9) concordant +1; 32 → (2,0.05) vs (6,0.95) +1 → 1
  const g = granulatedKendall(pts);
  assert.deepEqual(varyingHyperparameters(pts), ['labels', 'width']);
  assert.equal(g.perHyper.width.psi, 0);
  assert.equal(g.perHyper.width.cells, 2);
  assert.equal(g.perHyper.labels.psi, 1);
  assert.equal(g.psi, 0.5);
  // a lone run in its own cell changes no ψ (cells of one run have no τ)
  const more = [...pts, { hyper: { width: 128, labels: 'true' }, mu: 0, gap: 0 }];
  const g2 = granulatedKendall(more);
  assert.equal(g2.perHyper.labels.psi, 1);
  assert.equal(g2.perHyper.labels.cells, 2);
  // ψ_width, labels=true cell: μ=[1,2,0], g=[.1,.05,0]: (0,1) −1, (0,2) +1, (1,2) +1 → 1/3; random cell +1 → mean 2/3
  assert.ok(Math.abs(g2.perHyper.width.psi! - 2 / 3) < 1e-15);
});

test('granulated Kendall with ties in the measure, and with nothing to compare', () => {
  const pts: RunPoint[] = [
    { hyper: { size: 1 }, mu: 3, gap: 0.2 },
    { hyper: { size: 2 }, mu: 3, gap: 0.4 },
    { hyper: { size: 3 }, mu: 4, gap: 0.3 },
  ];
  // one hyperparameter: one cell with all three: (0,1) tie → 0; (0,2) +1; (1,2) −1·... sign(3−4)=−1, sign(.4−.3)=+1 → −1 → sum 0 → τ 0
  const g = granulatedKendall(pts);
  assert.equal(g.perHyper.size.psi, 0);
  assert.equal(g.psi, 0);
  assert.deepEqual(granulatedKendall([{ hyper: { a: 1 }, mu: 1, gap: 1 }]), { psi: null, perHyper: {} });
});
