/**
 * Vega-Lite specification → SVG (Vega's headless renderer, no browser) → PNG (@resvg/resvg-js).
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

/** A Vega-Lite spec as plain JSON (the report's figures are all declarative). */
export type VegaLiteSpec = Record<string, unknown>;

/** Shared look: a sans-serif font that exists on Debian (DejaVu Sans), readable sizes. */
export const FIGURE_CONFIG = {
  font: 'DejaVu Sans',
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 },
  title: { fontSize: 14, anchor: 'start' },
  header: { labelFontSize: 12, titleFontSize: 12 },
  view: { stroke: '#ccc' },
};

/**
 * Axis labels: plain numbers up to 10⁴ ("600", "0.05"), exponent notation beyond ("2e5", "1e11", "1e-4"),
 * so that no axis prints 100,000,000,000. For a tick label of a quantitative axis (Vega expression).
 */
export function numberLabelExpr(big = 1e4): string {
  return `isValid(datum.value) && isNumber(datum.value) && datum.value != 0 && (abs(datum.value) >= ${big} || abs(datum.value) < 1e-3) ? replace(format(datum.value, '.2~e'), 'e+', 'e') : format(datum.value, '~g')`;
}
export const NUMBER_LABEL_EXPR = numberLabelExpr();

/**
 * Tick values of a log axis over [lo, hi], every one of them labelled: powers of ten when the data span
 * several decades (every k-th decade when they span many), else 1-2-5 or 1…9 steps, at least three ticks.
 * The axis domain is [first tick, last tick] (so both ends are labelled).
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0 && hi > 0 && Number.isFinite(lo) && Number.isFinite(hi))) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi / lo < 1.5) {
    lo /= 1.5;
    hi *= 1.5;
  }
  const a = Math.floor(Math.log10(lo) + 1e-9);
  const b = Math.ceil(Math.log10(hi) - 1e-9);
  const clean = (v: number) => Number(v.toPrecision(6));
  const seq = (mults: number[], step = 1) => {
    const out: number[] = [];
    for (let e = a; e <= b; e += step) for (const m of mults) out.push(clean(m * 10 ** e));
    // the ticks from the last one ≤ lo to the first one ≥ hi
    const first = out.reduce((best, v) => (v <= lo * (1 + 1e-9) ? v : best), out[0]);
    const last = out.find((v) => v >= hi * (1 - 1e-9)) ?? out[out.length - 1];
    return out.filter((v) => v >= first && v <= last);
  };
  const decades = b - a;
  if (decades > 9) {
    const step = Math.ceil(decades / 8);
    const start = Math.floor(a / step) * step;
    const out: number[] = [];
    for (let e = start; e < b + step; e += step) out.push(clean(10 ** e));
    return out;
  }
  for (const mults of [[1], [1, 2, 5], [1, 2, 3, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const t = seq(mults);
    if (t.length >= 3) return t;
  }
  return seq([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

type Json = Record<string, any>;

/**
 * Readable number axes for any spec (the report's figures set their own; this covers the rest): a
 * quantitative x or y axis without a label format gets NUMBER_LABEL_EXPR (no 100,000,000,000), and a log
 * axis without tick values gets logTicks of its field's values in the spec's inline data, every tick
 * labelled (Vega would leave some of its log ticks without a label). Returns a copy.
 */
export function readableAxes(spec: VegaLiteSpec): VegaLiteSpec {
  const walk = (node: Json, data: Json[] | null): Json => {
    const rows: Json[] | null = Array.isArray(node.data?.values) ? node.data.values : data;
    const out: Json = { ...node };
    if (node.encoding && typeof node.encoding === 'object') {
      out.encoding = { ...node.encoding };
      for (const ch of ['x', 'y']) {
        const enc = node.encoding[ch];
        if (!enc || enc.type !== 'quantitative' || enc.axis === null) continue;
        const axis: Json = { ...(enc.axis ?? {}) };
        if ('labelExpr' in axis || 'format' in axis) continue;
        const e: Json = { ...enc, axis };
        if (enc.scale?.type === 'log' && !axis.values && rows && typeof enc.field === 'string') {
          const vals = rows.map((r) => r[enc.field]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0);
          if (vals.length) {
            const ticks = logTicks(Math.min(...vals), Math.max(...vals));
            axis.values = ticks;
            axis.labelOverlap = false;
            axis.labelExpr = numberLabelExpr(ticks[ticks.length - 1] >= 1e4 ? 1e3 : 1e4);
            if (enc.scale.domain === undefined) e.scale = { ...enc.scale, domain: [Math.min(ticks[0], ...vals), Math.max(ticks[ticks.length - 1], ...vals)], nice: false };
          } else axis.labelExpr = NUMBER_LABEL_EXPR;
        } else axis.labelExpr = NUMBER_LABEL_EXPR;
        out.encoding[ch] = e;
      }
    }
    for (const k of ['layer', 'concat', 'hconcat', 'vconcat']) if (Array.isArray(node[k])) out[k] = node[k].map((c: Json) => walk(c, rows));
    if (node.spec && typeof node.spec === 'object') out.spec = walk(node.spec, rows);
    return out;
  };
  return walk(spec as Json, null);
}

export async function toSvg(spec: VegaLiteSpec): Promise<string> {
  const full = { config: FIGURE_CONFIG, ...readableAxes(spec), $schema: 'https://vega.github.io/schema/vega-lite/v5.json' };
  const compiled = vl.compile(full as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return Buffer.from(r.render().asPng());
}
