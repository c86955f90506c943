/**
 * Commands and events together, the way Chorus Engine sees them: subscribe to a
 * conversation, send generate and cancel over NATS, receive the job's events in order from
 * the outbox relay, then replay them from JetStream. The JobService is a store-backed fake.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCommandService, type CommandService } from '../../src/commands/index.js';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import { NatsEventTransport, OutboxRelay, cloudEventSchema, connectNats, jobEventsSubject } from '../../src/events/index.js';
import { FakeJobCommandHandler } from '../support/fake-job-command-handler.js';
import { NatsTestServer } from '../support/nats-server.js';

const PREFIX = 'chorus.visual';

describe('generate over NATS, events back over NATS', () => {
  let server: NatsTestServer;
  let dir: string;
  let store: DatabaseJobStore;
  let nc: NatsConnection;
  let engine: NatsConnection;
  let service: CommandService;
  let relay: OutboxRelay;

  beforeAll(async () => {
    server = await NatsTestServer.start();
    dir = await mkdtemp(join(tmpdir(), 'chorus-flow-'));
    store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
    const cfg = {
      enabled: true,
      servers: [server.url],
      name: 'flow',
      subject_prefix: PREFIX,
      stream: { name: 'S', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
      progress_per_second: 4,
    };
    nc = await connectNats(cfg);
    engine = await connectNats({ ...cfg, name: 'chorus-engine' });
    const transport = await NatsEventTransport.create(nc, { prefix: PREFIX, name: 'FLOW', max_age_seconds: 600, max_msgs: 1000, duplicate_window_seconds: 60 });
    relay = new OutboxRelay({ store, transport, subjectPrefix: PREFIX, source: 'chorus-visual/flow', pollMs: 20 });
    relay.start();
    service = await startCommandService(nc, new FakeJobCommandHandler(store), { prefix: PREFIX, version: '0.1.0' });
  });
  afterAll(async () => {
    await service?.stop();
    await relay?.stop();
    await engine?.close();
    await nc?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    await server.cleanup();
  });

  it('delivers queued then cancelled to a conversation subscriber, and JetStream replays both', async () => {
    const received: Array<{ subject: string; type: string; id: string; state: unknown }> = [];
    engine.subscribe(`${PREFIX}.events.conv-7.>`, {
      callback: (_err, msg) => {
        const event = cloudEventSchema.parse(msg.json());
        received.push({ subject: msg.subject, type: event.type, id: event.id, state: event.data.state });
      },
    });
    await engine.flush();

    // A string payload, exactly as the documented client sends it.
    const reply = await engine.request(
      `${PREFIX}.cmd.generate`,
      JSON.stringify({ request_id: 'm-7', conversation_id: 'conv-7', character: 'nova', user_request: 'the lighthouse' }),
      { timeout: 5_000 },
    );
    const body = reply.json<{ ok: boolean; job: { id: string } }>();
    expect(body.ok).toBe(true);
    const jobId = body.job.id;
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(1);

    const cancelled = await engine.request(`${PREFIX}.cmd.cancel`, JSON.stringify({ job_id: jobId }), { timeout: 5_000 });
    expect(cancelled.json()).toMatchObject({ ok: true });
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(2);
    expect(received).toEqual([
      { subject: `${PREFIX}.events.conv-7.${jobId}.queued`, type: 'chorus.visual.job.queued', id: `${jobId}:1`, state: 'queued' },
      { subject: `${PREFIX}.events.conv-7.${jobId}.cancelled`, type: 'chorus.visual.job.cancelled', id: `${jobId}:2`, state: 'cancelled' },
    ]);

    const consumer = await engine.jetstream().consumers.get('FLOW', { filterSubjects: jobEventsSubject(PREFIX, jobId) });
    const replayed: string[] = [];
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 2_000 })) replayed.push(cloudEventSchema.parse(m.json()).id);
    expect(replayed).toEqual([`${jobId}:1`, `${jobId}:2`]);
  });
});
