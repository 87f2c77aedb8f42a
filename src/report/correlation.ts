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
