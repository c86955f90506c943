/**
 * Done-when test of issue 9: three `chorus-visual serve` processes share one PostgreSQL
 * database, one real nats-server and four simulated ComfyUI backends. 300 jobs go in through
 * the NATS command queue group; one instance is SIGKILLed mid-run and nothing is restarted.
 * Every job must complete, every prompt run exactly once, no backend ever hold more than
 * its max_concurrent, and every job's events reach a JetStream consumer once each, in order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudEventSchema } from '../../src/events/cloud-event.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { createPostgresSchema } from './db-test-fixtures.js';

const JOBS = 300;
const PREFIX = 'scale.test';
const STREAM = 'SCALE_EVENTS';
const MAX_CONCURRENT = 2;

describe('three instances on PostgreSQL with one SIGKILLed mid-run', () => {
  let root: string;
  let nats: NatsTestServer;
  let schema: Awaited<ReturnType<typeof createPostgresSchema>>;
  let sims: SimulatorHandle[] = [];
  let procs: ServiceProcess[] = [];
  let client: NatsConnection | undefined;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cv-scale-'));
    [nats, schema, ...sims] = await Promise.all([
      NatsTestServer.start(),
      createPostgresSchema(),
      ...[0, 1, 2, 3].map((i) => startSimulator({ outputDir: join(root, `comfy-${i}`, 'output'), stepDelayMs: 15, previews: false })),
    ]);
  });

  afterAll(async () => {
    if (process.env.SCALE_TEST_DEBUG) {
      for (const proc of procs)
        console.log(
          proc.lines
            .filter((line) => /"level":(40|60)|taking over|listening|restored/.test(line))
            .slice(0, 40)
            .map((line) => line.slice(0, 300))
            .join('\n'),
        );
    }
    if (process.env.SCALE_TEST_DEBUG && schema) {
      const db = new pg.Client({ connectionString: schema.url });
      await db.connect();
      const stats = await db.query(`select status, count(*), min(created_at), max(finished_at),
        avg(extract(epoch from (submitted_at::timestamptz - created_at::timestamptz))) as queue_s,
        avg(extract(epoch from (started_at::timestamptz - submitted_at::timestamptz))) as comfy_wait_s,
        avg(extract(epoch from (finished_at::timestamptz - started_at::timestamptz))) as run_s
        from visual_generation_jobs group by status`);
      console.log(JSON.stringify(stats.rows));
      await db.end();
    }
    await client?.close().catch(() => undefined);
    await Promise.all(procs.map((proc) => proc.kill('SIGKILL')));
    await Promise.all(sims.map((sim) => sim.close()));
    await nats?.cleanup();
    await schema?.drop();
    await rm(root, { recursive: true, force: true });
  });

  it('completes every job once, within max_concurrent, with every event delivered once and in order', { timeout: 120_000 }, async () => {
    const env = {
      CHORUS_VISUAL_DATABASE_URL: schema.url,
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: PREFIX,
      CHORUS_VISUAL_NATS_STREAM_NAME: STREAM,
      CHORUS_VISUAL_NATS_PROGRESS_PER_SECOND: '1',
      CHORUS_VISUAL_COMFYUI_BACKENDS: JSON.stringify(
        sims.map((sim, i) => ({ name: `gpu-${i}`, url: sim.url, max_concurrent: MAX_CONCURRENT, output_directory: sim.outputDir })),
      ),
      CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE: '1000',
      CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
      CHORUS_VISUAL_COMFYUI_POLLING_MAX_INTERVAL_SECONDS: '0.5',
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_HTTP_PORT: '0',
      CHORUS_VISUAL_LOG_LEVEL: 'info',
    };
    procs = ['one', 'two', 'three'].map((id) => startServiceProcess(['serve', '--lease-ttl', '3'], { ...env, CHORUS_VISUAL_INSTANCE_ID: `inst-${id}` }));
    await Promise.all(procs.map((proc) => proc.waitForLine(/NATS commands and events ready/, 60_000)));

    client = await connect({ servers: nats.url, name: 'chorus-engine' });
    const replies = await Promise.all(
      Array.from({ length: JOBS }, async (_, i) => {
        const reply = await client!.request(
          `${PREFIX}.cmd.generate`,
          JSON.stringify({ conversation_id: `conv-${i % 10}`, workflow: 'no_model_test', prompt: `scale test ${i}`, request_id: `scale-${i}` }),
          { timeout: 20_000 },
        );
        return reply.json<{ ok: boolean; job: { id: string; state: string } }>();
      }),
    );
    expect(replies.every((reply) => reply.ok)).toBe(true);
    const jobIds = replies.map((reply) => reply.job.id);
    expect(new Set(jobIds).size).toBe(JOBS);

    const db = new pg.Client({ connectionString: schema.url });
    await db.connect();
    try {
      // Admission spread over the queue group; then kill the instance that drives the most.
      const owners = await db.query<{ owner_instance: string; n: string }>(
        'select owner_instance, count(*) as n from visual_generation_jobs group by owner_instance order by n desc',
      );
      expect(owners.rows.length).toBeGreaterThan(1);
      const countDone = async () =>
        Number((await db.query<{ n: string }>("select count(*) as n from visual_generation_jobs where status = 'completed'")).rows[0]!.n);
      await expect.poll(countDone, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(JOBS / 5);
      const victimId = owners.rows[0]!.owner_instance;
      const victim = procs[['inst-one', 'inst-two', 'inst-three'].indexOf(victimId)]!;
      const unfinishedOfVictim = Number(
        (
          await db.query<{ n: string }>(
            "select count(*) as n from visual_generation_jobs where owner_instance = $1 and status not in ('completed','failed','cancelled')",
            [victimId],
          )
        ).rows[0]!.n,
      );
      expect(unfinishedOfVictim).toBeGreaterThan(0);
      await victim.kill('SIGKILL');

      // Every job reaches a final state, driven by the survivors.
      await expect.poll(countDone, { timeout: 60_000, interval: 200 }).toBe(JOBS);
      const states = await db.query<{ status: string; n: string }>('select status, count(*) as n from visual_generation_jobs group by status');
      expect(states.rows.map((row) => [row.status, Number(row.n)])).toEqual([['completed', JOBS]]);
      const survivors = procs.filter((proc) => proc !== victim);
      expect(survivors.some((proc) => proc.lines.some((line) => line.includes('taking over jobs')))).toBe(true);

      // Each prompt ran exactly once, and no backend ever held more than max_concurrent.
      const prompts = await db.query<{ comfy_prompt_id: string }>('select comfy_prompt_id from visual_generation_jobs');
      const executions = new Map<string, number>();
      for (const sim of sims) for (const [id, n] of Object.entries(sim.stats().executions)) executions.set(id, (executions.get(id) ?? 0) + n);
      for (const row of prompts.rows) expect(executions.get(row.comfy_prompt_id), row.comfy_prompt_id).toBe(1);
      expect([...executions.values()].reduce((a, b) => a + b, 0)).toBe(JOBS);
      for (const sim of sims) expect(sim.stats().peakQueueDepth).toBeLessThanOrEqual(MAX_CONCURRENT);

      // Every persisted event reached JetStream once, in seq order per job.
      await expect
        .poll(async () => Number((await db.query<{ n: string }>('select count(*) as n from job_events where published_at is null')).rows[0]!.n), {
          timeout: 20_000,
          interval: 100,
        })
        .toBe(0);
      const expected = await db.query<{ job_id: string; seq: number }>('select job_id, seq from job_events order by job_id, seq');
      const delivered = await readDurableEvents(client, STREAM);
      const perJob = new Map<string, number[]>();
      for (const { jobId, seq } of delivered) perJob.set(jobId, [...(perJob.get(jobId) ?? []), seq]);
      const expectedPerJob = new Map<string, number[]>();
      for (const row of expected.rows) expectedPerJob.set(row.job_id, [...(expectedPerJob.get(row.job_id) ?? []), Number(row.seq)]);
      expect(perJob.size).toBe(JOBS);
      for (const id of jobIds) expect(perJob.get(id), id).toEqual(expectedPerJob.get(id));
    } finally {
      await db.end();
    }
  });
});

/** Every state event in the stream, in stream order (progress ticks are ephemeral and skipped). */
async function readDurableEvents(nc: NatsConnection, stream: string): Promise<Array<{ jobId: string; seq: number }>> {
  const info = await (await nc.jetstreamManager()).streams.info(stream);
  const total = info.state.messages;
  const consumer = await nc.jetstream().consumers.get(stream);
  const events: Array<{ jobId: string; seq: number }> = [];
  let read = 0;
  const messages = await consumer.consume();
  for await (const message of messages) {
    read += 1;
    const event = cloudEventSchema.parse(message.json());
    const match = /^(.+):(\d+)$/.exec(event.id);
    if (match && !event.id.includes(':progress:')) events.push({ jobId: match[1]!, seq: Number(match[2]) });
    if (read >= total) break;
  }
  await messages.close();
  return events;
}
