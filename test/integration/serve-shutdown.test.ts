/**
 * `chorus-visual serve` as a deployment runs it: it says where it listens, and on SIGTERM it
 * stops taking work, leaves a running job in a persisted state (ComfyUI keeps the prompt),
 * closes its sockets and exits 0; the next start finishes that job. Stop always ends: with
 * NATS gone or frozen it still exits 0, within `shutdown.grace_seconds` at the latest.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';
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
  const created = (await (
    await fetch(`${first.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'c-term', workflow: 'no_model_test', prompt: 'graceful' }),
    })
  ).json()) as { job: { id: string } };
  await expect
    .poll(async () => ((await (await fetch(`${first.url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, {
      timeout: 10_000,
      interval: 25,
    })
    .toBe('processing');

  expect(await first.proc.kill('SIGTERM')).toBe(0);
  expect(first.proc.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

  const second = await start();
  await expect
    .poll(async () => ((await (await fetch(`${second.url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, {
      timeout: 15_000,
      interval: 50,
    })
    .toBe('completed');
  const job = ((await (await fetch(`${second.url}/api/jobs/${created.job.id}`)).json()) as { job: { comfy_prompt_id: string } }).job;
  expect(sim.stats().executions[job.comfy_prompt_id]).toBe(1);
  expect(await second.proc.kill('SIGTERM')).toBe(0);
});

describe('stop always ends', { timeout: 120_000 }, () => {
  async function startWithNats(extraEnv: Record<string, string> = {}) {
    const root = await mkdtemp(join(tmpdir(), 'cv-stop-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 2 });
    cleanups.push(() => sim.close());
    const nats = await NatsTestServer.start();
    cleanups.push(() => nats.cleanup());
    const databasePath = join(root, 'data', 'jobs.db');
    const proc = startServiceProcess(['serve'], {
      CHORUS_VISUAL_COMFYUI_URL: sim.url,
      CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_DATABASE_URL: `sqlite:${databasePath}`,
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_HTTP_PORT: '0',
      ...extraEnv,
    });
    cleanups.push(() => proc.kill('SIGKILL'));
    const url = (JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string }).http;
    await proc.waitForLine(/"msg":"NATS commands and events ready"/);
    return { proc, url, nats, databasePath };
  }

  async function generate(url: string, conversation: string): Promise<string> {
    const created = (await (
      await fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: conversation, workflow: 'no_model_test', prompt: 'stop test' }),
      })
    ).json()) as { job: { id: string } };
    await expect
      .poll(async () => ((await (await fetch(`${url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, {
        timeout: 20_000,
        interval: 50,
      })
      .toBe('completed');
    return created.job.id;
  }

  function unpublished(databasePath: string, jobId: string): number {
    const db = new Database(databasePath, { readonly: true });
    try {
      return (db.prepare('select count(*) as n from job_events where job_id = ? and published_at is null').get(jobId) as { n: number }).n;
    } finally {
      db.close();
    }
  }

  it('NATS stopped before SIGTERM: exit 0 well within the default grace; unpublished events stay in the outbox', async () => {
    const { proc, url, nats, databasePath } = await startWithNats();
    const published = await generate(url, 'c-before');
    await expect.poll(() => unpublished(databasePath, published), { timeout: 10_000, interval: 50 }).toBe(0);

    await nats.stop();
    const stranded = await generate(url, 'c-while-down');
    expect(unpublished(databasePath, stranded)).toBeGreaterThan(0);

    const signalledAt = Date.now();
    expect(await proc.kill('SIGTERM')).toBe(0);
    // Before the fix it logged "stopped" and lived on (70 s and more): nats.js drain() on a
    // disconnected connection leaves its reconnect timers running.
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(proc.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    expect(unpublished(databasePath, stranded)).toBeGreaterThan(0);
  });

  it('NATS frozen (connected, answering nothing): exit 0 once shutdown.grace_seconds has passed', async () => {
    const { proc, url, nats, databasePath } = await startWithNats({ CHORUS_VISUAL_SHUTDOWN_GRACE_SECONDS: '1' });
    const id = await generate(url, 'c-frozen');
    await expect.poll(() => unpublished(databasePath, id), { timeout: 10_000, interval: 50 }).toBe(0);

    nats.freeze(true);
    const signalledAt = Date.now();
    expect(await proc.kill('SIGTERM')).toBe(0);
    const took = Date.now() - signalledAt;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(6_000);
    expect(proc.lines.some((l) => l.includes('stop did not finish within the grace'))).toBe(true);
  });
});
