import test from 'node:test';
import assert from 'node:assert/strict';
import { conditionalMutualInformation, granulatedKendall, kendallTau, varyingHyperparameters, RunPoint } from '../../src/report/correlation.js';

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

/** Every run of a grid over the given hyperparameter values, with μ and g from the values. */
function grid(values: Record<string, number[]>, f: (h: Record<string, number>) => { mu: number; gap: number }): RunPoint[] {
  let rows: Record<string, number>[] = [{}];
  for (const [k, vs] of Object.entries(values)) rows = rows.flatMap((r) => vs.map((v) => ({ ...r, [k]: v })));
  return rows.map((h) => ({ hyper: h, ...f(h) }));
}

const close = (a: number | null | undefined, b: number, what = '') => assert.ok(a !== null && a !== undefined && Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);

test('CMI: a measure equal to the gap scores 1 (and one exactly against it too: information, not direction)', () => {
  const gapOf = (h: Record<string, number>) => 0.3 * h.a + 0.11 * h.b + 0.07 * h.c * h.c - 0.05 * h.a * h.c;
  const aligned = grid({ a: [0, 1], b: [0, 1], c: [0, 1, 2] }, (h) => ({ mu: gapOf(h), gap: gapOf(h) }));
  const r = conditionalMutualInformation(aligned)!;
  assert.equal(r.perSet.length, 3, 'the pairs {a,b}, {a,c}, {b,c}');
  for (const s of r.perSet) close(s.score, 1, s.set.join());
  close(r.score, 1);
  const against = aligned.map((p) => ({ ...p, mu: -p.mu }));
  close(conditionalMutualInformation(against)!.score, 1);
});

test('CMI: a measure independent of the gap within every conditioning group scores 0', () => {
  // a, b ∈ {0,1}, c ∈ {0,1,2,3}; g = (c+1) + 0.1a + 0.01b, μ = [2,4,1,3][c] (μ depends on c only).
  // S = {a,b}: each group runs over c with g ordered 1<2<3<4 and μ = 2,4,1,3: pairs (0,1)+ (0,2)− (0,3)+
  //   (1,2)− (1,3)− (2,3)+ → 3 concordant, 3 discordant → ordered counts n(+,+)=n(−,−)=n(+,−)=n(−,+)=3 of 12,
  //   p(a,b|u) = 1/4 = p(a|u)p(b|u): I = 0 exactly.
  // S = {a,c}, {b,c}: each group holds two runs of one c, so μ is tied: V_μ = 0, I = 0.
  const pts = grid({ a: [0, 1], b: [0, 1], c: [0, 1, 2, 3] }, (h) => ({ mu: [2, 4, 1, 3][h.c], gap: h.c + 1 + 0.1 * h.a + 0.01 * h.b }));
  const r = conditionalMutualInformation(pts)!;
  for (const s of r.perSet) assert.equal(s.score, 0, s.set.join());
  assert.equal(r.score, 0);
  assert.deepEqual(r.worstSet, ['a', 'b']);
  assert.equal(r.pairs, 4 * 12);
});

test('CMI by hand on a 2×2×2 grid, with a tie in μ and a tie in the gap', () => {
  //  (a,b,c):  000  100  010  110  001  101  011  111
  //  μ:          1    2    1    4    5    0    7    8
  //  g:         .1   .2   .3   .4   .1   .6   .7   .8
  const table: Record<string, [number, number]> = {
    '000': [1, 0.1], '100': [2, 0.2], '010': [1, 0.3], '110': [4, 0.4],
    '001': [5, 0.1], '101': [0, 0.6], '011': [7, 0.7], '111': [8, 0.8],
  };
  const pts = grid({ a: [0, 1], b: [0, 1], c: [0, 1] }, (h) => {
    const [mu, gap] = table[`${h.a}${h.b}${h.c}`];
    return { mu, gap };
  });
  // |S| = 2: each group is the two runs that differ in the third hyperparameter, one unordered pair, two
  // ordered pairs with V_g = ±1 (H = ln 2 per group). In a group V_μ = ±V_g (I_u = ln 2) unless μ is tied
  // (V_μ = 0, I_u = 0); a pair with tied g is dropped.
  //  S={a,b} (vary c): 000–001 g tie → dropped; 100–101, 010–011, 110–111 untied → I = ln 2, Î = 1 (6 ordered pairs)
  //  S={a,c} (vary b): 000–010 μ tie → 0; 100–110, 001–011, 101–111 → 1; p(u) = 1/4 → I = (3/4) ln 2, Î = 3/4
  //  S={b,c} (vary a): 000–100, 010–110, 001–101, 011–111 all untied → Î = 1
  const r = conditionalMutualInformation(pts)!;
  const by = Object.fromEntries(r.perSet.map((s) => [s.set.join(), s]));
  close(by['a,b'].score, 1, 'a,b');
  assert.equal(by['a,b'].pairs, 6);
  close(by['a,c'].score, 3 / 4, 'a,c');
  close(by['b,c'].score, 1, 'b,c');
  close(r.score, 3 / 4);
  assert.deepEqual(r.worstSet, ['a', 'c']);
  assert.equal(r.pairs, 8);

  // Conditioning on c alone (|S| = 1): two groups of four runs, six unordered pairs each.
  //  c=0: 000(1,.1) 100(2,.2) 010(1,.3) 110(4,.4): pairs 000–100 conc, 000–010 μ tie, 000–110 conc,
  //       100–010 disc (μ 2>1, g .2<.3), 100–110 conc, 010–110 conc → ordered (of 12): (+,+)=(−,−)=4,
  //       (+,−)=(−,+)=1, (0,+)=(0,−)=1; p(V_μ=±) = 5/12, p(V_μ=0) = 2/12, p(V_g=±) = 1/2:
  //       I_0 = 2·(4/12) ln[(4/12)/((5/12)(1/2))] + 2·(1/12) ln[(1/12)/((5/12)(1/2))] + 2·(1/12) ln[(1/12)/((2/12)(1/2))]
  //           = (2/3) ln(8/5) + (1/6) ln(2/5) + 0
  //  c=1: 001(5,.1) 101(0,.6) 011(7,.7) 111(8,.8): 001–101 disc, the other five conc → (+,+)=(−,−)=5,
  //       (+,−)=(−,+)=1 of 12: I_1 = (5/6) ln[(5/12)/(1/4)] + (1/6) ln[(1/12)/(1/4)] = (5/6) ln(5/3) + (1/6) ln(1/3)
  //  p(u) = 1/2 each, H(V_g|U) = ln 2:
  //  Î = [(2/3) ln(8/5) + (1/6) ln(2/5) + (5/6) ln(5/3) + (1/6) ln(1/3)] / (2 ln 2) ≈ 0.29085
  const expected = ((2 / 3) * Math.log(8 / 5) + (1 / 6) * Math.log(2 / 5) + (5 / 6) * Math.log(5 / 3) + (1 / 6) * Math.log(1 / 3)) / (2 * Math.log(2));
  const c = conditionalMutualInformation(pts, ['c'])!;
  close(c.score, expected, 'S = {c}');
  assert.deepEqual(c.worstSet, ['c']);
  assert.equal(c.pairs, 24);

  // No conditioning (|S| = 0), three runs: μ = [1,2,3], g = [1,3,2]: 2 concordant, 1 discordant pair →
  // ordered (+,+)=(−,−)=2/6, (+,−)=(−,+)=1/6, marginals 1/2: I = (2/3) ln(4/3) + (1/3) ln(2/3),
  // Î = I / ln 2 = (2/3)(2 − log2 3) + (1/3)(1 − log2 3) = 5/3 − log2 3
  const three: RunPoint[] = [1, 2, 3].map((mu, i) => ({ hyper: { seed: 1 }, mu, gap: [1, 3, 2][i] }));
  const z = conditionalMutualInformation(three)!;
  close(z.score, 5 / 3 - Math.log2(3), 'S = {}');
  assert.deepEqual(z.worstSet, []);
  assert.equal(z.pairs, 6);
});

test('CMI: conditioning matters — a measure that ranks by a hyperparameter the gap depends on scores 0 once it is conditioned on', () => {
  // μ = size; the gap grows with size (most), lr and seed (a little): distinct gaps everywhere.
  const pts = grid({ size: [1, 2], lr: [1, 2], seed: [1, 2] }, (h) => ({ mu: h.size, gap: 0.1 * h.size + 0.01 * h.lr + 0.001 * h.seed }));
  // unconditioned: runs of different sizes are ordered by μ exactly as by gap; others tie in μ → well above 0
  const none = conditionalMutualInformation(pts, [])!;
  assert.ok(none.score > 0.3, `${none.score}`);
  const r = conditionalMutualInformation(pts)!;
  const by = Object.fromEntries(r.perSet.map((s) => [s.set.join(), s.score]));
  // S = {lr, seed}: the two runs of a group differ only in size → μ orders them as the gap → 1
  close(by['lr,seed'], 1, 'lr,seed');
  // S ∋ size: μ is constant within every group → V_μ = 0 → 0
  assert.equal(by['lr,size'], 0);
  assert.equal(by['seed,size'], 0);
  assert.equal(r.score, 0);
  assert.deepEqual(r.worstSet, ['lr', 'size']);
});

test('CMI: null with no usable pair of runs', () => {
  assert.equal(conditionalMutualInformation([]), null);
  assert.equal(conditionalMutualInformation([{ hyper: { a: 1 }, mu: 1, gap: 1 }]), null);
  // every gap tied
  assert.equal(conditionalMutualInformation([1, 2, 3].map((a) => ({ hyper: { a }, mu: a, gap: 0.5 }))), null);
  // two hyperparameters on a 2×2 grid: |S| = 2 groups are single runs
  assert.equal(conditionalMutualInformation(grid({ a: [0, 1], b: [0, 1] }, (h) => ({ mu: h.a, gap: h.a + h.b }))), null);
  // a constant measure over usable pairs: no information, 0 (not null)
  assert.equal(conditionalMutualInformation([1, 2, 3].map((g) => ({ hyper: { a: 1 }, mu: 7, gap: g })))!.score, 0);
});
