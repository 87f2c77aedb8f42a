/**
 * A one-model report (`genmeasures measure … --html FILE`): the measures with their notes, a histogram of
 * the training margins (with γ marked), and the PAC-Bayes bi-criteria curve, in one self-contained HTML file.
 */
import type { MeasureReport } from '../measures/types.js';
import { writeOutput, type OutputTarget } from '../util/output.js';
import { REPORT_CSS, escapeHtml, fmt } from './html.js';
import { toSvg, VegaLiteSpec } from './render.js';

export interface ModelReportInput {
  model: string;
  data: string;
  m: number;
  report: MeasureReport;
  /** Every training margin f(x)[y] − max_{j≠y} f(x)[j]. */
  margins: ArrayLike<number>;
}

export function marginHistogramSpec(margins: ArrayLike<number>, gamma: number | null): VegaLiteSpec {
  const values = Array.from(margins, (m) => ({ margin: m }));
  const layers: Record<string, unknown>[] = [
    {
      mark: { type: 'bar', color: '#4c78a8' },
      encoding: {
        x: { field: 'margin', type: 'quantitative', bin: { maxbins: 60 }, title: 'training margin f(x)[y] − max_{j≠y} f(x)[j]' },
        y: { aggregate: 'count', type: 'quantitative', title: 'training points' },
      },
    },
  ];
  if (gamma !== null && Number.isFinite(gamma)) {
    layers.push({ data: { values: [{ gamma }] }, mark: { type: 'rule', color: '#d62728', strokeWidth: 2 }, encoding: { x: { field: 'gamma', type: 'quantitative' } } });
    layers.push({
      data: { values: [{ gamma, text: `γ = ${fmt(gamma)}` }] },
      mark: { type: 'text', color: '#d62728', align: 'left', dx: 4, dy: -6, baseline: 'top', fontSize: 12 },
      encoding: { x: { field: 'gamma', type: 'quantitative' }, y: { value: 0 }, text: { field: 'text' } },
    });
  }
  return { width: 520, height: 240, data: { values }, layer: layers };
}

export function curveSpec(report: MeasureReport): VegaLiteSpec | null {
  const values = report.pac_bayes_curve.filter((p) => p.kl > 0 && Number.isFinite(p.expected_sharpness));
  if (values.length === 0) return null;
  return {
    width: 420,
    height: 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'expected_sharpness', type: 'quantitative', title: 'expected sharpness (0/1 loss)' },
      y: { field: 'kl', type: 'quantitative', title: 'KL', scale: { type: 'log' } },
      order: { field: 'alpha', type: 'quantitative' },
      tooltip: [{ field: 'alpha' }, { field: 'kl' }, { field: 'expected_sharpness' }, { field: 'bound' }],
    },
  };
}

/**
 * Write the report to `file`: a path (checked now) or a target checked earlier with checkOutputFile
 * ('-' is standard output; a regular file is replaced atomically; see util/output.ts). File-system
 * failures are one-line UserErrors naming `option`.
 */
export async function writeModelReport(file: string | OutputTarget, input: ModelReportInput, option = '--html'): Promise<void> {
  const { report } = input;
  const gamma = report.measures.margin ?? null;
  const hist = await toSvg(marginHistogramSpec(input.margins, gamma));
  const cs = curveSpec(report);
  const curve = cs ? await toSvg(cs) : null;
  const rows = Object.entries(report.measures)
    .map(([k, v]) => `<tr><td class="l">${escapeHtml(k)}</td><td>${fmt(v, 4)}</td><td>${report.timings_ms[k] !== undefined ? (report.timings_ms[k] / 1000).toFixed(2) + ' s' : ''}</td></tr>`)
    .join('\n');
  const strip = (svg: string) => svg.replace(/^<\?xml[^>]*>/, '');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genmeasures: ${escapeHtml(input.model)}</title><style>${REPORT_CSS}</style></head>
<body>
<h1>Complexity measures of one network</h1>
<p class="meta">model ${escapeHtml(input.model)} · data ${escapeHtml(input.data)} · m = ${input.m} · generated ${escapeHtml(new Date().toISOString())}</p>
<h2>Measures</h2>
<table id="measures"><tr><th class="l">measure</th><th>value</th><th>time</th></tr>
${rows}</table>
${report.notes.length ? `<h3>Notes</h3><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
<h2>Training margins</h2>
<figure data-figure="margins" data-empty="false"><div class="figure-svg">${strip(hist)}</div><figcaption>Histogram of the ${input.m} training margins; γ (red) is the ⌈ε·m⌉-th smallest.</figcaption></figure>
<h2>PAC-Bayes bi-criteria curve</h2>
${curve ? `<figure data-figure="pac-bayes" data-empty="false"><div class="figure-svg">${strip(curve)}</div><figcaption>KL against expected sharpness over the α grid.</figcaption></figure>` : '<figure data-figure="pac-bayes" data-empty="true"><div class="empty">No data: the PAC-Bayes curve was not computed (add pac_bayes to --measures).</div></figure>'}
</body></html>
`;
  writeOutput(file, html, option);
}
