/**
 * The report's figures read well: every tick of a log axis has a label, no axis prints 100,000,000,000,
 * Fig. 3 gives each quantity its own panel (no "test error" entry beside the measures, no coinciding
 * curves), and a spec from elsewhere (the one-model report) gets the same axes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allFigures, figure1, figure2Sharpness, figure3, figure3BiCriteria, sweptLogAxis, type ReportRun } from '../../src/report/figures.js';
import { logTicks, readableAxes, svgToPng, toSvg } from '../../src/report/render.js';
import { sampleRuns, twoSeedRuns } from './fixtures.js';
import { writeReport } from '../../src/report/html.js';

/** The axes of an SVG drawn by Vega: per axis, its tick count and its label texts (in drawing order). */
function axes(svg: string): { ticks: number; labels: string[] }[] {
  const out: { ticks: number; labels: string[] }[] = [];
  const re = /<g class="mark-(rule|text) role-axis-(tick|label)"[^>]*>(.*?)<\/g>/gs;
  let tick: number | null = null;
  for (const m of svg.matchAll(re)) {
    if (m[2] === 'tick') tick = (m[3].match(/<line/g) ?? []).length;
    else {
      out.push({ ticks: tick ?? -1, labels: [...m[3].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]) });
      tick = null;
    }
  }
  return out;
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]);

test('log axis ticks: powers of ten over several decades, 1-2-5 or 1…9 steps over fewer, at least three', () => {
  assert.deepEqual(logTicks(3.5e3, 3.2e5), [1e3, 1e4, 1e5, 1e6]);
  assert.deepEqual(logTicks(600, 900), [600, 700, 800, 900]);
  assert.deepEqual(logTicks(120, 480), [100, 200, 500]);
  assert.deepEqual(logTicks(2e3, 2.5e5), [1e3, 1e4, 1e5, 1e6]);
  const wide = logTicks(1e-3, 1e20);
  assert.ok(wide.length >= 3 && wide.length <= 10, String(wide));
  assert.ok(wide[0] <= 1e-3 && wide.at(-1)! >= 1e20);
  assert.deepEqual(logTicks(-1, 5), []);
  // the swept values themselves are the ticks of a swept axis
  assert.deepEqual(sweptLogAxis([500, 1000, 2000, 4000, 8000, 1000]).axis.values, [500, 1000, 2000, 4000, 8000]);
});

test('every figure: each axis tick has a label, and no number is printed with thousands separators', async () => {
  const runs = sampleRuns();
  // a bi-criteria curve reaching KL 1e11, and a Fig. 2 sweep whose sizes fall between decades (600)
  for (const r of runs) if (r.experiment === 'confusion') r.curve = r.curve.map((p, i) => ({ ...p, kl: 10 ** (5 + i * 1.2) }));
  for (const r of runs) if (r.experiment === 'random-labels' && r.size === 250) r.size = 600;
  for (const f of allFigures(runs)) {
    assert.ok(f.spec, f.id);
    const svg = await toSvg(f.spec);
    for (const a of axes(svg)) {
      assert.equal(a.labels.length, a.ticks, `${f.id}: ${a.ticks} ticks but labels ${JSON.stringify(a.labels)}`);
      assert.ok(a.labels.every((l) => l.trim() !== ''), `${f.id}: an empty tick label in ${JSON.stringify(a.labels)}`);
    }
    const big = texts(svg).filter((t) => /\d{1,3}(,\d{3})+/.test(t));
    assert.deepEqual(big, [], `${f.id} prints numbers with separators`);
  }
  const sharp = await toSvg(figure2Sharpness(runs).spec!);
  for (const size of ['600', '1000', '2000']) assert.ok(texts(sharp).includes(size), `the size ${size} is labelled`);
  const bi = await toSvg(figure3BiCriteria(runs).spec!);
  assert.ok(texts(bi).includes('1e11'), `KL axis: ${texts(bi).join(' ')}`);
  const f1 = await toSvg(figure1(runs).spec!);
  assert.ok(texts(f1).some((t) => /^1e\d+$/.test(t)), 'large measures in exponent notation');
});

test('Fig. 3: one panel per quantity, "test error" only on its own panel, the caption says how the measures are drawn', async () => {
  const f = figure3(sampleRuns());
  const spec = f.spec as { concat: { title: { text: string }; encoding: Record<string, unknown> }[] };
  assert.deepEqual(spec.concat.map((p) => p.title.text), ['test error', 'ℓ2 norm (l2)', 'ℓ1-path norm (l1_path)', 'ℓ2-path norm (l2_path)', 'spectral norm (spectral)', 'sharpness ζ_α']);
  for (const p of spec.concat) assert.ok(!('color' in p.encoding), 'no colour legend to mix the panels');
  assert.match(f.caption, /own linear y axis/);
  assert.match(f.caption, /not rescaled/);
  const svg = await toSvg(f.spec!);
  assert.equal(texts(svg).filter((t) => t === 'test error').length, 1, 'test error is named once: its panel title');
  assert.ok(!texts(svg).some((t) => /scaled to \[0, 1\]/.test(t)));
  // the four norm measures, which grow by the same factor here, are each on an axis of their own values
  const a = axes(svg).filter((x) => x.labels.some((l) => /e\d/.test(l)));
  assert.ok(a.length >= 3, 'the norm panels label their own (large) values');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-fig3-'));
  fs.writeFileSync(path.join(dir, 'fig3.png'), svgToPng(svg));
  assert.ok(fs.statSync(path.join(dir, 'fig3.png')).size > 10000);
});

test('readable axes for any spec: a log axis of inline data gets labelled ticks, large numbers exponents', async () => {
  const values = [1e3, 1e5, 1e7, 1e9, 1e11].map((kl, i) => ({ kl, s: i / 10 }));
  const spec = { width: 300, height: 200, data: { values }, mark: 'line', encoding: { x: { field: 's', type: 'quantitative' }, y: { field: 'kl', type: 'quantitative', scale: { type: 'log' } } } };
  const r = readableAxes(spec) as { encoding: { y: { axis: { values: number[]; labelExpr: string } } } };
  assert.deepEqual(r.encoding.y.axis.values, [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11]);
  assert.ok(!('axis' in (spec.encoding.y as object)), 'the spec given is not changed');
  const svg = await toSvg(spec);
  assert.ok(texts(svg).includes('1e11') && texts(svg).includes('1e3'));
  assert.ok(!texts(svg).some((t) => t.includes(',')), texts(svg).join(' '));
  // a run whose figure would be empty stays empty
  const none: ReportRun[] = [];
  assert.equal(figure3(none).spec, null);
});

/** The layers of a Vega-Lite spec (and of its panels, facets), flattened. */
function layersOf(spec: any): any[] {
  const out: any[] = [];
  const walk = (s: any) => {
    if (!s || typeof s !== 'object') return;
    if (s.mark) out.push(s);
    for (const k of ['layer', 'concat', 'hconcat', 'vconcat']) if (Array.isArray(s[k])) s[k].forEach(walk);
    if (s.spec) walk(s.spec);
  };
  walk(spec);
  return out;
}

test('seeds: two seeds per point give the mean line and a min–max band; one seed gives no band', async () => {
  const banded = ['fig1', 'fig2-sharpness', 'fig3', 'fig4-errors', 'fig4-measures'];
  const two = allFigures(twoSeedRuns());
  const one = allFigures(sampleRuns());
  for (const id of banded) {
    const f2 = two.find((f) => f.id === id)!;
    const f1 = one.find((f) => f.id === id)!;
    const bands = layersOf(f2.spec).filter((l) => (l.mark?.type ?? l.mark) === 'area');
    assert.ok(bands.length > 0, `${id}: a band layer`);
    for (const b of bands) {
      assert.equal(b.encoding.y.field, 'lo');
      assert.equal(b.encoding.y2.field, 'hi');
    }
    assert.ok(layersOf(f2.spec).some((l) => (l.mark?.type ?? l.mark) === 'line'), `${id}: the mean line`);
    assert.match(f2.caption, /mean over seeds.*band = range/i);
    assert.ok(!layersOf(f1.spec).some((l) => (l.mark?.type ?? l.mark) === 'area'), `${id}: no band with one seed`);
    assert.doesNotMatch(f1.caption, /band = range/);
    // one point per experiment point: as many as with one seed
    assert.equal((f2.spec as any).data.values.length, (f1.spec as any).data.values.length, id);
    const svg = await toSvg(f2.spec!);
    assert.match(svg, /mark-area/, `${id}: the band is drawn`);
  }
  // Fig. 1: the point at size 1000, true labels, l2 is the mean of the two seeds, the band their range
  const v = (two.find((f) => f.id === 'fig1')!.spec as any).data.values.find((p: any) => p.size === 1000 && p.labels === 'true' && /\(l2\)/.test(p.measure));
  const l2 = 1e4 * (1 + 1000 / 2000);
  assert.ok(Math.abs(v.value - l2 * 1.05) < 1e-6 && Math.abs(v.lo - l2) < 1e-6 && Math.abs(v.hi - l2 * 1.1) < 1e-6 && v.seeds === 2);
  // the bi-criteria plots draw one curve per seed
  const bi = two.find((f) => f.id === 'fig2-pacbayes')!;
  assert.ok(layersOf(bi.spec).some((l) => l.encoding?.detail?.field === 'seed'));
});

test('seeds: the HTML report has the mean ± spread table only when some point has two seeds', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-seeds-'));
  const { file } = await writeReport(twoSeedRuns(), { outDir: dir, source: 'two seeds' });
  const html = fs.readFileSync(file, 'utf8');
  assert.match(html, /Per configuration \(mean ± half-range over seeds\)/);
  const table = /<table id="seed-summary">([\s\S]*?)<\/table>/.exec(html)![1];
  for (const c of ['test error', 'l2', 'l1_path', 'l2_path', 'spectral', 'sharpness', 'pac_bayes']) assert.ok(table.includes(`<th>${c}</th>`), c);
  // random-labels 8 points + confusion 4 + width 4 converged (width 8 did not converge)
  assert.equal((table.match(/<tr>/g) ?? []).length - 1, 16);
  // size 1000, true labels: l2 = 1.5e4 and 1.65e4 → 1.58e4 ± 750; test error 15% and 16.5% → 15.75% ± 0.75%
  assert.match(table, /<td class="l">1, 2<\/td><td>15\.75% ± 0\.75%<\/td><td>1\.58e\+4 ± 750<\/td>|<td>15\.75% ± 0\.75%<\/td><td>15800 ± 750<\/td>/);
  // the runs table still lists every run
  assert.equal((/<table id="runs">([\s\S]*?)<\/table>/.exec(html)![1].match(/<tr>/g) ?? []).length - 1, twoSeedRuns().length);
  const dir1 = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-seeds-'));
  const { file: file1 } = await writeReport(sampleRuns(), { outDir: dir1, source: 'one seed' });
  assert.doesNotMatch(fs.readFileSync(file1, 'utf8'), /seed-summary|mean ± half-range/);
});
