/**
 * How well a measure predicts generalization (Jiang, Neyshabur, Mobahi, Krishnan, Bengio 2020,
 * "Fantastic Generalization Measures and Where to Find Them").
 *
 * Kendall τ-a over a set of runs with measure μ and generalization gap g:
 *   τ = (1 / #ordered pairs) Σ_{i≠j} sign(μ_i − μ_j) · sign(g_i − g_j)        (ties count 0)
 *
 * Granulated Kendall coefficient: for each swept hyperparameter k, group the runs into cells that share
 * the values of every other hyperparameter; ψ_k = the mean, over the cells with at least two runs, of
 * τ within the cell (the runs of a cell differ only in k); Ψ = the mean of the ψ_k that are defined.
 *
 * τ is undefined (null) when the measure, or the gap, takes one value on every run compared: there is no
 * ordering to compare (e.g. `params` over a sweep of one network size), and 0 would read as "no better
 * than chance". Such cells are left out of ψ_k and counted apart.
 *
 * The conditional-mutual-information score of the PGDL competition: see conditionalMutualInformation.
 */

const sign = (v: number) => (v > 0 ? 1 : v < 0 ? -1 : 0);

/** Why τ is undefined over these points: too few of them, or one of the two lists is constant; null when τ is defined. */
export function tauUndefinedReason(mu: readonly number[], gap: readonly number[]): 'too few runs' | 'constant measure' | 'constant gap' | null {
  if (mu.length < 2) return 'too few runs';
  if (mu.every((v) => v === mu[0])) return 'constant measure';
  if (gap.every((v) => v === gap[0])) return 'constant gap';
  return null;
}

/** Kendall τ-a; null with fewer than two points or when the measure or the gap is constant (undefined). */
export function kendallTau(mu: readonly number[], gap: readonly number[]): number | null {
  if (mu.length !== gap.length) throw new Error(`kendallTau: ${mu.length} measures but ${gap.length} gaps`);
  const n = mu.length;
  if (tauUndefinedReason(mu, gap) !== null) return null;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) s += sign(mu[i] - mu[j]) * sign(gap[i] - gap[j]);
  }
  // each unordered pair stands for two ordered pairs with the same product
  return (2 * s) / (n * (n - 1));
}

export type HyperValue = string | number | boolean | null;

export interface RunPoint {
  /** The run's hyperparameters (only those that vary across the runs matter). */
  hyper: Record<string, HyperValue>;
  mu: number;
  gap: number;
}

export interface GranulatedKendall {
  /** Ψ: the mean of the defined ψ_k; null when none is defined. */
  psi: number | null;
  /**
   * ψ_k for each hyperparameter that varies, with the number of cells (of ≥ 2 runs) behind it, and the
   * number of cells of ≥ 2 runs left out because τ is undefined there (the measure or the gap is constant).
   */
  perHyper: Record<string, { psi: number | null; cells: number; constant: number }>;
}

/** The hyperparameters whose values differ between runs. */
export function varyingHyperparameters(points: readonly RunPoint[]): string[] {
  const names = new Set<string>();
  for (const p of points) Object.keys(p.hyper).forEach((k) => names.add(k));
  return [...names].filter((k) => new Set(points.map((p) => JSON.stringify(p.hyper[k] ?? null))).size > 1).sort();
}

export function granulatedKendall(points: readonly RunPoint[], hyperNames: string[] = varyingHyperparameters(points)): GranulatedKendall {
  const perHyper: GranulatedKendall['perHyper'] = {};
  const defined: number[] = [];
  for (const k of hyperNames) {
    const others = hyperNames.filter((h) => h !== k);
    const cells = new Map<string, RunPoint[]>();
    for (const p of points) {
      const key = JSON.stringify(others.map((h) => p.hyper[h] ?? null));
      const cell = cells.get(key);
      if (cell) cell.push(p);
      else cells.set(key, [p]);
    }
    const taus: number[] = [];
    let constant = 0;
    for (const cell of cells.values()) {
      const t = kendallTau(cell.map((p) => p.mu), cell.map((p) => p.gap));
      if (t !== null) taus.push(t);
      else if (cell.length >= 2) constant++;
    }
    const psi = taus.length ? taus.reduce((a, b) => a + b, 0) / taus.length : null;
    perHyper[k] = { psi, cells: taus.length, constant };
    if (psi !== null) defined.push(psi);
  }
  return { psi: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null, perHyper };
}

/**
 * The conditional-mutual-information score of the PGDL competition (Jiang et al. 2020, sec. 6).
 *
 * For a set S of hyperparameters, the runs are grouped by their values of S; within each group every
 * ordered pair of distinct runs (i, j) — both (i, j) and (j, i), so the score does not depend on the order
 * of the runs — gives V_μ = sign(μ_i − μ_j) ∈ {−1, 0, +1} (a tie in μ is its own value 0: a measure that
 * cannot tell two runs apart carries no information about them) and V_g = sign(g_i − g_j) ∈ {−1, +1}
 * (pairs with a tie in g are dropped). With empirical probabilities over all pairs pooled across groups
 * (p(u) ∝ the number of pairs in group u), natural logs:
 *   I(V_μ; V_g | U_S) = Σ_u p(u) Σ_{a,b} p(a,b|u) ln[p(a,b|u) / (p(a|u) p(b|u))]
 *   H(V_g | U_S)      = −Σ_u p(u) Σ_b p(b|u) ln p(b|u)
 *   Î(S) = I / H, taken as 0 when H = 0 (with ordered pairs V_g is ±1 equally often in every group, so
 *   H = ln 2 whenever there is a pair: this only guards the arithmetic), clamped to [0, 1] against rounding.
 * The score is the minimum of Î(S) over every S of |S| = 2 of the hyperparameters that vary (|S| = the
 * number that vary when fewer than two do; |S| = 0 is no conditioning). A set whose groups give no usable
 * pair has no Î and is left out of the minimum. Mutual information is blind to direction: a measure that
 * orders the runs exactly against their gap scores 1 too (τ says which way round).
 */
export interface ConditionalMI {
  /** min over the conditioning sets of Î(S), in [0, 1]. */
  score: number;
  /** The conditioning set that attains the minimum (the first in lexicographic order on a tie). */
  worstSet: string[];
  /** Ordered pairs of runs (with distinct gaps) behind the worst set's Î. */
  pairs: number;
  /** Î(S) and its number of ordered pairs for every conditioning set; score null where there is no usable pair. */
  perSet: { set: string[]; score: number | null; pairs: number }[];
}

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  const out: T[][] = [];
  for (let i = 0; i <= items.length - k; i++) for (const rest of subsets(items.slice(i + 1), k - 1)) out.push([items[i], ...rest]);
  return out;
}

/** Î(S) for one conditioning set, or null score when no group holds a pair of runs with distinct gaps. */
function normalizedCmi(points: readonly RunPoint[], set: readonly string[]): { score: number | null; pairs: number } {
  const groups = new Map<string, RunPoint[]>();
  for (const p of points) {
    const key = JSON.stringify(set.map((h) => p.hyper[h] ?? null));
    const g = groups.get(key);
    if (g) g.push(p);
    else groups.set(key, [p]);
  }
  // Σ_u Σ_{a,b} n_uab ln(n_uab n_u / (n_ua n_ub)) and −Σ_u Σ_b n_ub ln(n_ub / n_u); both divided by N at the end
  let iSum = 0;
  let hSum = 0;
  let total = 0;
  for (const g of groups.values()) {
    const n = [0, 1, 2].map(() => [0, 0]); // n[a + 1][b === 1 ? 1 : 0]
    for (let i = 0; i < g.length; i++) {
      for (let j = i + 1; j < g.length; j++) {
        const b = sign(g[i].gap - g[j].gap);
        if (b === 0) continue;
        const a = sign(g[i].mu - g[j].mu);
        n[a + 1][b === 1 ? 1 : 0]++; // (i, j)
        n[-a + 1][b === 1 ? 0 : 1]++; // (j, i)
      }
    }
    const nu = n.reduce((s, row) => s + row[0] + row[1], 0);
    if (nu === 0) continue;
    total += nu;
    const na = n.map((row) => row[0] + row[1]);
    const nb = [0, 1].map((b) => n[0][b] + n[1][b] + n[2][b]);
    for (let a = 0; a < 3; a++) for (let b = 0; b < 2; b++) if (n[a][b] > 0) iSum += n[a][b] * Math.log((n[a][b] * nu) / (na[a] * nb[b]));
    for (let b = 0; b < 2; b++) if (nb[b] > 0) hSum -= nb[b] * Math.log(nb[b] / nu);
  }
  if (total === 0) return { score: null, pairs: 0 };
  const score = hSum > 0 ? Math.min(1, Math.max(0, iSum / total / (hSum / total))) : 0;
  return { score, pairs: total };
}

/**
 * The PGDL conditional-mutual-information score of a measure (see ConditionalMI), conditioning on pairs of
 * `hyperNames` (by default the hyperparameters that vary; names that do not vary over `points` are
 * dropped). Null when no conditioning set has a usable pair of runs.
 */
export function conditionalMutualInformation(points: readonly RunPoint[], hyperNames: readonly string[] = varyingHyperparameters(points)): ConditionalMI | null {
  const varying = new Set(varyingHyperparameters(points));
  const names = [...new Set(hyperNames)].filter((h) => varying.has(h)).sort();
  const perSet = subsets(names, Math.min(2, names.length)).map((set) => ({ set, ...normalizedCmi(points, set) }));
  let worst: (typeof perSet)[number] | null = null;
  for (const s of perSet) if (s.score !== null && (worst === null || s.score < worst.score!)) worst = s;
  if (!worst) return null;
  return { score: worst.score!, worstSet: worst.set, pairs: worst.pairs, perSet };
}
