/**
 * The paper's figures as declarative Vega-Lite specifications, built from the runs of the results
 * database. Every figure is a function (runs) → Figure; a figure without data says so (`empty`).
 * Only converged runs enter a figure (runs that did not converge are listed in the runs table only).
 * Runs that differ only in their seed are one point of a figure that plots against a swept value: the
 * line goes through the mean over the seeds, and a band shows the range (min–max) over them (seeds.ts).
 */
import { L2_PATH_SUM, LOG10, SPECTRAL_NORMS, WIDTHS } from '../measures/components.js';
import { NUMBER_LABEL_EXPR, logTicks, numberLabelExpr, type VegaLiteSpec } from './render.js';
import { SEED_CAPTION, aggregateSeeds, bandLayer, hasRepeats } from './seeds.js';

export interface CurvePoint {
  alpha: number;
  kl: number;
  expected_sharpness: number;
}

/** One run as the report sees it (the store adapter maps database rows to this). */
export interface ReportRun {
  key: string;
  /** The training configuration's key (the checkpoint's name): runs that share it trained one network. */
  trainKey?: string | null;
  /** The measure options as canonical JSON: with trainKey, what makes two runs one measurement. */
  measureOptions?: string | null;
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
  /** The run's components, read through their declared fields (measures/components.ts: WIDTHS.read(…)). */
  components: Record<string, unknown>;
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

/** A log-scale position encoding's scale and axis: ticks from logTicks, each labelled. */
export function logScaleAxis(values: number[], opts: { base?: number; ticks?: number[] } = {}): { scale: Record<string, unknown>; axis: Record<string, unknown> } {
  const pos = values.filter(positive);
  if (pos.length === 0) return { scale: { type: 'log' }, axis: { labelExpr: NUMBER_LABEL_EXPR } };
  const ticks = opts.ticks ?? logTicks(Math.min(...pos), Math.max(...pos));
  const lo = Math.min(ticks[0], ...pos);
  const hi = Math.max(ticks[ticks.length - 1], ...pos);
  return {
    scale: { type: 'log', ...(opts.base ? { base: opts.base } : {}), domain: [lo, hi], nice: false },
    // an axis that reaches 10⁴ writes 1000 as 1e3 too, so that its labels read alike
    axis: { values: ticks, labelExpr: numberLabelExpr(ticks[ticks.length - 1] >= 1e4 ? 1e3 : 1e4), labelOverlap: false, labelFlush: false },
  };
}

/**
 * A log x axis whose ticks are the swept values themselves (sizes, widths), each labelled; the domain
 * is padded so that the first and last points are not on the frame.
 */
export function sweptLogAxis(values: (number | null)[], base?: number): { scale: Record<string, unknown>; axis: Record<string, unknown> } {
  const pos = [...new Set(values.filter(positive))].sort((p, q) => p - q);
  if (pos.length === 0) return { scale: { type: 'log', ...(base ? { base } : {}) }, axis: { labelExpr: NUMBER_LABEL_EXPR } };
  const pad = Math.pow(pos[pos.length - 1] / pos[0], 0.06) || 1.2;
  return {
    scale: { type: 'log', ...(base ? { base } : {}), domain: [pos[0] / Math.max(pad, 1.15), pos[pos.length - 1] * Math.max(pad, 1.15)], nice: false },
    axis: { values: pos, labelExpr: NUMBER_LABEL_EXPR, labelOverlap: false, labelFlush: false, grid: true },
  };
}

/** Fig. 1: the norm measures against training-set size, true vs random labels, log scale. */
export function figure1(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'random-labels');
  const values = aggregateSeeds(
    rs.flatMap((r) =>
      NORM_MEASURES.filter((m) => positive(r.measures[m])).map((m) => ({ size: r.size, labels: r.labels, measure: MEASURE_TITLES[m], value: r.measures[m] as number })),
    ),
    ['size', 'labels', 'measure'],
    'value',
  );
  const bands = hasRepeats(values);
  const title = 'Fig. 1: norm-based measures, true vs random labels';
  const caption =
    'Each measure against the training-set size, for networks trained on true and on random labels (log scales). The paper: random labels give larger values, and the gap grows with size.' +
    (bands ? ` ${SEED_CAPTION}` : '');
  if (values.length === 0) return emptyFigure('fig1', title, caption, 'No converged run of the random-labels experiment (with positive margins) in the database.');
  const x = sweptLogAxis(values.map((v) => v.size));
  // one panel per measure, each with its own y axis (ticks computed from its own values, all labelled)
  const panels = NORM_MEASURES.map((m) => MEASURE_TITLES[m])
    .filter((t) => values.some((v) => v.measure === t))
    .map((t) => {
      const mine = values.filter((v) => v.measure === t);
      const y = logScaleAxis(mine.flatMap((v) => [v.value, v.lo, v.hi]));
      const enc = {
        x: { field: 'size', type: 'quantitative', title: 'training-set size', ...x },
        y: { field: 'value', type: 'quantitative', title: 'measure (log)', ...y },
        color: labelColor,
      };
      const line = { mark: { type: 'line', point: true }, encoding: enc };
      return {
        title: { text: t, fontSize: 12, fontWeight: 'normal', anchor: 'middle' },
        width: 190,
        height: 170,
        transform: [{ filter: { field: 'measure', equal: t } }],
        ...(bands ? { layer: [bandLayer(enc.x, enc.y, labelColor), line] } : line),
      };
    });
  return {
    id: 'fig1',
    title,
    caption,
    runs: rs.length,
    spec: {
      data: { values },
      concat: panels,
      columns: 4,
      resolve: { scale: { y: 'independent', x: 'independent' } },
    },
  };
}

/** Fig. 2 left: sharpness against size, true vs random labels. */
export function figure2Sharpness(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'random-labels');
  const values = aggregateSeeds(
    rs.filter((r) => typeof r.measures.sharpness === 'number').map((r) => ({ size: r.size, labels: r.labels, sharpness: r.measures.sharpness as number })),
    ['size', 'labels'],
    'sharpness',
  );
  const bands = hasRepeats(values);
  const title = 'Fig. 2 (left): sharpness, true vs random labels';
  const caption = 'Sharpness ζ_α (paper eq. 3) against training-set size.' + (bands ? ` ${SEED_CAPTION}` : '');
  const enc = {
    x: { field: 'size', type: 'quantitative', title: 'training-set size (log scale)', ...sweptLogAxis(values.map((v) => v.size)) },
    y: { field: 'sharpness', type: 'quantitative', title: 'sharpness ζ_α', axis: { labelExpr: NUMBER_LABEL_EXPR } },
    color: labelColor,
  };
  const line = { mark: { type: 'line', point: true }, encoding: enc };
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
      ...(bands ? { layer: [bandLayer(enc.x, enc.y, labelColor), line] } : line),
    },
  };
}

/** The PAC-Bayes bi-criteria plot: KL against expected sharpness over the α grid, one curve per group. */
function biCriteria(id: string, title: string, caption: string, rs: ReportRun[], group: (r: ReportRun) => string, groupTitle: string, dash?: (r: ReportRun) => string): Figure {
  const values = rs.flatMap((r) =>
    r.curve.filter((p) => positive(p.kl) && Number.isFinite(p.expected_sharpness)).map((p) => ({
      group: group(r),
      dash: dash ? dash(r) : '',
      seed: r.seed,
      alpha: p.alpha,
      kl: p.kl,
      expected_sharpness: p.expected_sharpness,
    })),
  );
  if (values.length === 0) return emptyFigure(id, title, caption, `No converged run of the ${id.startsWith('fig2') ? 'random-labels' : id.startsWith('fig3') ? 'confusion' : 'width'} experiment with a PAC-Bayes curve in the database.`);
  const groups = [...new Set(rs.map(group))];
  // runs of one group with different seeds are curves of their own (not one zigzag through all of them)
  const seeds = new Set(values.map((v) => v.seed)).size > 1;
  const y = logScaleAxis(values.map((v) => v.kl));
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
        x: { field: 'expected_sharpness', type: 'quantitative', title: 'expected sharpness E[L̂(w+ν)] − L̂(w) (0/1 loss)', axis: { labelExpr: NUMBER_LABEL_EXPR } },
        y: { field: 'kl', type: 'quantitative', title: 'KL(w + ν ‖ ν) (log scale)', ...y },
        color: { field: 'group', type: 'ordinal', title: groupTitle, sort: groups, scale: { scheme: 'viridis' } },
        tooltip: [{ field: 'group' }, { field: 'alpha' }, { field: 'kl' }, { field: 'expected_sharpness' }],
      },
      layer: [
        {
          // a line layer of its own (without points), so that the dash legend draws stroke symbols
          mark: { type: 'line' },
          encoding: {
            order: { field: 'alpha', type: 'quantitative' },
            ...(seeds ? { detail: { field: 'seed', type: 'nominal' } } : {}),
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

/**
 * Fig. 3: test error, the norm measures and sharpness against the confusion-set size, one panel each with
 * its own y axis (scaled to a common range, the four norm curves lie on top of each other).
 */
export function figure3(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'confusion').sort((a, b) => a.confusion - b.confusion);
  const title = 'Fig. 3: different global minima (growing confusion set)';
  const caption =
    'Test error, the four norm measures and sharpness against the number of random-labelled points added to the true-labelled training set, one panel each with its own linear y axis (the measures are not rescaled: scaled to a common range, the four norm curves coincide). Measures are computed on the true-labelled part.';
  if (rs.length === 0) return emptyFigure('fig3', title, caption, 'No converged run of the confusion experiment in the database.');
  const raw: { confusion: number; panel: string; value: number }[] = [];
  const panels: string[] = [];
  const add = (panel: string, pick: (r: ReportRun) => number | null | undefined) => {
    const pts = rs.filter((r) => { const v = pick(r); return typeof v === 'number' && Number.isFinite(v); });
    if (pts.length === 0) return;
    panels.push(panel);
    for (const r of pts) raw.push({ confusion: r.confusion, panel, value: pick(r)! });
  };
  add('test error', (r) => r.testError);
  for (const m of [...NORM_MEASURES, 'sharpness']) add(MEASURE_TITLES[m], (r) => r.measures[m]);
  const values = aggregateSeeds(raw, ['confusion', 'panel'], 'value');
  const bands = hasRepeats(values);
  const x = { field: 'confusion', type: 'quantitative', title: 'random-labelled points added', axis: { tickCount: 4, labelExpr: NUMBER_LABEL_EXPR } };
  return {
    id: 'fig3',
    title,
    caption: caption + (bands ? ` ${SEED_CAPTION}` : ''),
    runs: rs.length,
    spec: {
      data: { values },
      concat: panels.map((panel) => {
        const color = panel === 'test error' ? '#d62728' : '#1f77b4';
        const y = {
          field: 'value',
          type: 'quantitative',
          title: null,
          scale: { zero: false },
          axis: panel === 'test error' ? { format: '.0%', tickCount: 5 } : { labelExpr: NUMBER_LABEL_EXPR, tickCount: 5 },
        };
        const line = { mark: { type: 'line', color, point: { color } }, encoding: { x, y } };
        return {
          title: { text: panel, fontSize: 12, fontWeight: 'normal', anchor: 'middle' },
          width: 210,
          height: 150,
          transform: [{ filter: { field: 'panel', equal: panel } }],
          ...(bands ? { layer: [bandLayer(x, y, color), line] } : line),
        };
      }),
      columns: 3,
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
  const values = aggregateSeeds(
    rs
      .flatMap((r) => [
        { width: r.width, kind: 'train error', error: r.trainError, converged: r.converged ? 'yes' : 'no' },
        { width: r.width, kind: 'test error', error: r.testError, converged: r.converged ? 'yes' : 'no' },
      ])
      .filter((v) => v.error !== null),
    ['width', 'kind'],
    'error',
    // a point of several seeds is filled only if every seed converged
    (members) => ({ converged: members.every((m) => m.converged === 'yes') ? 'yes' : 'no' }),
  );
  const bands = hasRepeats(values);
  const x = { field: 'width', type: 'quantitative', title: 'hidden units (log scale)', ...sweptLogAxis(rs.map((r) => r.width), 2) };
  const y = { field: 'error', type: 'quantitative', title: 'error', axis: { format: '.0%' } };
  const kind = { field: 'kind', type: 'nominal', title: null };
  return {
    id: 'fig4-errors',
    title,
    caption: caption + (bands ? ` ${SEED_CAPTION} A point is hollow if some seed did not converge.` : ''),
    runs: rs.length,
    spec: {
      width: 320,
      height: 220,
      data: { values },
      layer: [
        ...(bands ? [bandLayer(x, y, kind)] : []),
        { mark: { type: 'line' }, encoding: { x, y, color: kind } },
        {
          mark: { type: 'point', size: 50 },
          encoding: {
            x,
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
  const l = LOG10.read(r.components)?.[name];
  return typeof l === 'number' && Number.isFinite(l) ? l : null;
}

/**
 * The width experiment's measures in both conventions (docs/definitions.md): as defined (with the h_i factors) and as the
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
    const d = WIDTHS.read(r.components)?.length ?? 2;
    for (const m of ['l2', 'l1_path'] as const) {
      const l = log10Measure(r, m);
      if (l !== null) out.push({ measure: m, convention: 'without h_i factors (paper)', log10: l - d * Math.log10(4) });
    }
    const sum = L2_PATH_SUM.read(r.components);
    const l2ps = typeof sum === 'number' && sum > 0 ? Math.log10(sum) : LOG10.read(r.components)?.l2_path_sum;
    if (typeof l2ps === 'number' && Number.isFinite(l2ps)) out.push({ measure: 'l2_path', convention: 'without h_i factors (paper)', log10: l2ps - lg });
    const sn = SPECTRAL_NORMS.read(r.components);
    if (sn && sn.every((s) => s > 0)) {
      out.push({ measure: 'spectral', convention: 'without h_i factors (paper)', log10: sn.reduce((a, s) => a + 2 * Math.log10(s), 0) - lg });
    }
  }
  return out;
}

/** Fig. 4 middle: the norm measures against width, with and without the h_i factors. */
export function figure4Measures(runs: ReportRun[]): Figure {
  const rs = byExperiment(runs, 'width').sort((a, b) => (a.width ?? 0) - (b.width ?? 0));
  const title = 'Fig. 4 (middle): norm measures against width, with and without the h_i factors';
  const caption = 'log10 of each measure against the number of hidden units. Left: as defined (docs/definitions.md; l2_path and spectral include ∏h_i); right: the paper\'s plotting convention, which drops factors that depend only on depth or width. With the h_i factors, l2_path and spectral stop explaining the trend.';
  const values = aggregateSeeds(
    rs.flatMap((r) => widthMeasureValues(r).map((v) => ({ width: r.width, ...v }))),
    ['width', 'measure', 'convention'],
    'log10',
  );
  const bands = hasRepeats(values);
  const enc = {
    x: { field: 'width', type: 'quantitative', title: 'hidden units (log scale)', ...sweptLogAxis(rs.map((r) => r.width), 2) },
    y: { field: 'log10', type: 'quantitative', title: 'log10 measure', axis: { labelExpr: NUMBER_LABEL_EXPR } },
    color: { field: 'measure', type: 'nominal', title: 'measure', sort: [...NORM_MEASURES] },
  };
  const line = { mark: { type: 'line', point: true }, encoding: enc };
  if (values.length === 0) return emptyFigure('fig4-measures', title, caption, 'No converged run of the width experiment (with positive margins) in the database.');
  return {
    id: 'fig4-measures',
    title,
    caption: caption + (bands ? ` ${SEED_CAPTION}` : ''),
    runs: rs.length,
    spec: {
      data: { values },
      facet: { field: 'convention', type: 'nominal', title: null, sort: ['with h_i factors (as defined)', 'without h_i factors (paper)'] },
      spec: {
        width: 300,
        height: 230,
        ...(bands ? { layer: [bandLayer(enc.x, enc.y, enc.color), line] } : line),
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
