/**
 * Open an HTML report in headless Chromium, driven by playwright-core. The browser: CHROMIUM_PATH if set;
 * else the Chromium build shipped inside the npm package @sparticuz/chromium (a devDependency, so `npm ci`
 * alone brings it); else a system Chromium (/usr/bin/chromium) when that package cannot start here.
 */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const BASE_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function findBrowser(): Promise<{ executablePath: string; args: string[] }> {
  if (process.env.CHROMIUM_PATH) return { executablePath: process.env.CHROMIUM_PATH, args: BASE_ARGS };
  try {
    const packaged = (await import('@sparticuz/chromium')).default;
    const executablePath = await packaged.executablePath();
    return { executablePath, args: [...new Set([...packaged.args, ...BASE_ARGS])] };
  } catch (e) {
    for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(p)) return { executablePath: p, args: BASE_ARGS };
    throw new Error(`no Chromium: @sparticuz/chromium could not start (${(e as Error).message}) and no system Chromium was found`);
  }
}

export async function checkReportInBrowser(indexHtml: string, screenshot: string): Promise<{ figures: { id: string; width: number; height: number; empty: boolean }[]; errors: string[] }> {
  const { executablePath, args } = await findBrowser();
  const browser = await chromium.launch({ executablePath, headless: true, args });
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

