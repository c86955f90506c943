/**
 * The real service (startApp: JobService, SQLite, outbox relay, NATS command service) against
 * a private nats-server with JetStream and the ComfyUI simulator: generate over NATS produces
 * the whole ordered event sequence and a file; a repeated request_id names one job; stopping
 * and restarting nats-server in the middle of jobs loses no event and keeps each job's order.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type ChorusVisualApp } from '../../src/app/chorus-visual-app.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { cloudEventSchema, jobEventsSubject } from '../../src/events/index.js';
import { generateCommandSchema } from '../../src/commands/command-schemas.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';

const PREFIX = 'cvflow';
const STREAM = 'CVFLOW_EVENTS';

let root: string;
let nats: NatsTestServer;
let sim: SimulatorHandle;
let app: ChorusVisualApp;
let client: NatsConnection;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cv-nats-flow-'));
  nats = await NatsTestServer.start();
  sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 15 });
  const config = parseServiceConfig({
    comfyui: {
      url: sim.url,
      queue: { max_concurrent_jobs: 2, max_queue_size: 100 },
      file_management: { output_directory: sim.outputDir },
      polling: { initial_interval_seconds: 0.2, max_interval_seconds: 0.5 },
    },
    data_dir: join(root, 'data'),
    database: { url: `sqlite:${join(root, 'data', 'jobs.db')}` },
    nats: { servers: [nats.url], subject_prefix: PREFIX, stream: { name: STREAM } },
    http: { enabled: false },
  });
  app = await startApp({ config, waitForNats: true });
  client = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});

afterAll(async () => {
  await client?.close();
  await app?.stop();
  await sim?.close();
  await nats?.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function request(name: string, body: unknown): Promise<Record<string, any>> {
  const reply = await client.request(`${PREFIX}.cmd.${name}`, JSON.stringify(body), { timeout: 10_000 });
  return reply.json<Record<string, any>>();
}

/** Every event of a job as stored in the JetStream stream, in stream order. */
async function replay(jobId: string, expectedLast: string, timeoutMs = 20_000): Promise<Array<{ id: string; type: string; seq: number; subject: string }>> {
  const deadline = Date.now() + timeoutMs;
  let events: Array<{ id: string; type: string; seq: number; subject: string }> = [];
  for (;;) {
    try {
      events = [];
      const consumer = await client.jetstream().consumers.get(STREAM, { filterSubjects: jobEventsSubject(PREFIX, jobId) });
      const pending = (await consumer.info(true)).num_pending;
      if (pending > 0) {
        for await (const m of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
          const event = cloudEventSchema.parse(m.json());
          events.push({ id: event.id, type: event.type, seq: event.data['seq'] as number, subject: m.subject });
          if (events.length === pending) break;
        }
      }
      await consumer.delete().catch(() => undefined);
      if (events.at(-1)?.type === `chorus.visual.job.${expectedLast}`) return events;
    } catch (error) {
      // Right after a nats-server restart JetStream answers only once it has recovered its store.
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId}: no ${expectedLast} event; got ${JSON.stringify(events.map((e) => e.type))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('chorus-visual over NATS, end to end', () => {
  it('generate produces the full ordered event sequence and a file', async () => {
    const live: string[] = [];
    const sub = client.subscribe(`${PREFIX}.events.conv-e2e.>`, {
      callback: (_err, msg) => live.push(cloudEventSchema.parse(msg.json()).type),
    });
    await client.flush();
    const reply = await request('generate', { conversation_id: 'conv-e2e', workflow: 'no_model_test', prompt: 'a lighthouse at dusk' });
    expect(reply['ok']).toBe(true);
    const jobId = reply['job'].id as string;

    const events = await replay(jobId, 'completed');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `${jobId}:${i + 1}`));
    const lifecycle = events
      .map((e) => e.type.replace('chorus.visual.job.', ''))
      .filter((t) => ['queued', 'submitted', 'processing', 'moving', 'completed'].includes(t));
    expect(lifecycle).toEqual(['queued', 'submitted', 'processing', 'moving', 'completed']);
    expect(events.at(-1)!.subject).toBe(`${PREFIX}.events.conv-e2e.${jobId}.completed`);
    await expect.poll(() => live.at(-1), { timeout: 5_000 }).toBe('chorus.visual.job.completed');
    sub.unsubscribe();

    const got = await request('get', { job_id: jobId, debug: true });
    expect(got['job'].state).toBe('completed');
    expect(got['debug']).toMatchObject({ workflow_used: 'no_model_test' });
    const file = got['job'].result.files[0];
    expect((await stat(file.absolutePath)).size).toBe(file.bytes);
    expect(sim.stats().executions[got['job'].comfy_prompt_id]).toBe(1);

    const listed = await request('list', { conversation_id: 'conv-e2e' });
    expect(listed['jobs'].map((j: { id: string }) => j.id)).toEqual([jobId]);
  });

  it('the same request_id sent twice creates one job and both replies name it', async () => {
    const body = { request_id: 'msg-42', conversation_id: 'conv-dup', workflow: 'no_model_test', prompt: 'twice' };
    const [a, b] = await Promise.all([request('generate', body), request('generate', body)]);
    expect(a['ok'] && b['ok']).toBe(true);
    expect(a['job'].id).toBe(b['job'].id);
    expect([a['created'], b['created']].sort()).toEqual([false, true]);
    const listed = await request('list', { conversation_id: 'conv-dup' });
    expect(listed['total']).toBe(1);
  });

  it('cancel over NATS ends a job cancelled', async () => {
    sim.faults.executionDelayMs(3_000);
    const reply = await request('generate', { conversation_id: 'conv-cancel', workflow: 'no_model_test', prompt: 'never mind' });
    const jobId = reply['job'].id as string;
    await expect.poll(async () => (await request('get', { job_id: jobId }))['job'].state, { timeout: 10_000 }).toBe('processing');
    sim.faults.executionDelayMs(0);
    const cancelled = await request('cancel', { job_id: jobId });
    expect(cancelled['ok']).toBe(true);
    const events = await replay(jobId, 'cancelled');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it('nats-server stopping and restarting mid-jobs loses no event and keeps each job in order', async () => {
    sim.faults.executionDelayMs(0);
    const ids: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      // Work keeps arriving through the service's other interfaces while NATS is away.
      const { job } = await app.runtime.service.generate(
        generateCommandSchema.parse({ conversation_id: 'conv-outage', workflow: 'no_model_test', prompt: `outage ${i}` }),
      );
      ids.push(job.id);
      if (i === 2) await nats.stop();
    }
    await expect
      .poll(async () => (await app.runtime.service.list({ conversation_id: 'conv-outage', limit: 50, offset: 0 })).jobs.every((j) => j.state === 'completed'), {
        timeout: 20_000,
      })
      .toBe(true);
    expect(app.transport.isConnected()).toBe(false);
    expect(await app.runtime.store.countUnpublished()).toBeGreaterThan(0);
    await nats.restart();

    for (const id of ids) {
      const events = await replay(id, 'completed');
      expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `${id}:${i + 1}`));
    }
    await expect.poll(() => app.runtime.store.countUnpublished(), { timeout: 10_000 }).toBe(0);
  });
});
