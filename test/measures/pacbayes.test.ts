import test from 'node:test';
import assert from 'node:assert/strict';
import type { Evaluator, NoiseSpec } from '../../src/measures/evaluator.js';
import { alphaGrid, klIsotropic, klPaper, meanAndStdError, pacBayesBound, pacBayesCurve, pacBayesSigma } from '../../src/measures/pacbayes.js';
import { computeMeasures } from '../../src/measures/index.js';
import { trainedMnist } from './fixtures.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

function fakeErrors(error: (noise: NoiseSpec | null) => number, n = 1000): Evaluator {
  return {
    nFull: n,
    nSharp: n,
    async lossGrad() {
      return { loss: 0, grads: null };
    },
    async error(noise) {
      return error(noise);
    },
    async errors(noises) {
      return noises.map(error);
    },
    async close() {},
  };
}

test('the α grid: 16 log-spaced values from 1e-4 to 1e-1', () => {
  const g = alphaGrid();
  assert.equal(g.length, 16);
  close(g[0], 1e-4);
  close(g[15], 1e-1);
  for (let i = 1; i < 16; i++) close(g[i] / g[i - 1], 10 ** 0.2, 1e-12);
});

test('kl hand cases: Σ w²/(2σ²) with σ = α(10|w|+1), and isotropic', () => {
  // w = 1, −2 at α = 0.1: σ = 1.1, 2.1
  close(klPaper([[1, -2]], 0.1), 1 / (2 * 1.21) + 4 / (2 * 4.41));
  close(klPaper([[1], [-2, 0]], 0.1), 1 / (2 * 1.21) + 4 / (2 * 4.41));
  close(klIsotropic([[1, -2], [2]], 0.5), 9 / (2 * 0.25));
});

test('pac_bayes hand case: L̂ + ES + 4√((kl + ln|G| + ln(2m/δ))/m)', () => {
  close(pacBayesBound(0.01, 0.02, 100, 1000, 0.05, 16), 0.03 + 4 * Math.sqrt((100 + Math.log(16) + Math.log(40000)) / 1000));
  close(pacBayesBound(0, 0, 0, 50, 0.1), 4 * Math.sqrt(Math.log(1000) / 50));
});

test('Monte-Carlo mean and standard error (sample std / √K)', () => {
  const r = meanAndStdError([0.1, 0.2, 0.3, 0.4]);
  close(r.mean, 0.25);
  close(r.stdError, Math.sqrt(0.05 / 3) / 2);
  assert.equal(meanAndStdError([0.3]).stdError, 0);
});

test('the curve from a known error function: expected sharpness, its std error, kl, bound and the chosen α', async () => {
  // error at α with sample k: 0.02 + α·(1 + 0.1·(k − 1.5)), K = 4 → ES(α) = α, std error α·0.1·sd(−1.5..1.5)/2
  const ev = fakeErrors((noise) => (noise === null ? 0.02 : 0.02 + (noise as { alpha: number }).alpha * (1 + 0.1 * (noise.sample - 1.5))));
  const grid = [1e-3, 1e-2, 1e-1, 1];
  const w = [Float32Array.from([0.5, -0.3, 0.1])];
  const c = await pacBayesCurve(ev, w, { grid, samples: 4, m: 1000, delta: 0.05 });
  assert.equal(c.trainError, 0.02);
  const sd = Math.sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3);
  let best = 0;
  c.points.forEach((p, i) => {
    close(p.alpha, grid[i]);
    close(p.expected_sharpness, grid[i], 1e-9);
    close(p.std_error, (grid[i] * 0.1 * sd) / 2, 1e-9);
    close(p.kl, klPaper(w, grid[i]));
    close(p.bound, pacBayesBound(0.02, grid[i], klPaper(w, grid[i]), 1000, 0.05, 4), 1e-9);
    if (p.bound < c.points[best].bound) best = i;
  });
  assert.equal(c.best, best);
});

test('pac_bayes_sigma bisection on a known accuracy drop σ²: stops within 0.1 ± 0.01', async () => {
  const ev = fakeErrors((noise) => (noise === null ? 0.01 : 0.01 + (noise as { sigma: number }).sigma ** 2 + 0.001 * (noise.sample - 2)));
  const r = await pacBayesSigma(ev, { samples: 5, maxSigma: 2, steps: 15, drop: 0.1, tol: 0.01 });
  assert.ok(r.withinTolerance);
  assert.ok(Math.abs(r.sigma ** 2 - 0.1) <= 0.01 + 1e-12, `σ = ${r.sigma}`);
  assert.ok(r.steps < 15);
});

test('pac_bayes_sigma: a drop that jumps past the band returns the largest σ known to keep the drop ≤ 0.1; too sharp a net returns 0', async () => {
  const jump = fakeErrors((noise) => (noise === null ? 0 : (noise as { sigma: number }).sigma < 0.3 ? 0.05 : 0.5));
  const r = await pacBayesSigma(jump, { samples: 3, maxSigma: 2, steps: 15, drop: 0.1, tol: 0.01 });
  assert.ok(!r.withinTolerance);
  assert.ok(r.sigma < 0.3 && r.sigma > 0.3 - 2 / 2 ** 15, `σ = ${r.sigma}`);
  const sharp = fakeErrors((noise) => (noise === null ? 0 : 0.9));
  const s = await pacBayesSigma(sharp, { samples: 3, maxSigma: 2, steps: 15, drop: 0.1, tol: 0.01 });
  assert.equal(s.sigma, 0);
});

test('trained net on MNIST digits: expected sharpness grows with α, with K and its Monte-Carlo error in the output', async () => {
  const { net, data } = await trainedMnist();
  const K = 6;
  const r = await computeMeasures(net, data, { measures: ['expected_sharpness', 'kl', 'pac_bayes', 'pac_bayes_sigma', 'flatness'], samples: K, seed: 4 });
  const curve = r.pac_bayes_curve;
  assert.equal(curve.length, 16);
  const es = curve.map((p) => p.expected_sharpness);
  // a wide α ratio: clearly larger at 1e-1 than at 1e-3
  const at = (a: number) => curve.find((p) => Math.abs(p.alpha / a - 1) < 1e-9)!.expected_sharpness;
  assert.ok(at(1e-1) > at(1e-3) + 0.1, `ES(1e-1) = ${at(1e-1)}, ES(1e-3) = ${at(1e-3)}`);
  // and non-decreasing along the grid up to Monte-Carlo noise
  for (let i = 1; i < es.length; i++) assert.ok(es[i] >= es[i - 1] - 3 * curve[i].std_error - 1e-9, `ES not increasing at α = ${curve[i].alpha}: ${es}`);
  // the reported values are the curve at α* and satisfy the bound's formula
  const c = r.components as any;
  const best = curve.find((p) => p.alpha === c.pac_bayes_alpha)!;
  assert.equal(r.measures.expected_sharpness, best.expected_sharpness);
  assert.equal(r.measures.kl, best.kl);
  assert.equal(r.measures.pac_bayes, best.bound);
  assert.equal(Math.min(...curve.map((p) => p.bound)), best.bound);
  close(best.bound, pacBayesBound(c.train_error01, best.expected_sharpness, best.kl, data.n, 0.05, 16), 1e-12);
  assert.equal(c.samples, K);
  assert.equal(c.expected_sharpness_std_error, best.std_error);
  assert.ok(curve.some((p) => p.std_error > 0));
  assert.ok(r.notes.some((n) => n.includes(`K = ${K} samples`) && n.includes('std error')));
  // pac_bayes_sigma and flatness
  assert.ok(r.measures.pac_bayes_sigma! > 0 && r.measures.pac_bayes_sigma! < 2);
  close(r.measures.flatness!, 1 / r.measures.pac_bayes_sigma! ** 2);
  assert.ok(Math.abs(c.pac_bayes_sigma_drop - 0.1) <= 0.01 || c.pac_bayes_sigma_drop <= 0.1);
});
