// Opens a report file in headless Chromium (playwright-core, /usr/bin/chromium) for e2e
// checks of what the browser really parsed; collects console errors and page errors.
import { chromium, type Page } from 'playwright-core';

export async function withReportPage<T>(file: string, use: (page: Page, errors: readonly string[]) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1040, height: 1400 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    return await use(page, errors);
  } finally {
    await browser.close();
  }
}
