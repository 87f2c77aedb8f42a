/**
 * Runs that differ only in their seed (`genmeasures run … --seeds 1,2,3`) are repeats of one experiment
 * point. The figures draw one point per experiment point — the mean over its seeds — with a band for the
 * range (min–max) over the seeds; the summary table gives mean ± half-range. A point with one seed is
 * drawn as before, without a band.
 */
import type { ReportRun } from './figures.js';

/** Mean, min and max of a non-empty list. */
export function seedStats(xs: number[]): { mean: number; lo: number; hi: number; n: number } {
  return { mean: xs.reduce((a, x) => a + x, 0) / xs.length, lo: Math.min(...xs), hi: Math.max(...xs), n: xs.length };
}

/**
 * One row per group of rows equal on `keys` (the seed is not among them): `field` becomes the mean over the
 * group, `lo`/`hi` its range and `seeds` the group's size; the other fields are the first row's, then
 * `extra(members)` (e.g. "converged" only if every member converged). Groups keep their first row's order.
 */
export function aggregateSeeds<T extends Record<string, unknown>>(
  rows: T[],
  keys: string[],
  field: string,
  extra?: (members: T[]) => Record<string, unknown>,
): (T & { lo: number; hi: number; seeds: number })[] {
  const groups = new Map<string, T[]>();
  for (const r of rows) {
    const k = JSON.stringify(keys.map((key) => r[key] ?? null));
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].map((members) => {
    const s = seedStats(members.map((m) => m[field] as number));
    return { ...members[0], [field]: s.mean, lo: s.lo, hi: s.hi, seeds: s.n, ...(extra ? extra(members) : {}) } as T & { lo: number; hi: number; seeds: number };
  });
}

/** Whether some aggregated point stands for two or more seeds (then the figure draws bands). */
export const hasRepeats = (rows: { seeds: number }[]): boolean => rows.some((r) => r.seeds > 1);

/** The caption's sentence for a figure with bands. */
export const SEED_CAPTION = 'Mean over seeds (line), band = range (min–max) over the seeds.';

/**
 * A band layer under a line: a ranged area from `lo` to `hi`, with the line's x, the line's y encoding
 * (title, scale, axis) on `lo`, and its colour, drawn translucent.
 */
export function bandLayer(x: Record<string, unknown>, y: Record<string, unknown>, color?: Record<string, unknown> | string): Record<string, unknown> {
  return {
    mark: { type: 'area', opacity: 0.2, ...(typeof color === 'string' ? { color } : {}) },
    encoding: {
      x,
      y: { ...y, field: 'lo' },
      y2: { field: 'hi' },
      ...(color && typeof color !== 'string' ? { color } : {}),
    },
  };
}

/** The measures of the summary table, after the test error. */
export const SUMMARY_MEASURES = ['l2', 'l1_path', 'l2_path', 'spectral', 'sharpness', 'pac_bayes'] as const;

export interface SeedSummaryRow {
  experiment: string;
  data: string;
  model: string;
  size: number | null;
  labels: 'true' | 'random';
  confusion: number;
  width: number | null;
  seeds: number[];
  /** Per quantity ('test error' and each of SUMMARY_MEASURES): mean and half the range over the seeds with a value. */
  values: Record<string, { mean: number; spread: number; n: number } | null>;
}

const EXPERIMENT_ORDER = ['random-labels', 'confusion', 'width'];

/**
 * One row per experiment point (the converged runs equal in everything but the seed: experiment, data,
 * model, size, labels, confusion, width and measure options), with mean ± half-range of the test error
 * and the main measures. Empty unless some point has two or more seeds.
 */
export function seedSummary(runs: ReportRun[]): SeedSummaryRow[] {
  const groups = new Map<string, ReportRun[]>();
  for (const r of runs.filter((r) => r.converged)) {
    const k = JSON.stringify([r.experiment, r.data, r.model, r.size, r.labels, r.confusion, r.width, r.measureOptions ?? null]);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  if (![...groups.values()].some((g) => new Set(g.map((r) => r.seed)).size > 1)) return [];
  const stat = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (v.length === 0) return null;
    const s = seedStats(v);
    return { mean: s.mean, spread: (s.hi - s.lo) / 2, n: s.n };
  };
  const rows = [...groups.values()].map((g): SeedSummaryRow => {
    const r = g[0];
    const values: SeedSummaryRow['values'] = { 'test error': stat(g.map((x) => x.testError)) };
    for (const m of SUMMARY_MEASURES) values[m] = stat(g.map((x) => x.measures[m]));
    return {
      experiment: r.experiment,
      data: r.data,
      model: r.model,
      size: r.size,
      labels: r.labels,
      confusion: r.confusion,
      width: r.width,
      seeds: [...new Set(g.map((x) => x.seed))].sort((a, b) => a - b),
      values,
    };
  });
  const ord = (e: string) => (EXPERIMENT_ORDER.includes(e) ? EXPERIMENT_ORDER.indexOf(e) : EXPERIMENT_ORDER.length);
  return rows.sort(
    (a, b) =>
      ord(a.experiment) - ord(b.experiment) ||
      a.experiment.localeCompare(b.experiment) ||
      (a.size ?? Infinity) - (b.size ?? Infinity) ||
      a.labels.localeCompare(b.labels) * -1 ||
      a.confusion - b.confusion ||
      (a.width ?? 0) - (b.width ?? 0) ||
      a.model.localeCompare(b.model),
  );
}
