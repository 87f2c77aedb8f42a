/** Open an HTML report in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

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

