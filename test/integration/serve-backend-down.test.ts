/**
 * A ComfyUI URL that answers nothing is said, not hidden (`chorus-visual serve` as a real
 * process): the log warns at start naming the backend, its URL and the cause; a job sent
 * meanwhile waits for a slot with `error: null` and a COMFY_UNAVAILABLE `note` saying why
 * (not a failure); once ComfyUI comes up on that URL the log says it is back and the job
 * completes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.js';
import { freePort } from '../support/lifecycle-fixture.js';
import { startServiceProcess } from '../support/service-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface View {
  state: string;
  substate: string | null;
  error: unknown;
  note?: {
    code: string;
    message: string;
    recoverable: boolean;
    suggestion?: string;
    details: { backends: Array<{ backend: string; url: string; cause: string }> };
  };
}

it('unreachable ComfyUI: warned at start, the waiting job says why, and it completes once ComfyUI is up', { timeout: 90_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-down-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const port = await freePort();
  const comfyUrl = `http://127.0.0.1:${port}`;
  const outputDir = join(root, 'comfy', 'output');
  const proc = startServiceProcess(['serve'], {
    CHORUS_VISUAL_COMFYUI_URL: comfyUrl,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: outputDir,
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_ENABLED: 'false',
    CHORUS_VISUAL_HTTP_PORT: '0',
  });
  cleanups.push(() => proc.kill('SIGKILL'));

  const warning = JSON.parse(await proc.waitForLine(/is unreachable at start/, 30_000)) as Record<string, unknown>;
  expect(warning).toMatchObject({ level: 40, url: comfyUrl, warnings: 1 });
  expect(String(warning['cause'])).toContain('connection refused');
  expect(String(warning['msg'])).toContain(comfyUrl);
  const url = (JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 30_000)) as { http: string }).http;

  const created = (await (
    await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'c-down', workflow: 'no_model_test', prompt: 'waits for comfy' }),
    })
  ).json()) as { job: { id: string } };
  const view = async (): Promise<View> => ((await (await fetch(`${url}/api/jobs/${created.job.id}`)).json()) as { job: View }).job;
  await expect.poll(async () => (await view()).substate, { timeout: 15_000, interval: 50 }).toBe('queued.waiting');
  const waiting = await view();
  expect(waiting.error).toBeNull();
  expect(waiting.note).toMatchObject({ code: 'COMFY_UNAVAILABLE', recoverable: true });
  expect(waiting.note!.message).toContain('no ComfyUI backend reachable');
  expect(waiting.note!.suggestion).toBeTruthy();
  expect(waiting.note!.details.backends).toEqual([expect.objectContaining({ url: comfyUrl, cause: expect.stringContaining('connection refused') })]);
  // The debug document says it too.
  const debug = (await (await fetch(`${url}/api/jobs/${created.job.id}?debug=true`)).json()) as { debug?: { note?: { code: string } } };
  expect(debug.debug?.note?.code).toBe('COMFY_UNAVAILABLE');

  const sim = await startSimulator({ port, outputDir, stepDelayMs: 2 });
  cleanups.push(() => sim.close());
  const back = JSON.parse(await proc.waitForLine(/is reachable again/, 30_000)) as Record<string, unknown>;
  expect(back).toMatchObject({ level: 30, url: comfyUrl });
  await expect.poll(async () => (await view()).state, { timeout: 30_000, interval: 100 }).toBe('completed');
  const done = await view();
  expect(done.error).toBeNull();
  expect(done.note).toBeUndefined();
  expect(await proc.kill('SIGTERM')).toBe(0);
});

it('generate in its own process shows why its job waits, then fails only at the queue wait timeout', { timeout: 90_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-down-gen-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const comfyUrl = `http://127.0.0.1:${await freePort()}`;
  const started = Date.now();
  const proc = startServiceProcess(['generate', '--workflow', 'no_model_test', '--conversation', 'c-gen', '--prompt', 'no comfy here'], {
    CHORUS_VISUAL_COMFYUI_URL: comfyUrl,
    CHORUS_VISUAL_COMFYUI_QUEUE_WAIT_TIMEOUT_SECONDS: '4',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_ENABLED: 'false',
  });
  cleanups.push(() => proc.kill('SIGKILL'));
  const line = await proc.waitForLine(/queued\.waiting \(COMFY_UNAVAILABLE: no ComfyUI backend reachable/, 30_000);
  expect(line).toContain(comfyUrl);
  expect(line).toContain('connection refused');
  expect(await proc.exited).toBe(1);
  expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
  expect(proc.lines.join('\n')).toContain('QUEUE_WAIT_TIMEOUT');
});
