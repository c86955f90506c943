/**
 * The inspector page in real headless Chromium, fed by the fake handler + feed running a
 * realistic job lifecycle (queued → submitted → processing with progress → moving →
 * completed with a real PNG), plus a failed job to show the error panel. The run against
 * the real JobService and the ComfyUI simulator is inspector.test.ts.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, shouldSkipBrowserTests, type LaunchedBrowser } from '../support/browser.js';
import { runFakeLifecycle } from '../support/fake-http-ports.js';
import { startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';

describe.skipIf(shouldSkipBrowserTests())('inspector page (fake runtime)', () => {
  let h: HttpHarness;
  let browser: LaunchedBrowser;
  let page: Page;

  beforeAll(async () => {
    h = await startHttpHarness({ token: 'page-token' });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => {
      throw error;
    });
    await page.goto(`${h.server.url}/?token=page-token`);
    await page.waitForSelector('#live-status[data-state="live"]');
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('keeps the token out of the address bar and uses it for the API', async () => {
    expect(new URL(page.url()).search).toBe('');
    expect(await page.locator('#instance').textContent()).toBe('instance test-instance');
  });

  it('asks for the token when opened without one (the shell loads, the API refuses)', async () => {
    // sessionStorage belongs to one tab: a new page has no token.
    const fresh = await browser.context.newPage();
    try {
      await fresh.goto(`${h.server.url}/`);
      await fresh.locator('#banner', { hasText: 'needs a token' }).waitFor();
      expect(await fresh.locator('#jobs-body tr').count()).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  it('shows a job appear, its progress move, and it complete with a thumbnail', async () => {
    const res = await fetch(`${h.server.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer page-token' },
      body: JSON.stringify({ conversation_id: 'conv-42', character: 'nova', user_request: 'a walk at dusk' }),
    });
    const { job } = (await res.json()) as { job: { id: string } };
    const row = page.locator(`#jobs-body tr[data-job-id="${job.id}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('queued');
    await row.click();
    await page.waitForSelector(`#detail .detail[data-job-id="${job.id}"]`);

    // Each step waits until the page shows it, so the assertions see every stage.
    const seen: string[] = [];
    const pause = async () => {
      const job_ = h.handler.jobs.get(job.id)!;
      if (job_.state === 'processing' && job_.progress) {
        const want = `${job_.progress.value}/${job_.progress.max}`;
        await page.waitForSelector(`#jobs-body tr[data-job-id="${job.id}"] .progress[data-value="${want}"]`);
        seen.push(`${want}:${await row.locator('.progress').getAttribute('aria-valuenow')}`);
      } else {
        await page.waitForSelector(`#jobs-body tr[data-job-id="${job.id}"][data-state="${job_.state}"]`);
        seen.push(job_.state);
      }
    };
    await runFakeLifecycle(h.handler, job.id, h.dataDir, pause, 4);
    expect(seen).toEqual(['queued', 'submitted', '0/4:0', '1/4:25', '2/4:50', '3/4:75', 'moving']);

    await page.waitForSelector(`#jobs-body tr[data-job-id="${job.id}"][data-state="completed"]`);
    await page.waitForSelector('#detail .detail[data-state="completed"]');
    expect(await page.locator('#detail .state-diagram g.node.current').getAttribute('data-state')).toBe('completed');
    expect(await page.locator('#detail .state-diagram path.edge.taken').count()).toBeGreaterThanOrEqual(4);
    const thumb = page.locator('#detail img.thumb');
    await thumb.waitFor();
    // waitForFunction would eval a string, which the page's CSP forbids: poll from here.
    await expect.poll(() => thumb.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBe(96);
    const timeline = await page.locator('#detail .timeline-item').allTextContents();
    expect(timeline.length).toBe(6);
    expect(timeline.at(-1)).toMatch(/moving → completed/);
    expect(await page.locator('#detail .prompt').textContent()).toMatch(/silver-haired/);
    expect(await page.locator('#detail').textContent()).toMatch(/sd_xl_base_1\.0\.safetensors/);
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/inspector-fake.png', fullPage: true });
  });

  it('shows a failed job with its error code and suggestion, and filters by state', async () => {
    const { job } = await h.handler.generate({
      conversation_id: 'conv-7',
      character: 'sage',
      prompt: 'a lighthouse',
      priority: 0,
      strict_llm: false,
      parameters: {},
    });
    h.handler.fail(job.id, {
      code: 'WORKFLOW_NODE_ERROR',
      message: 'CheckpointLoaderSimple: ckpt_name "missing.safetensors" not in list',
      recoverable: false,
      suggestion: 'Check that all models and LoRAs exist in ComfyUI.',
    });
    const row = page.locator(`#jobs-body tr[data-job-id="${job.id}"][data-state="failed"]`);
    await row.waitFor();
    await row.click();
    await page.waitForSelector(`#detail .detail[data-job-id="${job.id}"] .error-box`);
    expect(await page.locator('#detail .error-code').textContent()).toBe('WORKFLOW_NODE_ERROR');
    expect(await page.locator('#detail .suggestion').textContent()).toMatch(/models and LoRAs/);
    expect(await page.locator('#detail .state-diagram g.node.current').getAttribute('data-state')).toBe('failed');
    await page.screenshot({ path: 'test-artifacts/inspector-failed.png', fullPage: true });

    await page.selectOption('#filters select[name="state"]', 'failed');
    await expect.poll(() => page.locator('#jobs-body tr').count()).toBe(1);
    expect(await page.locator('#jobs-body tr').getAttribute('data-job-id')).toBe(job.id);
    await page.selectOption('#filters select[name="state"]', '');
    await expect.poll(() => page.locator('#jobs-body tr').count()).toBe(2);
  });
});
