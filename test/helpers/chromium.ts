// Headless Chromium (playwright-core, /usr/bin/chromium, never a downloaded browser) for e2e
// checks of what the browser really parsed and ran: a report file (withReportPage) or a page
// served over HTTP (withPage). Both collect console errors and page errors; withPage also
// lists every request the page made (URL and headers).
import { chromium, type Browser, type Page } from 'playwright-core';

const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
};

/** A request the page made: its URL and the headers Chromium sent. */
export interface PageRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
}

async function withBrowser<T>(use: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await chromium.launch(LAUNCH);
  try {
    return await use(browser);
  } finally {
    await browser.close();
  }
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

export async function withReportPage<T>(file: string, use: (page: Page, errors: readonly string[]) => Promise<T>): Promise<T> {
  return withBrowser(async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1040, height: 1400 } });
    const errors = watchErrors(page);
    await page.goto(`file://${file}`);
    return await use(page, errors);
  });
}

/**
 * A fresh page (its own context: empty storage), not navigated yet, with the errors and
 * requests it causes, both kept up to date while `use` runs; closes the browser whatever
 * happens.
 */
export async function withPage<T>(
  use: (page: Page, seen: { errors: readonly string[]; requests: readonly PageRequest[] }) => Promise<T>,
  viewport = { width: 1280, height: 900 },
): Promise<T> {
  return withBrowser(async (browser) => {
    const page = await browser.newPage({ viewport });
    const errors = watchErrors(page);
    const requests: PageRequest[] = [];
    page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
    return await use(page, { errors, requests });
  });
}
