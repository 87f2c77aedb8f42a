/**
 * Rank every measure by how well it predicts the generalization gap g = train accuracy − test accuracy
 * (= test error − train error) over the converged runs: Kendall τ over all of them, and the granulated
 * coefficient Ψ over the swept hyperparameters, and the PGDL conditional-mutual-information score (CMI,
 * minimised over pairs of swept hyperparameters) (see correlation.ts).
 *
 * One network counts once: runs of the same training configuration measured with the same options (the
 * random-labels sweep's 2000-point true-label run and the confusion sweep's run without confusion set are
 * one network) are merged before τ, Ψ and CMI, keeping the first. τ (and a ψ) is undefined (null) when the
 * measure or the gap takes one value on every run compared; `tauUndefined` says why. The measures read at
 * the bound's α* (expected_sharpness, kl, pac_bayes) are ranked after all others when α* is at the edge of
 * the α grid in most runs: their values are then artefacts of the grid (see the pac_bayes note).
 */
import { PAC_BAYES_ALPHA, PAC_BAYES_ALPHA_AT_EDGE } from '../measures/components.js';
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
  /**
   * For the measures read at the PAC-Bayes bound's α* (expected_sharpness, kl, pac_bayes): in how many of
   * the runs α* was the first or last value of the α grid, so that the value is an artefact of the grid.
   */
  atGridEdge: number;
}

/** Measures whose value is read at the α* that minimises the √ PAC-Bayes bound over the α grid. */
export const READ_AT_ALPHA_STAR = new Set(['expected_sharpness', 'kl', 'pac_bayes']);

/** Whether the run's α* is the smallest or largest value of its α grid. */
export function alphaStarAtEdge(r: ReportRun): boolean {
  const flag = PAC_BAYES_ALPHA_AT_EDGE.read(r.components);
  if (flag === 'low' || flag === 'high') return true;
  if (flag === null) return false;
  const a = PAC_BAYES_ALPHA.read(r.components);
  let grid: number[] = r.curve.map((p) => p.alpha);
  try {
    const o = r.measureOptions ? JSON.parse(r.measureOptions) : null;
    if (o && Array.isArray(o.alphaGrid) && o.alphaGrid.length) grid = o.alphaGrid;
  } catch {
    /* keep the curve's α values */
  }
  if (typeof a !== 'number' || grid.length < 2) return false;
  return a <= Math.min(...grid) * (1 + 1e-9) || a >= Math.max(...grid) * (1 - 1e-9);
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
      atGridEdge: READ_AT_ALPHA_STAR.has(measure) ? distinct.filter(alphaStarAtEdge).length : 0,
    };
  });
  // best first: by |τ| is not what we want — a measure should grow with the gap, so sort by τ, nulls last;
  // a measure read at the α grid's edge in most runs is an artefact of the grid and goes after the others
  const artefact = (m: MeasureRanking) => (m.runs > 0 && m.atGridEdge * 2 > m.runs ? 1 : 0);
  return out.sort((a, b) => artefact(a) - artefact(b) || (b.tau ?? -Infinity) - (a.tau ?? -Infinity));
}
