/**
 * The inspector in real headless Chromium against the real runtime: JobService, SQLite,
 * the ComfyUI simulator, the output collector. A job submitted through the HTTP API
 * appears in the table, its progress bar moves, it reaches completed, and its thumbnail
 * (the file the collector moved into the conversation folder) shows. Screenshot:
 * test-artifacts/inspector.png.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, shouldSkipBrowserTests, type LaunchedBrowser } from '../support/browser.js';
import { startRealRuntime, type RealRuntime } from './real-runtime.js';

describe.skipIf(shouldSkipBrowserTests())('inspector page (real runtime + ComfyUI simulator)', () => {
  let runtime: RealRuntime;
  let browser: LaunchedBrowser;
  let page: Page;
  const pageErrors: Error[] = [];

  beforeAll(async () => {
    [runtime, browser] = await Promise.all([startRealRuntime({ token: 'e2e-token', stepDelayMs: 150 }), launchChromium()]);
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error));
    await page.goto(`${runtime.http.url}/?token=e2e-token`);
    await page.waitForSelector('#live-status[data-state="live"]');
    await page.waitForSelector('#backends .backend.healthy[data-backend="sim"]');
  });
  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
  });

  it('shows a submitted job appear, its progress move, complete, and its thumbnail', async () => {
    // Every distinct progress value the row shows, recorded in the page as it happens.
    await page.evaluate(`(() => {
      window.__progressSeen = [];
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('#jobs-body tr .progress')) {
          const v = bar.dataset.value;
          if (v && window.__progressSeen.at(-1) !== v) window.__progressSeen.push(v);
        }
      }).observe(document.getElementById('jobs-body'), { subtree: true, childList: true, attributes: true, attributeFilter: ['data-value'] });
    })()`);

    const res = await fetch(`${runtime.http.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer e2e-token' },
      body: JSON.stringify({ conversation_id: 'conv-e2e', character: 'nova', user_request: 'reading in a sunny cafe', parameters: { steps: 12 } }),
    });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: { id: string } };

    const row = page.locator(`#jobs-body tr[data-job-id="${job.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await row.click();
    await page.waitForSelector(`#detail .detail[data-job-id="${job.id}"]`);

    await page.waitForSelector(`#jobs-body tr[data-job-id="${job.id}"][data-state="completed"]`, { timeout: 20_000 });
    const seen = (await page.evaluate('window.__progressSeen')) as string[];
    const fractions = seen.map((v) => v.split('/').map(Number)).filter(([, max]) => (max ?? 0) > 0);
    expect(fractions.length, `progress values seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(3);
    const values = fractions.map(([value]) => value ?? 0);
    expect(values.some((v, i) => i > 0 && v > values[i - 1]!)).toBe(true);

    await page.waitForSelector(`#detail .detail[data-job-id="${job.id}"][data-state="completed"]`);
    expect(await page.locator('#detail .state-diagram g.node.current').getAttribute('data-state')).toBe('completed');
    const thumb = page.locator('#detail img.thumb');
    await thumb.waitFor();
    // waitForFunction would eval a string, which the page's CSP forbids: poll from here.
    await expect.poll(() => thumb.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    // The service's thumbnail (config default: 256 px WebP) stands in for the full image; the link keeps the original.
    expect(await thumb.getAttribute('src')).toMatch(/^\/files\/conversations\/conv-e2e\/images\/.+\.thumb\.webp\?token=e2e-token$/);
    expect(await page.locator('#detail figure.thumb-card a').first().getAttribute('href')).toMatch(/\.png\?token=e2e-token$/);

    const timeline = await page.locator('#detail .timeline-item strong').allTextContents();
    expect(timeline.map((s) => s.split('.')[0])).toEqual(expect.arrayContaining(['queued', 'submitted', 'processing', 'moving', 'completed']));
    expect(await page.locator('#detail .pill[class*="source-"]').textContent()).toMatch(/template/);
    // Workflow facts come from the JobService's debug document: the graph's checkpoint.
    const workflowFacts = await page.locator('#detail .detail-section', { hasText: 'Workflow' }).textContent();
    expect(workflowFacts).toMatch(/nova_portrait/);
    expect(workflowFacts).toMatch(/checkpoint\S*\.safetensors/);

    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/inspector.png', fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
