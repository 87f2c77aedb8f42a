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

export async function toSvg(spec: VegaLiteSpec): Promise<string> {
  const full = { config: FIGURE_CONFIG, ...spec, $schema: 'https://vega.github.io/schema/vega-lite/v5.json' };
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
