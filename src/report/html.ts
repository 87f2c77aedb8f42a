/**
 * The HTML report: one self-contained index.html (figures inlined as SVG, no scripts, no network),
 * and every figure beside it as SVG and PNG.
 */
import path from 'node:path';
import { writeFileAtomic } from '../util/fsx.js';
import { Figure, ReportRun, allFigures } from './figures.js';
import { MeasureRanking, rankMeasures } from './ranking.js';
import { svgToPng, toSvg } from './render.js';
import { SUMMARY_MEASURES, SeedSummaryRow, seedSummary } from './seeds.js';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const REPORT_CSS = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1150px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
figure { margin: 1.2rem 0 2rem; } figcaption { color: #444; font-size: .92rem; max-width: 900px; margin-top: .3rem; }
.figure-svg svg { max-width: 100%; height: auto; }
.empty { border: 1px dashed #aaa; padding: 1.5rem; color: #666; background: #fafafa; max-width: 700px; }
table { border-collapse: collapse; font-size: .88rem; margin: .8rem 0; } th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .6rem; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; } .muted { color: #777; } .bad { color: #b00; }
.meta { color: #555; font-size: .9rem; } a { color: #1f5fa8; }
`;

export const fmt = (v: number | null | undefined, digits = 3): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
};

const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(2)}%`);

export interface RenderedFigure {
  figure: Figure;
  svg: string | null;
}

export async function renderFigures(figures: Figure[], outDir: string | null): Promise<RenderedFigure[]> {
  const out: RenderedFigure[] = [];
  for (const f of figures) {
    if (!f.spec) {
      out.push({ figure: f, svg: null });
      continue;
    }
    const svg = await toSvg(f.spec);
    if (outDir) {
      writeFileAtomic(path.join(outDir, `${f.id}.svg`), svg);
      writeFileAtomic(path.join(outDir, `${f.id}.png`), svgToPng(svg));
    }
    out.push({ figure: f, svg });
  }
  return out;
}

export function figureHtml({ figure: f, svg }: RenderedFigure): string {
  const body = svg
    ? `<div class="figure-svg" role="img" aria-label="${escapeHtml(f.title)}">${svg.replace(/^<\?xml[^>]*>/, '')}</div>`
    : `<div class="empty">No data: ${escapeHtml(f.empty ?? 'nothing to plot')}</div>`;
  const files = svg ? ` <a href="${f.id}.svg">SVG</a> · <a href="${f.id}.png">PNG</a>` : '';
  return `<figure id="${f.id}" data-figure="${f.id}" data-empty="${svg ? 'false' : 'true'}"><h3>${escapeHtml(f.title)}</h3>${body}<figcaption>${escapeHtml(f.caption)} <span class="muted">(${f.runs} runs)</span>${files}</figcaption></figure>`;
}

const UNDEFINED_WHY: Record<string, string> = {
  'constant measure': 'the measure takes the same value on every run compared',
  'constant gap': 'the generalization gap is the same on every run compared',
  'too few runs': 'fewer than two runs to compare',
};

/**
 * The ranking table. A τ or ψ that is undefined because the measure (or the gap) is constant over the
 * runs compared reads "undefined*" (not 0, which would mean "no better than chance"), with a footnote;
 * one with nothing to compare reads "—". The footnotes also say how many runs were merged as repeats of
 * a training configuration, and define the CMI column (the PGDL conditional-mutual-information score).
 */
export function rankingHtml(rows: MeasureRanking[]): string {
  const hypers = [...new Set(rows.flatMap((r) => Object.keys(r.perHyper)))].sort();
  let undefinedUsed = false;
  const undef = (why: string) => {
    undefinedUsed = true;
    return `<span class="muted" title="${escapeHtml(`undefined: ${why}`)}">undefined*</span>`;
  };
  const tauCell = (r: MeasureRanking) =>
    r.tau !== null ? fmt(r.tau) : r.tauUndefined === 'constant measure' || r.tauUndefined === 'constant gap' ? undef(UNDEFINED_WHY[r.tauUndefined]) : '—';
  const psiOf = (p: { psi: number | null; cells: number; constant?: number } | undefined) => {
    if (!p) return '—';
    if (p.psi !== null) return `${fmt(p.psi)} <span class="muted">(${p.cells})</span>`;
    return p.constant ? undef(`constant within each of the ${p.constant} groups`) : '—';
  };
  const psiCell = (r: MeasureRanking) => {
    if (r.psi !== null) return fmt(r.psi);
    const groups = Object.values(r.perHyper);
    return groups.length && groups.some((p) => p.constant) && groups.every((p) => p.psi === null) ? undef('the measure is constant within every group of runs compared') : '—';
  };
  const cmiCell = (r: MeasureRanking) =>
    r.cmi === null || r.cmi === undefined
      ? '—'
      : `${fmt(r.cmi)}${r.cmiWorstSet?.length ? ` <span class="muted">(${r.cmiWorstSet.map(escapeHtml).join(', ')})</span>` : ''}`;
  const head = `<tr><th class="l">measure</th><th>Kendall τ</th><th>Ψ (granulated)</th>${hypers.map((h) => `<th>ψ_${escapeHtml(h)}</th>`).join('')}<th>CMI</th><th>runs</th></tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr><td class="l">${escapeHtml(r.measure)}${r.atGridEdge ? `<span class="edge" title="${r.atGridEdge} of ${r.runs} runs read at the α grid's edge">†</span>` : ''}</td><td>${tauCell(r)}</td><td>${psiCell(r)}</td>${hypers.map((h) => `<td>${psiOf(r.perHyper[h])}</td>`).join('')}<td class="cmi">${cmiCell(r)}</td><td>${r.runs}</td></tr>`,
    )
    .join('\n');
  const notes: string[] = [
    'CMI: the conditional mutual information between sign(Δμ) and sign(Δgap) over ordered pairs of runs that share the values of a pair of swept hyperparameters, divided by the conditional entropy of sign(Δgap), minimised over those pairs (Jiang et al. 2020, PGDL; the minimising pair in brackets): 1 when the measure orders the runs as their gap (or exactly against it), 0 when it tells nothing about it.',
  ];
  if (undefinedUsed) {
    notes.push(
      '* undefined: the measure (or the generalization gap) takes one value on every run compared, so there is no ordering to compare with the gap (for example <code>params</code> over runs of one network size). Such groups are left out of ψ and Ψ.',
    );
  }
  const edge = rows.filter((r) => r.atGridEdge);
  if (edge.length) {
    notes.push(
      `† read at the α* that minimises the PAC-Bayes bound over the α grid, which was the grid's first or last value in ${edge.map((r) => `${r.atGridEdge} of ${r.runs} runs (${escapeHtml(r.measure)})`).join(', ')}: there the value is an artefact of the grid (the bound may be smaller beyond it), so a measure read at the edge in most runs is ranked after the others whatever its τ. Widen the grid with <code>--alpha-grid</code>; <code>kl_at_sharpness</code> reads the same curves at a fixed expected sharpness instead.`,
    );
  }
  const duplicates = Math.max(0, ...rows.map((r) => r.duplicates ?? 0));
  if (duplicates > 0) {
    notes.push(
      `Each network counts once: ${duplicates} run${duplicates === 1 ? '' : 's'} that repeat${duplicates === 1 ? 's' : ''} a training configuration measured with the same options (the same network recorded by two experiments, e.g. the random-labels sweep's true-label run and the confusion sweep's run without confusion set) ${duplicates === 1 ? 'is' : 'are'} left out of τ, Ψ and CMI.`,
    );
  }
  return `<table id="ranking">${head}\n${body}</table>${notes.map((n) => `\n<p class="meta ranking-note">${n}</p>`).join('')}`;
}

export function runsTableHtml(runs: ReportRun[]): string {
  const head = '<tr><th class="l">experiment</th><th class="l">data</th><th class="l">model</th><th>size</th><th class="l">labels</th><th>confusion</th><th>seed</th><th>epochs</th><th>train error</th><th>test error</th><th class="l">converged</th></tr>';
  const body = runs
    .map(
      (r) =>
        `<tr><td class="l">${escapeHtml(r.experiment)}</td><td class="l">${escapeHtml(r.data)}</td><td class="l">${escapeHtml(r.model)}</td><td>${r.size ?? 'all'}</td><td class="l">${r.labels}</td><td>${r.confusion}</td><td>${r.seed}</td><td>${r.epochs}</td><td>${pct(r.trainError)}</td><td>${pct(r.testError)}</td><td class="l ${r.converged ? '' : 'bad'}">${r.status === 'failed' ? 'failed' : r.converged ? 'yes' : 'no'}</td></tr>`,
    )
    .join('\n');
  return `<table id="runs">${head}\n${body}</table>`;
}

/**
 * The per-configuration table over seeds: one row per experiment point, test error and the main measures
 * as mean ± half-range over the seeds (the runs table lists every run). Empty string when no point has two
 * or more seeds.
 */
export function seedSummaryHtml(rows: SeedSummaryRow[]): string {
  if (rows.length === 0) return '';
  const cols = ['test error', ...SUMMARY_MEASURES];
  const cell = (q: string, v: SeedSummaryRow['values'][string]) => {
    if (!v) return '—';
    const f = q === 'test error' ? (x: number) => `${(100 * x).toFixed(2)}%` : (x: number) => fmt(x);
    return v.n > 1 ? `${f(v.mean)} ± ${f(v.spread)}` : `${f(v.mean)}`;
  };
  const head = `<tr><th class="l">experiment</th><th class="l">model</th><th>size</th><th class="l">labels</th><th>confusion</th><th class="l">seeds</th>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr><td class="l">${escapeHtml(r.experiment)}</td><td class="l">${escapeHtml(r.model)}</td><td>${r.size ?? 'all'}</td><td class="l">${r.labels}</td><td>${r.confusion}</td><td class="l">${r.seeds.join(', ')}</td>${cols.map((c) => `<td>${cell(c, r.values[c])}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<h2 id="per-configuration">Per configuration (mean ± half-range over seeds)</h2>
<p class="meta">Every experiment point (converged runs that differ only in their seed) as mean ± half the range (max − min)/2 over its seeds; a value without ± comes from one seed. The figures draw the same means, with a band for the range.</p>
<table id="seed-summary">${head}\n${body}</table>`;
}

export interface ReportOptions {
  outDir: string;
  source: string;
}

/** Write DIR/index.html and every figure as DIR/<id>.svg and DIR/<id>.png; returns the figures. */
export async function writeReport(runs: ReportRun[], opts: ReportOptions): Promise<{ figures: RenderedFigure[]; ranking: MeasureRanking[]; file: string }> {
  const figures = await renderFigures(allFigures(runs), opts.outDir);
  const ranking = rankMeasures(runs);
  const converged = runs.filter((r) => r.converged).length;
  const sections: [string, string[]][] = [
    ['True vs random labels (paper Fig. 1, 2)', ['fig1', 'fig2-sharpness', 'fig2-pacbayes']],
    ['Different global minima (paper Fig. 3)', ['fig3', 'fig3-pacbayes']],
    ['Increasing network size (paper Fig. 4)', ['fig4-errors', 'fig4-measures', 'fig4-pacbayes']],
  ];
  const byId = new Map(figures.map((f) => [f.figure.id, f]));
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genmeasures report</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>${REPORT_CSS}</style></head>
<body>
<h1>What explains generalization? A genmeasures report</h1>
<p class="meta">From ${escapeHtml(opts.source)} · ${runs.length} runs, ${converged} converged (runs that did not converge are left out of every figure and ranking) · generated ${escapeHtml(new Date().toISOString())}</p>
<p class="meta">Measures as defined in Neyshabur, Bhojanapalli, McAllester, Srebro, <i>Exploring Generalization in Deep Learning</i> (NIPS 2017); ranking as in Jiang et al. (2020).</p>
${sections.map(([title, ids]) => `<h2>${escapeHtml(title)}</h2>\n${ids.map((id) => figureHtml(byId.get(id)!)).join('\n')}`).join('\n')}
${seedSummaryHtml(seedSummary(runs))}
<h2>Which measure predicts generalization?</h2>
<p class="meta">Kendall τ between each measure and the generalization gap (test error − train error) over all converged runs, and the granulated coefficient Ψ (the mean over swept hyperparameters of ψ, the mean τ over groups of runs that differ only in that hyperparameter; the number of such groups in brackets). Higher is better; 1 means the measure orders the runs exactly as their gap.</p>
${rankingHtml(ranking)}
<h2>Runs</h2>
${runsTableHtml(runs)}
</body></html>
`;
  const file = path.join(opts.outDir, 'index.html');
  writeFileAtomic(file, html);
  return { figures, ranking, file };
}
