/**
 * Magnitude-aware flatness (src/measures/magflatness.ts) on nets where the answer is known:
 *  - pac_bayes_mag_flatness on a 1-hidden-layer net: the accuracy drop as a function of α′ is computed by
 *    brute force in float64 with the same seeded z_k (the perturbed weights are the same float32 numbers the
 *    engine builds), and the engine's α′ must be the bisection run on those drops; a fine scan of α′ must
 *    bracket it.
 *  - sharpness_mag_flatness on a linear model (dense → output) whose points all carry the same label and
 *    have positive inputs: the cross-entropy is increasing in every other class's logit and decreasing in
 *    the label's, and ∂L/∂ν has the sign of x_k·(p_j − 1[j = y]) for every point alike, so the worst
 *    perturbation of the box |ν| ≤ α′|w| + ε is its corner ν_jk = ±r_jk (+ for j ≠ y), which the first
 *    sign-gradient step reaches and never leaves. Point i is then misclassified from
 *        α_i = min_{j≠y} (f_y − f_j − 2εE) / (A_y + A_j),   A_j = Σ_k |w_kj| x_k + |b_j|,  E = Σ_k x_k + 1,
 *    so the drop at α′ is #{i: α_i ≤ α′}/n in closed form.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../../src/data/types.js';
import { createEvaluator, LocalEvaluator, MAG_EPSILON, noiseScale } from '../../src/measures/evaluator.js';
import { computeMeasures } from '../../src/measures/index.js';
import { MAG_ALPHA_MAX, ascend, ascentStart, bisectScale, magRadius } from '../../src/measures/magflatness.js';
import { Network, parameterArrays } from '../../src/models/network.js';
import { Rng, deriveSeed } from '../../src/util/random.js';
import { logits64, lossGrad64 } from '../engine/backprop64.js';
import { randomArray } from '../helpers.js';
import { mlp } from './nets.js';

const BOUNDARY = 1e-4; // a float64 margin this close to 0 (relative to 1 + max|logit|) may flip in float32

const inputSize = (net: Network) => net.inputShape[0] * net.inputShape[1] * net.inputShape[2];

/** Float64 0/1 error count at parameters p (ties are errors), and the number of points too close to call. */
function count64(net: Network, p: Float64Array[], data: Dataset): { wrong: number; amb: number } {
  const s = inputSize(net);
  let wrong = 0;
  let amb = 0;
  for (let i = 0; i < data.n; i++) {
    const f = logits64(net, p, data.x.subarray(i * s, (i + 1) * s));
    const y = data.y[i];
    let other = -Infinity;
    let big = 0;
    for (let j = 0; j < f.length; j++) {
      if (j !== y) other = Math.max(other, f[j]);
      big = Math.max(big, Math.abs(f[j]));
    }
    if (!(f[y] - other > 0)) wrong++;
    if (!(Math.abs(f[y] - other) > BOUNDARY * (1 + big))) amb++;
  }
  return { wrong, amb };
}

/** z_k as the engine draws it (evaluator.ts): Rng(deriveSeed(seed, 'perturbation:k')), float32. */
function normals(net: Network, seed: number, k: number): Float32Array[] {
  const rng = new Rng(deriveSeed(seed, `perturbation:${k}`));
  return parameterArrays(net).map((a) => Float32Array.from({ length: a.length }, () => rng.normal()));
}

/** w + √(α²w² + ε²)·z, rounded to float32 like the engine's perturbed weights. */
function perturbMag(net: Network, z: Float32Array[], alpha: number): Float64Array[] {
  return parameterArrays(net).map((w, j) => Float64Array.from(w, (v, i) => Math.fround(v + Math.sqrt(alpha * alpha * v * v + MAG_EPSILON * MAG_EPSILON) * z[j][i])));
}

const params64 = (net: Network) => parameterArrays(net).map((a) => Float64Array.from(a));

/** The bisection of pac_bayes_sigma, on a given drop function (plain loop, written from the docs). */
function bisect(dropAt: (a: number) => number, max: number, steps: number, drop: number, tol: number): { alpha: number; steps: number; drop: number; within: boolean } {
  let lo = 0;
  let hi = max;
  let loDrop = 0;
  for (let step = 1; step <= steps; step++) {
    const mid = (lo + hi) / 2;
    const d = dropAt(mid);
    if (Math.abs(d - drop) <= tol) return { alpha: mid, steps: step, drop: d, within: true };
    if (d <= drop) [lo, loDrop] = [mid, d];
    else hi = mid;
  }
  return { alpha: lo, steps, drop: loDrop, within: false };
}

/**
 * n random points labelled by the net itself (so the training error at w is 0), drawn from 3n candidates:
 * those whose margin at w is at least minMargin (relative to 1 + max|logit|).
 */
function selfLabelled(net: Network, n: number, seed: number, positive = false, minMargin = 0): Dataset {
  const s = inputSize(net);
  const cand = randomArray(3 * n * s, seed, 1);
  if (positive) for (let i = 0; i < cand.length; i++) cand[i] = Math.fround(0.1 + 0.9 * Math.abs(cand[i]));
  const p = params64(net);
  const x = new Float32Array(n * s);
  const y = new Int32Array(n);
  let m = 0;
  for (let c = 0; c < 3 * n && m < n; c++) {
    const xc = cand.subarray(c * s, (c + 1) * s);
    const f = logits64(net, p, xc);
    const sorted = [...f].sort((a, b) => b - a);
    if (sorted[0] - sorted[1] < minMargin * (1 + Math.max(...f.map(Math.abs)))) continue;
    x.set(xc, m * s);
    y[m++] = f.indexOf(sorted[0]);
  }
  assert.equal(m, n, 'not enough candidate points');
  return { name: 'tiny', shape: net.inputShape, numClasses: net.numClasses, n, x, y };
}

test("the 'mag' noise: √(α²w² + ε²)·z_k, errors equal float64 counts, full forward beside the shortcut changes nothing", async () => {
  const net = mlp([6, 5, 4], true, 3);
  const data = selfLabelled(net, 30, 5);
  const set = { x: data.x, y: data.y, n: data.n };
  assert.equal(noiseScale({ kind: 'mag', alpha: 0.5, sample: 0 }, -2), Math.sqrt(1 + 1e-6));
  assert.equal(noiseScale({ kind: 'mag', alpha: 0.5, sample: 0 }, 0), MAG_EPSILON);
  const fast = new LocalEvaluator(net, set, set, 7);
  const plain = new LocalEvaluator(net, set, set, 7, { split: false });
  const noises = [
    null,
    { kind: 'mag', alpha: 0.2, sample: 0 },
    { kind: 'iso', sigma: 0.2, sample: 0 },
    { kind: 'mag', alpha: 0.6, sample: 1 },
    { kind: 'paper', alpha: 0.05, sample: 1 },
    { kind: 'mag', alpha: 1.5, sample: 2 },
  ] as const;
  const got = await fast.errorCounts([...noises], true);
  assert.deepEqual(got, await plain.errorCounts([...noises], false));
  const singles = [];
  for (const n of noises) singles.push(await fast.errorCount(n));
  assert.deepEqual(got, singles);
  for (const [i, n] of noises.entries()) {
    if (n?.kind !== 'mag') continue;
    const r = count64(net, perturbMag(net, normals(net, 7, n.sample), n.alpha), data);
    assert.ok(Math.abs(got[i] - r.wrong) <= r.amb, `α′ = ${n.alpha}: ${got[i]} vs float64 ${r.wrong}`);
  }
  fast.dispose();
  plain.dispose();
});

test('pac_bayes_mag_flatness on a 1-hidden-layer net equals the bisection on float64 brute-force drops; a scan brackets α′', async (t) => {
  const net = mlp([6, 8, 3], true, 2);
  const data = selfLabelled(net, 40, 11, false, 0.02);
  const K = 4;
  const seed = 5;
  const zs = Array.from({ length: K }, (_, k) => normals(net, seed, k));
  const base = count64(net, params64(net), data);
  assert.equal(base.wrong, 0);
  let amb = 0;
  const dropAt = (alpha: number) => {
    const e = zs.map((z) => count64(net, perturbMag(net, z, alpha), data));
    amb += e.reduce((s, r) => s + r.amb, 0);
    return e.map((r) => r.wrong / data.n).reduce((a, b) => a + b, 0) / K - base.wrong / data.n;
  };
  const ref = bisect(dropAt, MAG_ALPHA_MAX, 15, 0.1, 0.01);
  assert.equal(amb, 0, 'no point near a decision boundary on the bisection path (the fixture is chosen so)');
  const r = await computeMeasures(net, data, { measures: ['pac_bayes_mag_flatness'], samples: K, seed });
  const c = r.components as Record<string, number>;
  t.diagnostic(`α′ = ${c.pac_bayes_mag_alpha} after ${c.pac_bayes_mag_steps} steps, drop ${c.pac_bayes_mag_drop}; float64: α′ = ${ref.alpha} after ${ref.steps}, drop ${ref.drop}`);
  assert.ok(ref.alpha > 0 && ref.within);
  assert.equal(c.pac_bayes_mag_alpha, ref.alpha);
  assert.equal(c.pac_bayes_mag_steps, ref.steps);
  assert.equal(c.pac_bayes_mag_drop, ref.drop);
  assert.equal(r.measures.pac_bayes_mag_flatness, 1 / ref.alpha ** 2);
  assert.ok(r.notes.some((n) => n.startsWith('pac_bayes_mag: α′ = ')));
  // brute-force scan of α′ (step 0.005): up to the first α′ whose drop exceeds 0.1 + 0.01 the drop is
  // monotone on this net (further out it need not be: K = 4 samples), and α′ lies between the last scanned
  // α′ before it whose drop is below 0.1 − 0.01 and that first one
  const scan = Array.from({ length: 401 }, (_, i) => (MAG_ALPHA_MAX * i) / 400).map((a) => ({ a, d: dropAt(a) }));
  const end = scan.findIndex((p) => p.d > 0.11);
  assert.ok(end > 0);
  const head = scan.slice(0, end + 1);
  head.forEach((p, i) => i > 0 && assert.ok(p.d >= head[i - 1].d, `drop not monotone at α′ = ${p.a}`));
  const below = head.filter((p) => p.d < 0.09).at(-1)!;
  const above = head[end];
  t.diagnostic(`scan: drop < 0.09 up to α′ = ${below.a}, > 0.11 from α′ = ${above.a}`);
  assert.ok(below.a <= ref.alpha && ref.alpha <= above.a, `α′ = ${ref.alpha} outside the scan's bracket [${below.a}, ${above.a}]`);
});

/** A linear model 5 → 3 whose every training point (positive inputs) is classified 0 with margin ≥ 0.3. */
function linearCase(n: number, seed: number): { net: Network; data: Dataset } {
  const net = mlp([5, 3], true, seed);
  const data = selfLabelled(net, n, seed + 40, true);
  const layer = net.layers[1] as { bias: Float32Array };
  const p = params64(net);
  let need = -Infinity;
  for (let i = 0; i < n; i++) {
    const f = logits64(net, p, data.x.subarray(i * 5, (i + 1) * 5));
    need = Math.max(need, Math.max(f[1], f[2]) - f[0]);
  }
  layer.bias[0] = Math.fround(layer.bias[0] + need + 0.3);
  data.y.fill(0);
  return { net, data };
}

/** The α′ from which each point is misclassified at the corner of the box (closed form, header). */
function thresholds(net: Network, data: Dataset): number[] {
  const [w, b] = params64(net);
  const out: number[] = [];
  for (let i = 0; i < data.n; i++) {
    const x = data.x.subarray(i * 5, (i + 1) * 5);
    const f = logits64(net, [w, b], x);
    const E = x.reduce((s, v) => s + v, 0) + 1;
    const A = [0, 1, 2].map((j) => x.reduce((s, v, k) => s + Math.abs(w[k * 3 + j]) * v, 0) + Math.abs(b[j]));
    out.push(Math.max(0, Math.min(...[1, 2].map((j) => (f[0] - f[j] - 2 * MAG_EPSILON * E) / (A[0] + A[j])))));
  }
  return out;
}

test('the ascent reaches the closed-form worst corner of |ν| ≤ α′|w| + ε on a linear model; its loss grows with α′', async () => {
  const { net, data } = linearCase(10, 4);
  const set = { x: data.x, y: data.y, n: data.n };
  const ev = await createEvaluator(net, set, set, 3);
  const w = parameterArrays(net);
  let prev = -Infinity;
  for (const alpha of [0, 0.01, 0.1, 0.3, 1, 2]) {
    const r = magRadius(w, alpha);
    const { nu, loss } = await ascend(ev, r, 4, ascentStart(w, 3));
    // kernel [in, out]: column 0 (the label) pushed down, the others up; bias likewise
    nu[0].forEach((v, i) => assert.equal(v, i % 3 === 0 ? -r[0][i] : r[0][i], `kernel ${i} at α′ = ${alpha}`));
    nu[1].forEach((v, j) => assert.equal(v, j === 0 ? -r[1][j] : r[1][j], `bias ${j} at α′ = ${alpha}`));
    const p = w.map((a, j) => Float64Array.from(a, (v, i) => Math.fround(v + nu[j][i])));
    const want = lossGrad64(net, p, data.x, data.y, data.n).loss / data.n;
    assert.ok(Math.abs(loss - want) <= 1e-5 * want, `loss at α′ = ${alpha}: ${loss} vs float64 ${want}`);
    assert.ok(loss > prev, `the worst loss should grow with α′ (${prev} → ${loss})`);
    prev = loss;
  }
  await ev.close();
});

test('sharpness_mag_flatness on a linear model equals the bisection on the closed-form drop (10 points: stops at drop 0.1; 1 point: converges to α_1)', async (t) => {
  for (const [n, seed] of [[10, 4], [1, 6]] as const) {
    const { net, data } = linearCase(n, seed);
    const alphas = thresholds(net, data);
    const dropAt = (a: number) => {
      // a bisection midpoint this close to a threshold could fall either way in float32
      for (const ai of alphas) assert.ok(Math.abs(a - ai) > 1e-5, `midpoint ${a} too close to a threshold ${ai}`);
      return alphas.filter((ai) => ai <= a).length / n;
    };
    const ref = bisect(dropAt, MAG_ALPHA_MAX, 15, 0.1, 0.01);
    const r = await computeMeasures(net, data, { measures: ['sharpness_mag_flatness'], sharpnessSteps: 3, seed: 2 });
    const c = r.components as Record<string, number>;
    t.diagnostic(`n = ${n}: thresholds ${alphas.map((a) => a.toPrecision(4)).join(' ')}; α′ = ${c.sharpness_mag_alpha} after ${c.sharpness_mag_steps} steps (closed form ${ref.alpha}, ${ref.steps})`);
    assert.equal(c.sharpness_mag_alpha, ref.alpha);
    assert.equal(c.sharpness_mag_steps, ref.steps);
    assert.equal(c.sharpness_mag_drop, ref.drop);
    assert.equal(r.measures.sharpness_mag_flatness, 1 / ref.alpha ** 2);
    if (n === 10) {
      assert.ok(ref.within && ref.drop === 0.1);
      const sorted = [...alphas].sort((a, b) => a - b);
      assert.ok(sorted[0] <= ref.alpha && ref.alpha < sorted[1], 'exactly one point misclassified at α′');
    } else {
      assert.ok(!ref.within && ref.steps === 15);
      assert.ok(alphas[0] - MAG_ALPHA_MAX / 2 ** 15 <= ref.alpha && ref.alpha < alphas[0], `α′ = ${ref.alpha} vs α_1 = ${alphas[0]}`);
      assert.ok(r.notes.some((x) => x.startsWith('sharpness_mag: the drop never came within')));
    }
  }
});

test('bisectScale: a known monotone drop, the tolerance stop, and α′ = 0 → null with a note', async () => {
  const r = await bisectScale(async (a) => a * a, { max: 2, steps: 15, drop: 0.1, tol: 0.01 });
  assert.ok(r.withinTolerance && Math.abs(r.scale ** 2 - 0.1) <= 0.01 && r.steps < 15);
  const never = await bisectScale(async () => 1, { max: 2, steps: 6, drop: 0.1, tol: 0.01 });
  assert.deepEqual(never, { scale: 0, drop: 0, steps: 6, withinTolerance: false });
  // points a hair from the boundary (margin 2e-3): even the smallest α′ tried (2/2³) flips many of them
  const net = mlp([2, 2], false, 1);
  (net.layers[1] as { kernel: Float32Array }).kernel.set([1, -1, -1, 1]); // f = (x0 − x1, x1 − x0)
  const data: Dataset = {
    name: 'near ties',
    shape: [1, 1, 2],
    numClasses: 2,
    n: 4,
    x: Float32Array.from([1.001, 1, 1, 1.001, 2.001, 2, 2, 2.001]),
    y: Int32Array.from([0, 1, 0, 1]),
  };
  const rr = await computeMeasures(net, data, { measures: ['pac_bayes_mag_flatness', 'sharpness_mag_flatness'], samples: 4, sigmaSteps: 3, sharpnessSteps: 2 });
  assert.equal(rr.components.train_error01 ?? 0, 0);
  for (const k of ['pac_bayes_mag_flatness', 'sharpness_mag_flatness']) {
    assert.equal(rr.measures[k], null, k);
    assert.ok(rr.notes.includes(`${k} is null: ${k}: even α′ = 0.250 lowers the training accuracy by more than 0.1 (α′ = 0 would give an infinite flatness)`), rr.notes.join(' | '));
  }
});
