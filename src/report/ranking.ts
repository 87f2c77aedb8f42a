/**
 * Rank every measure by how well it predicts the generalization gap g = train accuracy − test accuracy
 * (= test error − train error) over the converged runs: Kendall τ over all of them, and the granulated
 * coefficient Ψ over the swept hyperparameters, and the PGDL conditional-mutual-information score (CMI,
 * minimised over pairs of swept hyperparameters) (see correlation.ts).
 *
 * One network counts once: runs of the same training configuration measured with the same options (the
 * random-labels sweep's 2000-point true-label run and the confusion sweep's run without confusion set are
 * one network) are merged before τ, Ψ and CMI, keeping the first. τ (and a ψ) is undefined (null) when the
 * measure or the gap takes one value on every run compared; `tauUndefined` says why.
 */
import { conditionalMutualInformation, granulatedKendall, kendallTau, RunPoint, tauUndefinedReason, varyingHyperparameters } from './correlation.js';
import type { ReportRun } from './figures.js';

export interface MeasureRanking {
  measure: string;
  tau: number | null;
  /** Why τ is null: 'too few runs', 'constant measure' or 'constant gap'; null when τ is defined. */
  tauUndefined: string | null;
  psi: number | null;
  /** ψ per hyperparameter; `constant` counts the cells left out because the measure (or gap) is constant there. */
  perHyper: Record<string, { psi: number | null; cells: number; constant: number }>;
  /** The PGDL conditional-mutual-information score (min over conditioning pairs); null with no usable pair of runs. */
  cmi: number | null;
  /** The pair of hyperparameters that attains the CMI minimum; null with the score. */
  cmiWorstSet: string[] | null;
  /** Runs with a value for this measure (and a test error), one per training configuration and measure options. */
  runs: number;
  /** Runs left out because they repeat a training configuration (and measure options) already counted. */
  duplicates: number;
}

/** The hyperparameters a run is described by for Ψ. */
export function hyperparameters(r: ReportRun): Record<string, string | number | null> {
  return { data: r.data, model: r.model, size: r.size, labels: r.labels, confusion: r.confusion, seed: r.seed };
}

export function generalizationGap(r: ReportRun): number | null {
  if (r.testError === null || r.trainError === null) return null;
  return r.testError - r.trainError;
}

/**
 * What makes two runs the same network measured the same way: the training configuration (train key) and
 * the measure options; a run without a train key (not from a database) is its own.
 */
export function trainingIdentity(r: ReportRun): string {
  return r.trainKey ? `${r.trainKey}\u0000${r.measureOptions ?? ''}` : `run\u0000${r.key}`;
}

/** One run per training configuration and measure options (the first of each), and how many were dropped. */
export function dedupeByTraining(runs: ReportRun[]): { runs: ReportRun[]; duplicates: number } {
  const seen = new Set<string>();
  const out: ReportRun[] = [];
  for (const r of runs) {
    const id = trainingIdentity(r);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(r);
  }
  return { runs: out, duplicates: runs.length - out.length };
}

export function rankMeasures(runs: ReportRun[], measureNames?: string[]): MeasureRanking[] {
  const usable = runs.filter((r) => r.converged && generalizationGap(r) !== null);
  const names = measureNames ?? [...new Set(usable.flatMap((r) => Object.keys(r.measures)))];
  const out: MeasureRanking[] = names.map((measure) => {
    const withValue = usable.filter((r) => typeof r.measures[measure] === 'number' && Number.isFinite(r.measures[measure]!));
    const { runs: distinct, duplicates } = dedupeByTraining(withValue);
    const points: RunPoint[] = distinct.map((r) => ({ hyper: hyperparameters(r), mu: r.measures[measure]!, gap: generalizationGap(r)! }));
    const mu = points.map((p) => p.mu);
    const gap = points.map((p) => p.gap);
    const tau = kendallTau(mu, gap);
    const varying = varyingHyperparameters(points);
    const g = granulatedKendall(points, varying);
    const cmi = conditionalMutualInformation(points, varying);
    return {
      measure,
      tau,
      tauUndefined: tau === null ? tauUndefinedReason(mu, gap) : null,
      psi: g.psi,
      perHyper: g.perHyper,
      cmi: cmi?.score ?? null,
      cmiWorstSet: cmi?.worstSet ?? null,
      runs: points.length,
      duplicates,
    };
  });
  // best first: by |τ| is not what we want — a measure should grow with the gap, so sort by τ, nulls last
  return out.sort((a, b) => (b.tau ?? -Infinity) - (a.tau ?? -Infinity));
}
