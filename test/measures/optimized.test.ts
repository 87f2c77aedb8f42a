/**
 * pac_bayes_optimized (src/measures/optimized.ts):
 *  - the diagonal-Gaussian KL against its closed form written out per coordinate, and its ρ-gradient against
 *    central finite differences; λ* minimises it;
 *  - the certification re-done here: the same seeded z_k drawn again, the perturbed nets' 0/1 errors counted
 *    with the float64 forward of test/engine/backprop64.ts, and both kl inversions done by a float64
 *    bisection written from the docs; the reported value must equal it;
 *  - the bound is in [0, 1] whatever the posterior;
 *  - on a small trained net the Adam steps (on s and the mean) lower the surrogate (evaluated on all points,
 *    fixed draws); with lrMean 0 the mean stays at w.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import { computeMeasures } from '../../src/measures/index.js';
import {
  OPTIMIZE_DEFAULTS,
  bestLambda,
  certify,
  initialRho,
  klDiag,
  klDiagGrad,
  lambdaGrid,
  optimizeRho,
  surrogate,
} from '../../src/measures/optimized.js';
import { Network, cloneNetwork, parameterArrays } from '../../src/models/network.js';
import { Rng, deriveSeed } from '../../src/util/random.js';
import { logits64 } from '../engine/backprop64.js';
import { mlp } from './nets.js';
import { trainSmall } from './train.js';

const BOUNDARY = 1e-5; // a float64 margin this close to 0 (relative to 1 + max|logit|) may flip in float32

test('klDiag is ½Σ[s²/λ + d²/λ − 1 + ln(λ/s²)], its ρ-gradient matches finite differences, and λ* minimises it', () => {
  const w = [Float64Array.from([0.3, -0.2, 0.5]), Float64Array.from([0.1])];
  const w0 = [Float64Array.from([0.1, 0.0, 0.4]), Float64Array.from([-0.2])];
  const rho = [Float64Array.from([-1.2, -0.7, -2.0]), Float64Array.from([-1.5])];
  const lambda = 0.07;
  let want = 0;
  for (let j = 0; j < 2; j++)
    for (let i = 0; i < w[j].length; i++) {
      const s2 = Math.exp(rho[j][i]) ** 2;
      const d = w[j][i] - w0[j][i];
      want += 0.5 * (s2 / lambda + (d * d) / lambda - 1 + Math.log(lambda / s2));
    }
  assert.ok(Math.abs(klDiag(w, w0, rho, lambda) - want) < 1e-12, `${klDiag(w, w0, rho, lambda)} vs ${want}`);
  // KL(P‖P) = 0
  assert.ok(Math.abs(klDiag(w0, w0, w0.map((a) => a.map(() => 0.5 * Math.log(lambda))), lambda)) < 1e-12);
  const g = klDiagGrad(rho, lambda);
  const h = 1e-6;
  for (let j = 0; j < 2; j++)
    for (let i = 0; i < rho[j].length; i++) {
      const up = rho.map((a) => a.slice());
      const dn = rho.map((a) => a.slice());
      up[j][i] += h;
      dn[j][i] -= h;
      const fd = (klDiag(w, w0, up, lambda) - klDiag(w, w0, dn, lambda)) / (2 * h);
      assert.ok(Math.abs(fd - g[j][i]) < 1e-6, `∂KL/∂ρ[${j}][${i}] ${g[j][i]} vs finite difference ${fd}`);
    }
  const ls = bestLambda(w, w0, rho);
  const at = klDiag(w, w0, rho, ls);
  for (const f of [0.9, 0.99, 1.01, 1.1]) assert.ok(klDiag(w, w0, rho, ls * f) > at, `λ* = ${ls} is not the minimiser (factor ${f})`);
});

/** kl(q‖p) and its upper inverse by plain float64 bisection (from the definition). */
function kl(q: number, p: number): number {
  const a = q === 0 ? 0 : q * Math.log(q / p);
  const b = q === 1 ? 0 : (1 - q) * Math.log((1 - q) / (1 - p));
  return a + b;
}
function klInv(q: number, c: number): number {
  if (kl(q, 1 - 1e-15) <= c) return 1;
  let lo = q;
  let hi = 1;
  for (let it = 0; it < 200; it++) {
    const mid = (lo + hi) / 2;
    if (kl(q, mid) <= c) lo = mid;
    else hi = mid;
  }
  return hi;
}

const size = (net: Network) => net.inputShape[0] * net.inputShape[1] * net.inputShape[2];

/** Points labelled by the net's own argmax (training error 0), from the test LCG. */
function selfLabelled(net: Network, n: number, seed: number): Dataset {
  const s = size(net);
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: n * s }, () => rng.normal());
  const y = new Int32Array(n);
  const p = parameterArrays(net).map((a) => Float64Array.from(a));
  for (let i = 0; i < n; i++) {
    const f = logits64(net, p, x.subarray(i * s, (i + 1) * s));
    y[i] = f.indexOf(Math.max(...f));
  }
  return { name: 'self', shape: net.inputShape, numClasses: net.numClasses, n, x, y };
}

/** A data set of two noisy clusters per class (learnable, not trivially). */
function clusters(n: number, dim: number, classes: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const centres = Array.from({ length: classes }, () => Float64Array.from({ length: dim }, () => rng.normal()));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y[i] = c;
    for (let k = 0; k < dim; k++) x[i * dim + k] = centres[c][k] + 0.8 * rng.normal();
  }
  return { name: 'clusters', shape: [1, 1, dim], numClasses: classes, n, x, y };
}

test('the certification, re-done in float64 from the same seeded samples, equals the reported bound', async (t) => {
  const initial = mlp([6, 8, 3], true, 2, 0.7);
  const net = cloneNetwork(initial);
  // move the net away from its initialisation by a fixed amount
  parameterArrays(net).forEach((a, j) => a.forEach((v, i) => (a[i] = v + 0.05 * Math.sin(7 * j + i))));
  const data = selfLabelled(net, 200, 9);
  const w = parameterArrays(net);
  const w0 = parameterArrays(initial);
  const seed = 4;
  const delta = 0.05;
  const grid = lambdaGrid();
  const samples = 25;
  // a posterior with s of mixed sizes, so that some sampled nets err
  const rho = w.map((a, j) => Float64Array.from(a, (_, i) => Math.log(0.01 + 0.05 * ((i + j) % 4))));
  const got = await certify(net, w, w0, rho, data, { samples, delta, seed, grid });

  // the reference
  let best = { lambda: 0, kl: Infinity };
  for (const l of grid) {
    let k = 0;
    w.forEach((a, j) =>
      a.forEach((v, i) => {
        const s2 = Math.exp(2 * rho[j][i]);
        const d = v - w0[j][i];
        k += 0.5 * ((s2 + d * d) / l - 1 + Math.log(l / s2));
      }),
    );
    if (k < best.kl) best = { lambda: l, kl: k };
  }
  let wrong = 0;
  let ambiguous = 0;
  const s = size(net);
  for (let k = 0; k < samples; k++) {
    const rng = new Rng(deriveSeed(seed, `optimized certify:${k}`));
    const p = w.map((a, j) => Float64Array.from(a, (v, i) => Math.fround(v + Math.exp(rho[j][i]) * rng.normal())));
    let wk = 0;
    for (let i = 0; i < data.n; i++) {
      const f = logits64(net, p, data.x.subarray(i * s, (i + 1) * s));
      const y = data.y[i];
      let other = -Infinity;
      let big = 0;
      for (let c = 0; c < f.length; c++) {
        if (c !== y) other = Math.max(other, f[c]);
        big = Math.max(big, Math.abs(f[c]));
      }
      if (!(f[y] > other)) wk++;
      if (!(Math.abs(f[y] - other) > BOUNDARY * (1 + big))) ambiguous++;
    }
    if (ambiguous === 0) assert.equal(got.wrong[k], wk, `sample ${k}: engine ${got.wrong[k]} errors, float64 ${wk}`);
    wrong += wk;
  }
  const m = data.n;
  const qHat = wrong / (samples * m);
  const uBar = klInv(qHat, Math.log(2 / (delta / 2)) / samples);
  const want = klInv(uBar, (best.kl + Math.log(grid.length) + Math.log((2 * Math.sqrt(m)) / (delta / 2))) / m);
  t.diagnostic(`bound ${got.bound} (float64 ${want}), q̂ ${got.qHat} (${qHat}), ū ${got.uBar}, KL ${got.kl} at λ ${got.lambda}; ambiguous points ${ambiguous}`);
  assert.ok(qHat > 0 && qHat < 0.5, `the test posterior should make some errors (q̂ = ${qHat})`);
  assert.equal(got.lambda, best.lambda);
  assert.ok(Math.abs(got.kl - best.kl) < 1e-9 * Math.max(1, best.kl));
  if (ambiguous === 0) {
    assert.equal(got.qHat, qHat);
    assert.ok(Math.abs(got.uBar - uBar) < 1e-9, `ū ${got.uBar} vs ${uBar}`);
    assert.ok(Math.abs(got.bound - want) < 1e-9, `bound ${got.bound} vs ${want}`);
  } else assert.ok(Math.abs(got.bound - want) < 0.05);
});

test('the bound is in [0, 1] for posteriors from tiny to huge noise', async () => {
  const initial = mlp([5, 6, 3], true, 3);
  const net = cloneNetwork(initial);
  parameterArrays(net).forEach((a) => a.forEach((v, i) => (a[i] = v * 1.3)));
  const data = selfLabelled(net, 60, 2);
  const w = parameterArrays(net);
  const w0 = parameterArrays(initial);
  for (const logS of [-12, -4, -1, 0, 3]) {
    const rho = w.map((a) => new Float64Array(a.length).fill(logS));
    const c = await certify(net, w, w0, rho, data, { samples: 5, delta: 0.05, seed: 1, grid: lambdaGrid() });
    assert.ok(c.bound >= 0 && c.bound <= 1, `log s = ${logS}: bound ${c.bound}`);
    assert.ok(c.bound >= c.uBar && c.uBar >= c.qHat, `log s = ${logS}: ${c.qHat} ≤ ${c.uBar} ≤ ${c.bound}`);
  }
});

test('on a small trained net, the Adam steps lower the surrogate; the measure reports its components', async (t) => {
  const data = clusters(300, 10, 3, 5);
  const initial = mlp([10, 32, 3], true, 4, 0.4);
  const net = await trainSmall(initial, data, { epochs: 30, lr: 0.05, batch: 30 });
  const w = parameterArrays(net);
  const w0 = parameterArrays(initial);
  const o = { ...OPTIMIZE_DEFAULTS, steps: 150, batch: 100, samples: 20, delta: 0.05, seed: 2 };
  const fixedMean = await optimizeRho(net, w, w0, data, { ...o, lrMean: 0 });
  assert.deepEqual(fixedMean.mean, w, 'lrMean 0 keeps the mean at w');
  const rho0 = initialRho(w, w0, o.sInitFactor);
  const { rho, mean, trace } = await optimizeRho(net, w, w0, data, o);
  const so = { delta: o.delta, gridSize: o.grid.length, draws: [11, 12, 13, 14, 15, 16, 17, 18] };
  const before = await surrogate(net, w, w0, rho0, data, so);
  const after = await surrogate(net, mean, w0, rho, data, so);
  t.diagnostic(`surrogate ${before} → ${after} (mini-batch trace ${trace[0]} → ${trace[trace.length - 1]})`);
  assert.ok(after < before - 0.01, `surrogate ${before} → ${after}`);
  const c0 = await certify(net, w, w0, rho0, data, o);
  const c1 = await certify(net, mean, w0, rho, data, o);
  t.diagnostic(`certified bound ${c0.bound} → ${c1.bound}`);

  const r = await computeMeasures(net, data, { measures: ['pac_bayes_optimized'], initial: (() => {
    const i = cloneNetwork(net);
    parameterArrays(i).forEach((a, j) => a.set(w0[j]));
    return i;
  })() });
  const v = r.measures.pac_bayes_optimized;
  assert.ok(typeof v === 'number' && v > 0 && v <= 1, `${v}: ${r.notes.join(' | ')}`);
  for (const k of ['lambda', 'kl', 'q_hat', 'u_bar', 'samples', 'steps']) assert.equal(typeof r.components[`pac_bayes_optimized_${k}`], 'number', k);
  assert.ok(r.notes.some((n) => n.startsWith('pac_bayes_optimized (Dziugaite & Roy 2017)')));
  // without initial weights: null with the reason
  const r0 = await computeMeasures(net, data, { measures: ['pac_bayes_optimized'] });
  assert.equal(r0.measures.pac_bayes_optimized, null);
});
