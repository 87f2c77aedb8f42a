/**
 * Opens the HTML report in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
 * every figure is shown with a non-zero size, no console error is logged, and a screenshot is taken.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { writeReport } from '../../src/report/html.js';
import { sampleRuns } from './fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function checkReportInBrowser(indexHtml: string, screenshot: string): Promise<{ figures: { id: string; width: number; height: number; empty: boolean }[]; errors: string[] }> {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(indexHtml).href, { waitUntil: 'load' });
    const figures = await page.$$eval('figure[data-figure]', (els) =>
      els.map((el) => {
        const g = el.querySelector('svg, img');
        const r = g ? g.getBoundingClientRect() : { width: 0, height: 0 };
        return { id: el.getAttribute('data-figure') ?? '', width: r.width, height: r.height, empty: el.getAttribute('data-empty') === 'true' };
      }),
    );
    await page.screenshot({ path: screenshot, fullPage: true });
    return { figures, errors };
  } finally {
    await browser.close();
  }
}

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
