/**
 * `npm run screenshots`: the inspector's main views at 1400 and 420 px wide, written to
 * docs/images/, from a real run — the runtime the e2e tests use (JobService, SQLite, the
 * ComfyUI simulator, the collector) and Debian's headless Chromium. Run it again whenever
 * the page changes; README's inspector section shows the results.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../test/support/browser.js';
import { startRealRuntime, type RealRuntime } from '../test/e2e/real-runtime.js';

const outDir = fileURLToPath(new URL('../docs/images/', import.meta.url));
const widths = [1400, 420] as const;

async function generate(runtime: RealRuntime, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${runtime.http.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`generate answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { job: { id: string } }).job.id;
}

function settled(runtime: RealRuntime, ids: string[]): Promise<void> {
  const waiting = new Set(ids);
  return new Promise((resolve) => {
    const off = runtime.service.on('transition', (n) => {
      if (['completed', 'failed', 'cancelled'].includes(n.job.state)) waiting.delete(n.jobId);
      if (waiting.size === 0) {
        off();
        resolve();
      }
    });
  });
}

async function main(): Promise<void> {
  const [runtime, browser] = await Promise.all([startRealRuntime({ stepDelayMs: 60 }), launchChromium()]);
  try {
    // A small history: two characters, the model-free image, video and speech workflows, one failure.
    const done = [
      await generate(runtime, { conversation_id: 'studio', character: 'nova', user_request: 'send me a selfie of you sketching' }),
      await generate(runtime, { conversation_id: 'studio', character: 'alex', user_request: 'a portrait by the window' }),
      await generate(runtime, { conversation_id: 'studio', workflow: 'no_model_test', prompt: 'a lighthouse at dusk' }),
      await generate(runtime, { conversation_id: 'studio', workflow: 'no_model_video_test', prompt: 'waves rolling in' }),
      await generate(runtime, { conversation_id: 'studio', workflow: 'no_model_tts_test', prompt: 'Hello from the lighthouse.' }),
    ];
    await settled(runtime, done);
    runtime.simulator.faults.failNodeClass('KSampler');
    const failed = await generate(runtime, { conversation_id: 'studio', character: 'nova', prompt: 'a rainy street at night', seed: 1234 });
    await settled(runtime, [failed]);
    runtime.simulator.faults.failNodeClass(null);

    const page = await browser.context.newPage();
    await mkdir(outDir, { recursive: true });
    const views: Array<[string, string, string]> = [
      ['jobs', '#/jobs', '#jobs-body tr'],
      ['job', `#/jobs/${done[0]}`, '#detail .detail img.thumb'],
      ['failed-job', `#/jobs/${failed}`, '#detail .error-box'],
      ['gallery', '#/gallery?conversation=studio', '#gallery-view .gallery-card'],
      ['new-job', '#/new', '#new-view form'],
    ];
    for (const width of widths) {
      await page.setViewportSize({ width, height: width > 600 ? 900 : 860 });
      for (const [name, hash, ready] of views) {
        await page.goto(`${runtime.http.url}/${hash}`);
        await page.waitForSelector(ready);
        await page.waitForLoadState('networkidle');
        const file = path.join(outDir, `inspector-${name}-${width}.png`);
        await page.screenshot({ path: file });
        process.stdout.write(`${path.relative(process.cwd(), file)}\n`);
      }
    }
  } finally {
    await browser.close();
    await runtime.close();
  }
}

await main();
