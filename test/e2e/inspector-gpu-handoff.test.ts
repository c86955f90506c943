/**
 * The inspector shows the GPU handoff: in real headless Chromium against the real runtime
 * with `gpu_handoff` on (the "LLM unload" is an HTTP call to the simulator itself, so no LLM
 * server is needed), the job's timeline has the freeingLlm and freeingComfy steps with their
 * durations, and the steps are listed with their outcomes. Screenshot:
 * test-artifacts/inspector-gpu-handoff.png.
 */
import { mkdir } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, shouldSkipBrowserTests, type LaunchedBrowser } from '../support/browser.js';
import { startRealRuntime, type RealRuntime } from './real-runtime.js';

describe.skipIf(shouldSkipBrowserTests())('inspector: GPU handoff on the timeline', () => {
  let runtime: RealRuntime;
  let browser: LaunchedBrowser;
  let page: Page;
  const pageErrors: Error[] = [];

  beforeAll(async () => {
    [runtime, browser] = await Promise.all([
      startRealRuntime({
        token: 'e2e-token',
        stepDelayMs: 20,
        gpuHandoff: (url) => ({ llm: 'http', http: { method: 'GET', url: `${url}/system_stats` }, free_comfyui: 'after_each' }),
      }),
      launchChromium(),
    ]);
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error));
    await page.goto(`${runtime.http.url}/?token=e2e-token`);
    await page.waitForSelector('#live-status[data-state="live"]');
  });
  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
  });

  it('lists freeingLlm and freeingComfy on the timeline, with each step and its outcome', async () => {
    const res = await fetch(`${runtime.http.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer e2e-token' },
      body: JSON.stringify({ conversation_id: 'conv-gpu', character: 'nova', user_request: 'by the window', parameters: { steps: 4, width: 64, height: 64 } }),
    });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: { id: string } };
    const row = page.locator(`#jobs-body tr[data-job-id="${job.id}"]`);
    await row.waitFor({ timeout: 20_000 });
    await row.click();
    await page.waitForSelector(`#detail .detail[data-job-id="${job.id}"][data-state="completed"]`, { timeout: 60_000 });

    const timeline = await page.locator('#detail .timeline-item strong').allTextContents();
    expect(timeline).toEqual(expect.arrayContaining(['queued.freeingLlm', 'moving.freeingComfy', 'completed']));
    expect(timeline.indexOf('queued.freeingLlm')).toBeLessThan(timeline.indexOf('queued.submitting'));
    // The entry that enters freeingLlm shows how long the unload took (until the next entry).
    const spent = await page.locator('#detail .timeline-item', { hasText: 'queued.freeingLlm' }).first().locator('.timeline-spent').textContent();
    expect(spent).toMatch(/\d/);
    await expect
      .poll(() => page.locator('#detail .handoff-step').allTextContents(), { timeout: 10_000 })
      .toEqual([
        expect.stringMatching(/^unload the LLM done in .+ — GET .*\/system_stats answered HTTP 200$/),
        expect.stringMatching(/^free ComfyUI done in .+ — POST \/free/),
      ]);
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/inspector-gpu-handoff.png', fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
