/**
 * The crash test: `chorus-visual serve` runs as a real process and is SIGKILLed while a job
 * is in each of queued, submitted, processing and moving; a new process on the same SQLite
 * file must finish the job with its prompt executed exactly once by the simulator, exactly
 * one output file with the right checksum, and no duplicate job_events sequence numbers.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

interface JobBody {
  ok: boolean;
  job: {
    id: string;
    state: string;
    substate: string | null;
    comfy_prompt_id: string | null;
    result: { files: Array<{ absolutePath: string; sha256: string }>; metadataPath: string } | null;
    error: { code: string; message: string } | null;
  };
  events: Array<{ seq: number; type: string; to_state: string }>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setup(extraEnv: Record<string, string> = {}) {
  const root = await mkdtemp(join(tmpdir(), 'cv-crash-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 5 });
  cleanups.push(() => sim.close());
  const env = {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_COMFYUI_CONNECTION_RETRY_ATTEMPTS: '20',
    CHORUS_VISUAL_COMFYUI_CONNECTION_RETRY_BACKOFF: '1.2',
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_COMFYUI_POLLING_MAX_INTERVAL_SECONDS: '0.5',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_ENABLED: 'false',
    CHORUS_VISUAL_HTTP_PORT: '0',
    CHORUS_VISUAL_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  return { root, sim, env, dbPath: join(root, 'data', 'jobs.db'), dataDir: join(root, 'data') };
}

async function startService(env: Record<string, string>): Promise<{ proc: ServiceProcess; url: string }> {
  const proc = startServiceProcess(['serve'], { ...env, CHORUS_VISUAL_LOG_LEVEL: 'info' });
  cleanups.push(() => proc.kill('SIGKILL'));
  const line = await proc.waitForLine(/"msg":"chorus-visual listening"/, 30_000);
  const url = (JSON.parse(line) as { http: string }).http;
  return { proc, url };
}

async function submit(url: string, conversation: string): Promise<string> {
  const res = await fetch(`${url}/api/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ conversation_id: conversation, workflow: 'no_model_test', prompt: `crash test ${conversation}`, request_id: `req-${conversation}` }),
  });
  const body = (await res.json()) as JobBody;
  expect(body.ok).toBe(true);
  return body.job.id;
}

async function getJob(url: string, id: string): Promise<JobBody> {
  return (await (await fetch(`${url}/api/jobs/${id}`)).json()) as JobBody;
}

async function waitForState(url: string, id: string, accept: (body: JobBody) => boolean, timeoutMs = 20_000): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  let last: JobBody | undefined;
  while (Date.now() < deadline) {
    last = await getJob(url, id);
    if (accept(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`job ${id} never reached the awaited state; last: ${JSON.stringify(last?.job)}`);
}

async function expectRecovered(ctx: Awaited<ReturnType<typeof setup>>, url: string, id: string, conversation: string): Promise<void> {
  const final = await waitForState(url, id, (b) => ['completed', 'failed', 'cancelled'].includes(b.job.state), 30_000);
  expect(final.job.error).toBeNull();
  expect(final.job.state).toBe('completed');

  // The simulator ran the job's prompt exactly once.
  const promptId = final.job.comfy_prompt_id!;
  expect(ctx.sim.stats().executions[promptId]).toBe(1);

  // Exactly one output file, whose bytes match the recorded checksum and the sidecar.
  const dir = join(ctx.dataDir, 'conversations', conversation, 'images');
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
  const media = names.filter((n) => !n.endsWith('_metadata.json') && !n.includes('.thumb.'));
  expect(media).toEqual([`${id}.png`]);
  // Its thumbnail, once, as the result lists it (written again by the restarted collector if need be).
  expect(names.filter((n) => n.includes('.thumb.'))).toEqual([`${id}.thumb.webp`]);
  const bytes = await readFile(join(dir, media[0]!));
  const sha = createHash('sha256').update(bytes).digest('hex');
  expect(final.job.result!.files).toHaveLength(1);
  expect(final.job.result!.files[0]!.sha256).toBe(sha);
  const sidecar = JSON.parse(await readFile(join(dir, `${id}_metadata.json`), 'utf8')) as { files: Array<{ sha256: string }> };
  expect(sidecar.files.map((f) => f.sha256)).toEqual([sha]);

  // Sequence numbers 1..n without gaps or duplicates, in the API and in the table itself.
  expect(final.events.map((e) => e.seq)).toEqual(final.events.map((_, i) => i + 1));
  const db = new Database(ctx.dbPath, { readonly: true });
  try {
    const dupes = db.prepare('select job_id, seq, count(*) as n from job_events group by job_id, seq having count(*) > 1').all();
    expect(dupes).toEqual([]);
    const states = db.prepare('select status from visual_generation_jobs where id = ?').get(id) as { status: string };
    expect(states.status).toBe('completed');
  } finally {
    db.close();
  }
}

async function blockSimulator(sim: SimulatorHandle, ms: number): Promise<void> {
  // Another client's long prompt occupies ComfyUI's executor, so ours waits in its queue.
  sim.faults.executionDelayMs(ms);
  const res = await fetch(`${sim.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'blocker' } },
      },
    }),
  });
  expect(res.status).toBe(200);
  // The set-up must get there: a blocker that never runs would let our job run at once, and
  // the test would no longer be about a job killed while waiting in ComfyUI's queue.
  await expect.poll(async () => (await comfyQueue(sim)).running.length, { timeout: 10_000, interval: 10 }).toBe(1);
  sim.faults.executionDelayMs(0);
}

/** Prompt ids in ComfyUI's queue: the one running and those waiting. */
async function comfyQueue(sim: SimulatorHandle): Promise<{ running: string[]; pending: string[] }> {
  const queue = (await (await fetch(`${sim.url}/queue`)).json()) as { queue_running: Array<[number, string]>; queue_pending: Array<[number, string]> };
  return { running: queue.queue_running.map((entry) => entry[1]), pending: queue.queue_pending.map((entry) => entry[1]) };
}

// Two service starts per test: seconds each on a loaded 2-core machine.
describe('SIGKILL of the service, then a restart on the same database', { timeout: 120_000 }, () => {
  it('a job killed while queued completes once', async () => {
    const ctx = await setup();
    ctx.sim.faults.refuseConnections(true);
    const first = await startService(ctx.env);
    const id = await submit(first.url, 'conv-queued');
    await waitForState(first.url, id, (b) => b.job.state === 'queued' && b.events.length >= 2);
    await first.proc.kill('SIGKILL');

    ctx.sim.faults.refuseConnections(false);
    const second = await startService(ctx.env);
    await expectRecovered(ctx, second.url, id, 'conv-queued');
  });

  it('a job killed while submitted (waiting in ComfyUI queue) completes once', async () => {
    const ctx = await setup();
    const first = await startService(ctx.env);
    await blockSimulator(ctx.sim, 3_000);
    const id = await submit(first.url, 'conv-submitted');
    const submitted = await waitForState(first.url, id, (b) => b.job.state === 'submitted');
    // Killed while its prompt waits in ComfyUI's queue behind the blocker, not yet running.
    const queue = await comfyQueue(ctx.sim);
    expect(queue.pending).toContain(submitted.job.comfy_prompt_id);
    expect(queue.running).not.toContain(submitted.job.comfy_prompt_id);
    await first.proc.kill('SIGKILL');

    const second = await startService(ctx.env);
    await expectRecovered(ctx, second.url, id, 'conv-submitted');
  });

  it('a job killed while processing completes once', async () => {
    const ctx = await setup();
    ctx.sim.faults.executionDelayMs(2_000);
    const first = await startService(ctx.env);
    const id = await submit(first.url, 'conv-processing');
    await waitForState(first.url, id, (b) => b.job.state === 'processing');
    await first.proc.kill('SIGKILL');
    ctx.sim.faults.executionDelayMs(0);

    const second = await startService(ctx.env);
    await expectRecovered(ctx, second.url, id, 'conv-processing');
  });

  it('a job killed while moving its files completes once', async () => {
    // Download mode with a slow /view holds the job in moving long enough to kill it there.
    const ctx = await setup({ CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_MODE: 'download' });
    ctx.sim.faults.slowHttp(2_000, ['/view']);
    const first = await startService(ctx.env);
    const id = await submit(first.url, 'conv-moving');
    await waitForState(first.url, id, (b) => b.job.state === 'moving');
    await first.proc.kill('SIGKILL');
    ctx.sim.faults.slowHttp(0);

    const second = await startService(ctx.env);
    await expectRecovered(ctx, second.url, id, 'conv-moving');
  });
});
