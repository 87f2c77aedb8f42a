/**
 * The paper's figures as declarative Vega-Lite specifications, built from the runs of the results
 * database. Every figure is a function (runs) → Figure; a figure without data says so (`empty`).
 * Only converged runs enter a figure (runs that did not converge are listed in the runs table only).
 */
import type { VegaLiteSpec } from './render.js';

export interface CurvePoint {
  alpha: number;
  kl: number;
  expected_sharpness: number;
}

/** One run as the report sees it (the store adapter maps database rows to this). */
export interface ReportRun {
  key: string;
  experiment: string;
  data: string;
  model: string;
  seed: number;
  /** Training-set size (true-labelled part for the confusion experiment). */
  size: number | null;
  labels: 'true' | 'random';
  confusion: number;
  /** Hidden units of a one-hidden-layer MLP (width experiment), else null. */
  width: number | null;
  converged: boolean;
  /** 'done', or 'failed' (the run raised an error; see the database). */
  status?: string;
  epochs: number;
  trainError: number | null;
  testError: number | null;
  measures: Record<string, number | null>;
  components: Record<string, any>;
  curve: CurvePoint[];
}

export interface Figure {
  id: string;
  title: string;
  caption: string;
  spec: VegaLiteSpec | null;
  /** Why there is no plot (no data), when spec is null. */
  empty?: string;
  /** Number of runs behind the figure. */
  runs: number;
}

export const NORM_MEASURES = ['l2', 'l1_path', 'l2_path', 'spectral'] as const;
const MEASURE_TITLES: Record<string, string> = {
  l2: 'ℓ2 norm (l2)',
  l1_path: 'ℓ1-path norm (l1_path)',
  l2_path: 'ℓ2-path norm (l2_path)',
  spectral: 'spectral norm (spectral)',
  sharpness: 'sharpness ζ_α',
};

const byExperiment = (runs: ReportRun[], exp: string) => runs.filter((r) => r.experiment === exp && r.converged);

const positive = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

function emptyFigure(id: string, title: string, caption: string, why: string): Figure {
  return { id, title, caption, spec: null, empty: why, runs: 0 };
}

const labelColor = {
  field: 'labels',
  type: 'nominal',
  title: 'labels',
  scale: { domain: ['true', 'random'], range: ['#1f77b4', '#d62728'] },
};

/** Fig. 1: the norm measures against training-set size, true vs random labels, log scale. */
export function figure1(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'random-labels');
  const values = rs.flatMap((r) =>
    NORM_MEASURES.filter((m) => positive(r.measures[m])).map((m) => ({ size: r.size, labels: r.labels, measure: MEASURE_TITLES[m], value: r.measures[m] })),
  );
  const title = 'Fig. 1: norm-based measures, true vs random labels';
  const caption = 'Each measure against the training-set size, for networks trained on true and on random labels (log scale). The paper: random labels give larger values, and the gap grows with size.';
  if (values.length === 0) return emptyFigure('fig1', title, caption, 'No converged run of the random-labels experiment (with positive margins) in the database.');
  return {
    id: 'fig1',
    title,
    caption,
    runs: rs.length,
    spec: {
      data: { values },
      facet: { field: 'measure', type: 'nominal', title: null, sort: NORM_MEASURES.map((m) => MEASURE_TITLES[m]) },
      columns: 4,
      spec: {
        width: 190,
        height: 170,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'size', type: 'quantitative', title: 'training-set size', scale: { type: 'log' }, axis: { tickCount: 4 } },
          y: { field: 'value', type: 'quantitative', title: 'measure (log)', scale: { type: 'log' } },
          color: labelColor,
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
  };
}

/** Fig. 2 left: sharpness against size, true vs random labels. */
export function figure2Sharpness(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'random-labels');
  const values = rs.filter((r) => typeof r.measures.sharpness === 'number').map((r) => ({ size: r.size, labels: r.labels, sharpness: r.measures.sharpness }));
  const title = 'Fig. 2 (left): sharpness, true vs random labels';
  const caption = 'Sharpness ζ_α (paper eq. 3) against training-set size.';
  if (values.length === 0) return emptyFigure('fig2-sharpness', title, caption, 'No converged run of the random-labels experiment with a sharpness value.');
  return {
    id: 'fig2-sharpness',
    title,
    caption,
    runs: rs.length,
    spec: {
      width: 320,
      height: 220,
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'size', type: 'quantitative', title: 'training-set size', scale: { type: 'log' } },
        y: { field: 'sharpness', type: 'quantitative', title: 'sharpness ζ_α' },
        color: labelColor,
      },
    },
  };
}

/** The PAC-Bayes bi-criteria plot: KL against expected sharpness over the α grid, one curve per group. */
function biCriteria(id: string, title: string, caption: string, rs: ReportRun[], group: (r: ReportRun) => string, groupTitle: string, dash?: (r: ReportRun) => string): Figure {
  const values = rs.flatMap((r) =>
    r.curve.filter((p) => positive(p.kl) && Number.isFinite(p.expected_sharpness)).map((p) => ({
      group: group(r),
      dash: dash ? dash(r) : '',
      alpha: p.alpha,
      kl: p.kl,
      expected_sharpness: p.expected_sharpness,
    })),
  );
  if (values.length === 0) return emptyFigure(id, title, caption, `No converged run of the ${id.startsWith('fig2') ? 'random-labels' : id.startsWith('fig3') ? 'confusion' : 'width'} experiment with a PAC-Bayes curve in the database.`);
  const groups = [...new Set(rs.map(group))];
  return {
    id,
    title,
    caption,
    runs: rs.length,
    spec: {
      width: 360,
      height: 260,
      data: { values },
      encoding: {
        x: { field: 'expected_sharpness', type: 'quantitative', title: 'expected sharpness E[L̂(w+ν)] − L̂(w) (0/1 loss)' },
        y: { field: 'kl', type: 'quantitative', title: 'KL(w + ν ‖ ν)', scale: { type: 'log' } },
        color: { field: 'group', type: 'ordinal', title: groupTitle, sort: groups, scale: { scheme: 'viridis' } },
        tooltip: [{ field: 'group' }, { field: 'alpha' }, { field: 'kl' }, { field: 'expected_sharpness' }],
      },
      layer: [
        {
          // a line layer of its own (without points), so that the dash legend draws stroke symbols
          mark: { type: 'line' },
          encoding: {
            order: { field: 'alpha', type: 'quantitative' },
            ...(dash
              ? { strokeDash: { field: 'dash', type: 'nominal', title: 'labels', legend: { symbolType: 'stroke', symbolStrokeWidth: 2, symbolStrokeColor: '#333', symbolSize: 300 } } }
              : {}),
          },
        },
        { mark: { type: 'point', size: 18, filled: true } },
      ],
    },
  };
}

export function figure2BiCriteria(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'random-labels').sort((a, b) => (a.size ?? 0) - (b.size ?? 0));
  return biCriteria(
    'fig2-pacbayes',
    'Fig. 2 (right): PAC-Bayes bi-criteria plot, true vs random labels',
    'KL against expected sharpness over the α grid (σ_i = α(10|w_i|+1)), one curve per training-set size (colour) and label type (dash). Lower-left is better.',
    rs,
    (r) => String(r.size),
    'size',
    (r) => r.labels,
  );
}

/** min-max scaling of a list to [0, 1] (a constant list maps to 0). */
export function scale01(xs: number[]): number[] {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return xs.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 0));
}

/** Fig. 3: test error, scaled norm measures and sharpness against the confusion-set size. */
export function figure3(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'confusion').sort((a, b) => a.confusion - b.confusion);
  const title = 'Fig. 3: different global minima (growing confusion set)';
  const caption = 'Test error, the norm measures (each scaled to [0, 1] over the confusion sizes) and sharpness, against the number of random-labelled points added to the true-labelled training set. Measures are computed on the true-labelled part.';
  if (rs.length === 0) return emptyFigure('fig3', title, caption, 'No converged run of the confusion experiment in the database.');
  const values: Record<string, unknown>[] = [];
  for (const m of [...NORM_MEASURES, 'sharpness']) {
    const pts = rs.filter((r) => typeof r.measures[m] === 'number' && Number.isFinite(r.measures[m]!));
    if (pts.length === 0) continue;
    const sc = scale01(pts.map((r) => (m === 'sharpness' ? r.measures[m]! : Math.log10(r.measures[m]!))));
    pts.forEach((r, i) => values.push({ confusion: r.confusion, panel: 'measures (scaled to [0, 1])', series: MEASURE_TITLES[m], value: sc[i] }));
  }
  for (const r of rs) if (r.testError !== null) values.push({ confusion: r.confusion, panel: 'test error', series: 'test error', value: r.testError });
  return {
    id: 'fig3',
    title,
    caption,
    runs: rs.length,
    spec: {
      data: { values },
      facet: { field: 'panel', type: 'nominal', title: null, sort: ['test error', 'measures (scaled to [0, 1])'] },
      spec: {
        width: 300,
        height: 220,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'confusion', type: 'quantitative', title: 'confusion-set size (random-labelled points)' },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
  };
}

export function figure3BiCriteria(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'confusion').sort((a, b) => a.confusion - b.confusion);
  return biCriteria('fig3-pacbayes', 'Fig. 3 (right): PAC-Bayes bi-criteria plot per confusion size', 'KL against expected sharpness over the α grid, one curve per confusion-set size.', rs, (r) => String(r.confusion), 'confusion');
}

/** Fig. 4 left: train and test error against width. */
export function figure4Errors(runs: ReportRun[]): Figure {
  const rs = runs.filter((r) => r.experiment === 'width').sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
  const title = 'Fig. 4 (left): error against width';
  const caption = 'Training and test error of one-hidden-layer MLPs against the number of hidden units (all runs; hollow points did not converge).';
  if (rs.length === 0) return emptyFigure('fig4-errors', title, caption, 'No run of the width experiment in the database.');
  const values = rs.flatMap((r) => [
    { width: r.width, kind: 'train error', error: r.trainError, converged: r.converged ? 'yes' : 'no' },
    { width: r.width, kind: 'test error', error: r.testError, converged: r.converged ? 'yes' : 'no' },
  ]).filter((v) => v.error !== null);
  return {
    id: 'fig4-errors',
    title,
    caption,
    runs: rs.length,
    spec: {
      width: 320,
      height: 220,
      data: { values },
      layer: [
        { mark: { type: 'line' }, encoding: { x: { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'hidden units' }, y: { field: 'error', type: 'quantitative', title: 'error' }, color: { field: 'kind', type: 'nominal', title: null } } },
        {
          mark: { type: 'point', size: 50 },
          encoding: {
            x: { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 } },
            y: { field: 'error', type: 'quantitative' },
            color: { field: 'kind', type: 'nominal', title: null },
            fill: { condition: { test: "datum.converged === 'yes'", field: 'kind', type: 'nominal' }, value: 'white' },
          },
        },
      ],
    },
  };
}

/** log10 of a measure, from the value or from components.log10 (products can overflow float64). */
export function log10Measure(r: ReportRun, name: string): number | null {
  const v = r.measures[name];
  if (positive(v)) return Math.log10(v);
  const l = r.components?.log10?.[name];
  return typeof l === 'number' && Number.isFinite(l) ? l : null;
}

/**
 * The width experiment's measures in both conventions (SPEC): as defined (with the h_i factors) and as the
 * paper plots them (without factors that depend only on depth or width):
 *   l2 → ∏‖W_i‖_F²/γ²,  l1_path → (Σ_paths ∏|W|)²/γ²,  l2_path → Σ_paths ∏W²/γ²,  spectral → ∏‖W_i‖₂²/γ².
 */
export function widthMeasureValues(r: ReportRun): { measure: string; convention: string; log10: number }[] {
  const out: { measure: string; convention: string; log10: number }[] = [];
  const gamma = r.measures.margin;
  for (const m of NORM_MEASURES) {
    const l = log10Measure(r, m);
    if (l !== null) out.push({ measure: m, convention: 'with h_i factors (as defined)', log10: l });
  }
  if (positive(gamma)) {
    // the paper's convention drops every factor that depends only on depth (4^d) or width (∏h_i)
    const lg = 2 * Math.log10(gamma);
    const d = Array.isArray(r.components.widths) ? r.components.widths.length : 2;
    for (const m of ['l2', 'l1_path'] as const) {
      const l = log10Measure(r, m);
      if (l !== null) out.push({ measure: m, convention: 'without h_i factors (paper)', log10: l - d * Math.log10(4) });
    }
    const l2ps = typeof r.components.l2_path_sum === 'number' && r.components.l2_path_sum > 0 ? Math.log10(r.components.l2_path_sum) : r.components?.log10?.l2_path_sum;
    if (typeof l2ps === 'number' && Number.isFinite(l2ps)) out.push({ measure: 'l2_path', convention: 'without h_i factors (paper)', log10: l2ps - lg });
    const sn: unknown = r.components.spectral_norms;
    if (Array.isArray(sn) && sn.every((s) => typeof s === 'number' && s > 0)) {
      out.push({ measure: 'spectral', convention: 'without h_i factors (paper)', log10: sn.reduce((a: number, s: number) => a + 2 * Math.log10(s), 0) - lg });
    }
  }
  return out;
}

/** Fig. 4 middle: the norm measures against width, with and without the h_i factors. */
export function figure4Measures(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'width').sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
  const title = 'Fig. 4 (middle): norm measures against width, with and without the h_i factors';
  const caption = 'log10 of each measure against the number of hidden units. Left: as defined in SPEC (l2_path and spectral include ∏h_i); right: the paper\'s plotting convention, which drops factors that depend only on depth or width. With the h_i factors, l2_path and spectral stop explaining the trend.';
  const values = rs.flatMap((r) => widthMeasureValues(r).map((v) => ({ width: r.width, ...v })));
  if (values.length === 0) return emptyFigure('fig4-measures', title, caption, 'No converged run of the width experiment (with positive margins) in the database.');
  return {
    id: 'fig4-measures',
    title,
    caption,
    runs: rs.length,
    spec: {
      data: { values },
      facet: { field: 'convention', type: 'nominal', title: null, sort: ['with h_i factors (as defined)', 'without h_i factors (paper)'] },
      spec: {
        width: 300,
        height: 230,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'hidden units' },
          y: { field: 'log10', type: 'quantitative', title: 'log10 measure' },
          color: { field: 'measure', type: 'nominal', title: 'measure', sort: [...NORM_MEASURES] },
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
  };
}

export function figure4BiCriteria(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'width').sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
  return biCriteria('fig4-pacbayes', 'Fig. 4 (right): PAC-Bayes bi-criteria plot per width', 'KL against expected sharpness over the α grid, one curve per number of hidden units.', rs, (r) => String(r.width), 'hidden units');
}

export function allFigures(runs: ReportRun[]): Figure[] {
  return [figure1(runs), figure2Sharpness(runs), figure2BiCriteria(runs), figure3(runs), figure3BiCriteria(runs), figure4Errors(runs), figure4Measures(runs), figure4BiCriteria(runs)];
}
