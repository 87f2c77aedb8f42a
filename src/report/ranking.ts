/**
 * Rank every measure by how well it predicts the generalization gap g = train accuracy − test accuracy
 * (= test error − train error) over the converged runs: Kendall τ over all of them, and the granulated
 * coefficient Ψ over the swept hyperparameters (see correlation.ts).
 */
import { granulatedKendall, kendallTau, RunPoint, varyingHyperparameters } from './correlation.js';
import type { ReportRun } from './figures.js';

export interface MeasureRanking {
  measure: string;
  tau: number | null;
  psi: number | null;
  perHyper: Record<string, { psi: number | null; cells: number }>;
  /** Runs with a value for this measure (and a test error). */
  runs: number;
}

/** The hyperparameters a run is described by for Ψ. */
export function hyperparameters(r: ReportRun): Record<string, string | number | null> {
  return { data: r.data, model: r.model, size: r.size, labels: r.labels, confusion: r.confusion, seed: r.seed };
}

export function generalizationGap(r: ReportRun): number | null {
  if (r.testError === null || r.trainError === null) return null;
  return r.testError - r.trainError;
}

export function rankMeasures(runs: ReportRun[], measureNames?: string[]): MeasureRanking[] {
  const usable = runs.filter((r) => r.converged && generalizationGap(r) !== null);
  const names = measureNames ?? [...new Set(usable.flatMap((r) => Object.keys(r.measures)))];
  const out: MeasureRanking[] = names.map((measure) => {
    const points: RunPoint[] = usable
      .filter((r) => typeof r.measures[measure] === 'number' && Number.isFinite(r.measures[measure]!))
      .map((r) => ({ hyper: hyperparameters(r), mu: r.measures[measure]!, gap: generalizationGap(r)! }));
    const tau = kendallTau(points.map((p) => p.mu), points.map((p) => p.gap));
    const g = granulatedKendall(points, varyingHyperparameters(points));
    return { measure, tau, psi: g.psi, perHyper: g.perHyper, runs: points.length };
  });
  // best first: by |τ| is not what we want — a measure should grow with the gap, so sort by τ, nulls last
  return out.sort((a, b) => (b.tau ?? -Infinity) - (a.tau ?? -Infinity));
}
