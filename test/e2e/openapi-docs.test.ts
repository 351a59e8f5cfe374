// /docs as a person sees it: `swarmserve serve` with API keys on, Swagger UI opened without a
// key in headless Chromium (the Debian package). The page must render every operation of
// /openapi.json, offer the Authorize button, log no error and fetch nothing from anywhere but
// the server itself. The screenshot stays in bench/results/ (git-ignored) to be looked at.
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenAPIV3 } from 'openapi-types';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, spawnServe, stopProcess, type ServeProcess } from '../helpers/process.js';

const RESULTS = join(ROOT, 'bench', 'results');
const SCREENSHOT = join(RESULTS, 'openapi-docs.png');
const KEY = 'docs-e2e-key';
const V2_INFER = '/v2/models/{model_name}/infer';

let serve: ServeProcess | undefined;
let keyDir: string | undefined;

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'swarmserve-docs-'));
  await writeFile(join(keyDir, 'keys'), `${KEY}\n`);
  serve = await spawnServe(['--only', 'moderation', '--api-keys-file', join(keyDir, 'keys')]);
});
afterAll(async () => {
  if (serve !== undefined) await stopProcess(serve);
  if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true });
});

/** Whether the server has a route for POST `path` (asked with the key: unknown paths are protected too). */
async function hasPostRoute(url: string, path: string): Promise<boolean> {
  const res = await fetch(url + path, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{}' });
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  return !(res.status === 404 && body.error?.code === 'NOT_FOUND');
}

describe('/docs in headless Chromium', () => {
  it('renders every operation of /openapi.json with an Authorize button, no console error, nothing fetched from elsewhere', async () => {
    const { url } = serve!;
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as OpenAPIV3.Document;
    const paths = Object.keys(doc.paths);
    expect(paths).toContain('/predict');

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const elsewhere: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith(`${url}/`) && !r.url().startsWith('data:')) elsewhere.push(r.url());
      });
      page.on('response', (r) => {
        if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${url}/docs`);
      await page.locator('.opblock').first().waitFor({ timeout: 30_000 });

      const shown = await page.locator('.opblock-summary-path').allInnerTexts();
      const texts = shown.map((t) => t.replace(/\u200b/g, '').trim());
      expect(texts).toContain('/predict');
      for (const path of paths) expect(texts, `${path} on /docs`).toContain(path);
      // The Open Inference Protocol's infer route, once the server has it.
      if (await hasPostRoute(url, '/v2/models/moderation/infer')) expect(texts).toContain(V2_INFER);
      expect(await page.locator('button.authorize').count()).toBeGreaterThan(0);
      expect(await page.locator('.info .title').innerText()).toContain('swarmserve');

      // Open /predict: its two kinds of body and its lock are what the page is for.
      const predict = page.locator('.opblock-post', { hasText: '/predict' }).first();
      await predict.locator('.opblock-summary').first().click();
      await predict.locator('.opblock-section-request-body').waitFor({ timeout: 10_000 });
      expect(await predict.innerText()).toContain('img_file');
      const bodyTypes = await predict.locator('.opblock-section-request-body select option').allInnerTexts();
      expect(bodyTypes.sort()).toEqual(['application/octet-stream', 'image/*', 'multipart/form-data']);

      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(errors).toEqual([]);
      expect(elsewhere).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
