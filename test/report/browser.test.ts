/**
 * Opens the HTML report in headless Chromium (from the npm package @sparticuz/chromium, driven by playwright-core):
 * every figure is shown with a non-zero size, no console error is logged, and a screenshot is taken.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeReport } from '../../src/report/html.js';
import { sampleRuns } from './fixtures.js';
import { checkReportInBrowser } from './browser.js';

test('the HTML report shows every figure in Chromium, with no console error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-report-'));
  const { file, figures } = await writeReport(sampleRuns(), { outDir: dir, source: 'test fixtures' });
  assert.equal(figures.length, 8);
  for (const f of figures) {
    assert.ok(f.svg, `${f.figure.id} has data`);
    assert.ok(fs.statSync(path.join(dir, `${f.figure.id}.svg`)).size > 1000);
    assert.ok(fs.statSync(path.join(dir, `${f.figure.id}.png`)).size > 1000);
  }
  const shot = path.join(dir, 'screenshot.png');
  const r = await checkReportInBrowser(file, shot);
  assert.deepEqual(r.errors, []);
  assert.equal(r.figures.length, 8);
  for (const f of r.figures) {
    assert.equal(f.empty, false, f.id);
    assert.ok(f.width > 100 && f.height > 100, `${f.id} is shown (${f.width}x${f.height})`);
  }
  assert.ok(fs.statSync(shot).size > 10000, 'screenshot taken');
});

test('a report without data says so in place of each plot', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-report-empty-'));
  const { file, figures } = await writeReport([], { outDir: dir, source: 'an empty database' });
  assert.ok(figures.every((f) => f.svg === null));
  const html = fs.readFileSync(file, 'utf8');
  assert.equal((html.match(/class="empty">No data:/g) ?? []).length, 8);
  const r = await checkReportInBrowser(file, path.join(dir, 'screenshot.png'));
  assert.deepEqual(r.errors, []);
});
