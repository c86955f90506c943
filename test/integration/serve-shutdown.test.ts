/**
 * `chorus-visual serve` as a deployment runs it: it says where it listens, and on SIGTERM it
 * stops taking work, leaves a running job in a persisted state (ComfyUI keeps the prompt),
 * closes its sockets and exits 0; the next start finishes that job.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

it('SIGTERM: exit 0 with the job persisted mid-flight, and a restart completes it once', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-serve-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const sim = await startSimulator({ outputDir: join(root, 'comfy', 'output') });
  cleanups.push(() => sim.close());
  const env = {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_ENABLED: 'false',
    CHORUS_VISUAL_HTTP_PORT: '0',
  };
  const start = async (): Promise<{ proc: ServiceProcess; url: string }> => {
    const proc = startServiceProcess(['serve'], env);
    cleanups.push(() => proc.kill('SIGKILL'));
    const line = await proc.waitForLine(/"msg":"chorus-visual listening"/, 30_000);
    return { proc, url: (JSON.parse(line) as { http: string }).http };
  };

  const first = await start();
  sim.faults.executionDelayMs(1_500);
  const created = (await (await fetch(`${first.url}/api/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ conversation_id: 'c-term', workflow: 'no_model_test', prompt: 'graceful' }),
  })).json()) as { job: { id: string } };
  await expect.poll(async () => ((await (await fetch(`${first.url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, { timeout: 10_000, interval: 25 }).toBe('processing');

  expect(await first.proc.kill('SIGTERM')).toBe(0);
  expect(first.proc.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

  const second = await start();
  await expect.poll(async () => ((await (await fetch(`${second.url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, { timeout: 15_000, interval: 50 }).toBe('completed');
  const job = ((await (await fetch(`${second.url}/api/jobs/${created.job.id}`)).json()) as { job: { comfy_prompt_id: string } }).job;
  expect(sim.stats().executions[job.comfy_prompt_id]).toBe(1);
  expect(await second.proc.kill('SIGTERM')).toBe(0);
});
