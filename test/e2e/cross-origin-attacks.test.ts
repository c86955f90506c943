/**
 * A hostile page in real headless Chromium, served from other local origins
 * (http://127.0.0.1:<other port>, same-site; http://localhost:<other port>, cross-site),
 * attacks the service on 127.0.0.1 the ways a page can without any permission: fetch
 * no-cors with a JSON Blob and with text, sendBeacon, a text/plain form POST shaped as
 * JSON, a WebSocket to the live feed, a CORS read and an <img> of an output file. Both
 * origins are loopback, so the browser's own Local Network Access rules do not step in:
 * the server must refuse. Nothing is created, nothing is cancelled, nothing is read; the
 * server's log shows each attempt arrived and was refused. Then the inspector on its own
 * origin still works end to end (live feed, a same-origin POST, thumbnail, the Cancel button).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { launchChromium, shouldSkipBrowserTests, type LaunchedBrowser } from '../support/browser.js';
import { startRealRuntime, type RealRuntime } from './real-runtime.js';

/** The attacker's page: tries everything, records what it could observe in window.__attack. */
function attackPage(target: string, jobId: string, filePath: string): string {
  const generate = JSON.stringify({ conversation_id: 'stolen', character: 'nova', user_request: 'pwned' });
  return `<!doctype html><html><body>
<iframe name="sink"></iframe><iframe name="sink2"></iframe>
<script>
const target = ${JSON.stringify(target)};
const body = ${JSON.stringify(generate)};
const results = { done: false, steps: {} };
window.__attack = results;
const record = (name, value) => { results.steps[name] = value; };
(async () => {
  try {
    const r = await fetch(target + '/api/jobs', { method: 'POST', mode: 'no-cors', body: new Blob([body]) });
    record('fetchBlob', r.type);
  } catch (e) { record('fetchBlob', 'error:' + e.message); }
  try {
    const r = await fetch(target + '/api/jobs', { method: 'POST', mode: 'no-cors', body });
    record('fetchText', r.type);
  } catch (e) { record('fetchText', 'error:' + e.message); }
  try {
    const r = await fetch(target + '/api/jobs/${jobId}/cancel', { method: 'POST', mode: 'no-cors' });
    record('fetchCancel', r.type);
  } catch (e) { record('fetchCancel', 'error:' + e.message); }
  record('beacon', navigator.sendBeacon(target + '/api/jobs', new Blob([body])));
  record('beaconCancel', navigator.sendBeacon(target + '/api/jobs/${jobId}/cancel', ''));
  const submit = (action, frame, fields) => new Promise((resolve) => {
    const form = document.createElement('form');
    form.method = 'POST'; form.action = action; form.target = frame; form.enctype = 'text/plain';
    for (const [name, value] of fields) {
      const input = document.createElement('input');
      input.name = name; input.value = value; form.appendChild(input);
    }
    document.querySelector('iframe[name="' + frame + '"]').addEventListener('load', () => resolve('loaded'), { once: true });
    document.body.appendChild(form);
    form.submit();
  });
  // text/plain form: "name=value" — shaped so the body is valid JSON.
  record('formJson', await submit(target + '/api/jobs', 'sink', [[body.slice(0, -1) + ',"x":"', '"}']]));
  record('formCancel', await submit(target + '/api/jobs/${jobId}/cancel', 'sink2', [['a', 'b']]));
  record('ws', await new Promise((resolve) => {
    const events = [];
    const ws = new WebSocket(target.replace('http', 'ws') + '/api/live');
    // Opened (it must not): listen briefly for the feed, then close so the page can finish.
    ws.onopen = () => { events.push('open'); setTimeout(() => ws.close(), 500); };
    ws.onmessage = (m) => events.push('message:' + String(m.data).slice(0, 40));
    ws.onerror = () => events.push('error');
    ws.onclose = () => resolve(events);
  }));
  try {
    const r = await fetch(target + '/api/jobs');
    record('corsRead', 'read:' + (await r.text()).slice(0, 40));
  } catch (e) { record('corsRead', 'error'); }
  try {
    const r = await fetch(target + '/api/jobs', { mode: 'no-cors' });
    record('noCorsRead', r.type + ':' + (await r.text()).length);
  } catch (e) { record('noCorsRead', 'error'); }
  record('img', await new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve('loaded:' + img.naturalWidth);
    img.onerror = () => resolve('error');
    img.src = target + '/files/' + ${JSON.stringify(filePath)};
  }));
  results.done = true;
})();
</script></body></html>`;
}

describe.skipIf(shouldSkipBrowserTests())('a page from another local origin cannot drive or read the service', () => {
  let runtime: RealRuntime;
  let browser: LaunchedBrowser;
  let attacker: Server;
  let attackerPort: number;
  let page: string;
  const logLines: Record<string, any>[] = [];
  const pageErrors: Error[] = [];

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    [runtime, browser] = await Promise.all([startRealRuntime({ stepDelayMs: 100, logger: createLogger({ level: 'debug', destination }) }), launchChromium()]);
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerPort = (attacker.address() as AddressInfo).port;
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
    await runtime?.close();
  });

  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${runtime.http.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('refuses every attempt, from a same-site and a cross-site origin: nothing created, cancelled or read', async () => {
    // A finished job with a file to aim the <img> at, and a long one for the cancel attempts.
    const done = await api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ conversation_id: 'conv-own', workflow: 'no_model_test', prompt: 'a lighthouse' }),
    });
    expect(done.status).toBe(201);
    await expect.poll(async () => (await api(`/api/jobs/${done.body.job.id}`)).body.job.state, { timeout: 20_000 }).toBe('completed');
    const filePath = (await api(`/api/jobs/${done.body.job.id}`)).body.job.result.files[0].path as string;
    // The simulator holds the run (not interruptibly) for 12 s, so the job is alive
    // throughout the attack (a few seconds) and the simulator is free soon after.
    runtime.simulator.faults.executionDelayMs(12_000);
    const long = await api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ conversation_id: 'conv-own', character: 'nova', user_request: 'a long one' }),
    });
    expect(long.status).toBe(201);
    const jobId = long.body.job.id as string;

    for (const origin of [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`]) {
      const before = logLines.length;
      page = attackPage(runtime.http.url, jobId, filePath);
      const tab = await browser.context.newPage();
      await tab.goto(`${origin}/`);
      await expect.poll(() => tab.evaluate('window.__attack && window.__attack.done'), { timeout: 20_000 }).toBe(true);
      const steps = (await tab.evaluate('window.__attack.steps')) as Record<string, unknown>;
      await tab.close();

      // Nothing read: the live feed never opened, the CORS read failed, the no-cors read is
      // opaque and empty, the output file did not load.
      expect(steps['ws'], origin).not.toContain('open');
      expect(
        (steps['ws'] as string[]).some((e) => e.startsWith('message')),
        origin,
      ).toBe(false);
      expect(steps['corsRead'], origin).toBe('error');
      expect(steps['noCorsRead'], origin).toBe('opaque:0');
      expect(steps['img'], origin).toBe('error');

      // Every attempt reached the server and was refused there (not by the browser).
      const refused = () => logLines.slice(before).filter((l) => l['msg'] === 'request refused');
      const count = (method: string, path: RegExp, status: number) =>
        refused().filter((l) => l['method'] === method && path.test(l['path']) && l['status'] === status).length;
      await expect.poll(() => count('POST', /^\/api\/jobs$/, 403), { timeout: 10_000 }).toBe(4); // fetch ×2, beacon, form
      await expect.poll(() => count('POST', /^\/api\/jobs\/[^/]+\/cancel$/, 403), { timeout: 10_000 }).toBe(3); // fetch, beacon, form
      expect(count('GET', /^\/api\/live$/, 403), origin).toBe(1);
      expect(count('GET', /^\/api\/jobs$/, 403), origin).toBe(2);
      expect(count('GET', /^\/files\//, 403), origin).toBe(1);
      expect(
        refused().every((l) => ['origin_not_allowed', 'cross_site_request'].includes(l['reason'])),
        origin,
      ).toBe(true);
    }

    // Nothing created, nothing cancelled.
    const list = await api('/api/jobs?limit=50');
    expect(list.body.total).toBe(2);
    expect(list.body.jobs.map((j: { conversation_id: string }) => j.conversation_id)).toEqual(['conv-own', 'conv-own']);
    expect(['queued', 'submitted', 'processing']).toContain((await api(`/api/jobs/${jobId}`)).body.job.state);
    expect((await api(`/api/jobs/${jobId}/cancel`, { method: 'POST', body: '{}' })).status).toBe(200);
    runtime.simulator.faults.executionDelayMs(0);
    await expect.poll(async () => (await api(`/api/jobs/${jobId}`)).body.job.state, { timeout: 20_000 }).toBe('cancelled');
  }, 120_000);

  it('keeps the inspector working on its own origin: live feed, a same-origin POST, thumbnail, Cancel', async () => {
    const tab: Page = await browser.context.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error));
    await tab.goto(`${runtime.http.url}/`);
    await tab.waitForSelector('#live-status[data-state="live"]');

    // The page's own origin may POST (the browser sends Origin: http://127.0.0.1:<port>).
    const created = (await tab.evaluate(`fetch('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'conv-page', workflow: 'no_model_test', prompt: 'a harbour at dawn' }) })
      .then(async (r) => ({ status: r.status, body: await r.json() }))`)) as { status: number; body: { job: { id: string } } };
    expect(created.status).toBe(201);
    const row = tab.locator(`#jobs-body tr[data-job-id="${created.body.job.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await tab.waitForSelector(`#jobs-body tr[data-job-id="${created.body.job.id}"][data-state="completed"]`, { timeout: 30_000 });
    await row.click();
    const thumb = tab.locator('#detail img.thumb');
    await thumb.waitFor();
    await expect.poll(() => thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);

    // A job held by the simulator, cancelled through the page's own button (a same-origin POST with JSON).
    runtime.simulator.faults.executionDelayMs(60_000);
    const long = (await api('/api/jobs', { method: 'POST', body: JSON.stringify({ conversation_id: 'conv-page', character: 'nova', user_request: 'slow' }) }))
      .body.job as { id: string };
    await tab.locator(`#jobs-body tr[data-job-id="${long.id}"]`).click();
    const detail = tab.locator(`#detail .detail[data-job-id="${long.id}"]`);
    await detail.getByRole('button', { name: 'Cancel job…' }).click();
    await detail.getByRole('button', { name: 'Yes, cancel it' }).click();
    await tab.waitForSelector(`#jobs-body tr[data-job-id="${long.id}"][data-state="cancelled"]`, { timeout: 15_000 });
    runtime.simulator.faults.executionDelayMs(0);
    expect(pageErrors).toEqual([]);
    await tab.close();
  }, 120_000);
});
