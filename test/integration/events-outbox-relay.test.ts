/**
 * The outbox relay against a real nats-server (JetStream) and a real SQLite JobStore:
 * order, dedupe, replay, and a nats-server stop/restart in the middle of a stream of
 * transitions that must lose and reorder nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import { NatsEventTransport, OutboxRelay, cloudEventSchema, connectNats, type EventStreamConfig } from '../../src/events/index.js';
import type { NewJob } from '../../src/contracts/job-store-port.js';
import type { JobState } from '../../src/contracts/job-view.js';
import { NatsTestServer } from '../support/nats-server.js';

let PREFIX = 'chorus.visual';
const lifecycle: JobState[] = ['queued', 'submitted', 'processing', 'moving', 'completed'];

function newJob(id: string, conversation: string): NewJob {
  return {
    id,
    conversation_id: conversation,
    thread_id: null,
    message_id: null,
    workflow: 'wf',
    prompt: 'a cat',
    parameters: {},
    status: 'queued',
    created_at: new Date().toISOString(),
    comfy_prompt_id: null,
    substate: null,
    character: null,
    negative_prompt: null,
    seed: 1,
    prompt_source: 'caller',
    request_id: null,
    priority: 0,
    snapshot: null,
    debug: {},
  };
}

function jobData(id: string, conversation: string, state: JobState) {
  return { job: { id, conversation_id: conversation, state, workflow: 'wf' } };
}

async function createJob(store: DatabaseJobStore, id: string, conversation: string): Promise<void> {
  await store.createJob(
    newJob(id, conversation),
    { type: 'created', from_state: null, to_state: 'queued', data: jobData(id, conversation, 'queued'), at: new Date().toISOString() },
    { maxQueueSize: 10_000 },
  );
}

async function advance(store: DatabaseJobStore, id: string, conversation: string, from: JobState, to: JobState): Promise<void> {
  await store.recordTransition(
    id,
    { status: to },
    { type: to, from_state: from, to_state: to, data: jobData(id, conversation, to), at: new Date().toISOString() },
  );
}

/** Every message of the stream for a subject filter, in stream order, via an ordered consumer. */
async function replay(
  nc: NatsConnection,
  stream: string,
  filter: string,
  expected: number,
): Promise<Array<{ subject: string; id: string; seq: number; state: string }>> {
  const consumer = await nc.jetstream().consumers.get(stream, { filterSubjects: filter }); // one subject: nats-server 2.9 has no multi-filter;
  const out: Array<{ subject: string; id: string; seq: number; state: string }> = [];
  while (out.length < expected) {
    const batch = await consumer.fetch({ max_messages: expected - out.length, expires: 2_000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const event = cloudEventSchema.parse(m.json());
      out.push({ subject: m.subject, id: event.id, seq: Number(event.data.seq), state: String(event.data.state) });
    }
    if (got === 0) break;
  }
  return out;
}

describe('OutboxRelay over NATS JetStream', () => {
  let server: NatsTestServer;
  let dir: string;
  let store: DatabaseJobStore;
  let nc: NatsConnection;
  let stream: EventStreamConfig;
  let n = 0;

  beforeAll(async () => {
    server = await NatsTestServer.start();
  });
  afterAll(async () => {
    await server.cleanup();
  });
  beforeEach(async () => {
    if (!server.running) await server.restart();
    dir = await mkdtemp(join(tmpdir(), 'chorus-relay-'));
    store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
    nc = await connectNats({ ...natsDefaults(), servers: [server.url] }, { reconnectTimeWaitMs: 100 });
    PREFIX = `chorus.visual${++n}`; // one stream per test: streams may not share subjects
    stream = { prefix: PREFIX, name: `EVENTS_${n}`, max_age_seconds: 3600, max_msgs: 100_000, duplicate_window_seconds: 600 };
  });
  afterEach(async () => {
    await nc.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes each job lifecycle in order; a re-send is deduplicated; a consumer replays it', async () => {
    const transport = await NatsEventTransport.create(nc, stream);
    expect(transport.kind).toBe('nats-jetstream');
    const relay = new OutboxRelay({ store, transport, subjectPrefix: PREFIX, source: 'chorus-visual/test' });
    await createJob(store, `job-${n}`, 'conv.1');
    for (let i = 1; i < lifecycle.length; i++) await advance(store, `job-${n}`, 'conv.1', lifecycle[i - 1]!, lifecycle[i]!);
    await relay.drain();
    expect(await store.countUnpublished()).toBe(0);

    // A crash between publish and mark: the same event goes out again with the same msgID.
    const first = (await store.listEvents(`job-${n}`))[0]!;
    await transport.publishDurable(`${PREFIX}.events.conv%2E1.job-${n}.queued`, new TextEncoder().encode('{}'), `${first.job_id}:${first.seq}`);
    const info = await (await nc.jetstreamManager()).streams.info(stream.name);
    expect(info.state.messages).toBe(lifecycle.length);

    const events = await replay(nc, stream.name, `${PREFIX}.events.conv%2E1.>`, lifecycle.length);
    expect(events.map((e) => e.state)).toEqual(lifecycle);
    expect(events.map((e) => e.id)).toEqual(lifecycle.map((_, i) => `job-${n}:${i + 1}`));
    expect(events.at(-1)?.subject).toBe(`${PREFIX}.events.conv%2E1.job-${n}.completed`);
  });

  it('survives nats-server stopping and restarting mid-stream: nothing lost, per-job order kept', async () => {
    const transport = await NatsEventTransport.create(nc, stream, { publishTimeoutMs: 1_000 });
    const relay = new OutboxRelay({ store, transport, subjectPrefix: PREFIX, source: 't', retryMs: 50, maxRetryMs: 300, pollMs: 50 });
    relay.start();
    const jobs = Array.from({ length: 6 }, (_, i) => `r${n}-${i}`);
    // Writers: each job walks its lifecycle; NATS goes away after the first steps.
    const walk = async (step: number) => {
      for (const id of jobs) {
        if (step === 0) await createJob(store, id, 'c2');
        else await advance(store, id, 'c2', lifecycle[step - 1]!, lifecycle[step]!);
      }
      relay.kick();
    };
    await walk(0);
    await walk(1);
    await server.stop();
    await walk(2);
    await walk(3);
    expect(await store.countUnpublished()).toBeGreaterThan(0); // the outbox holds them meanwhile
    await server.restart();
    await walk(4);
    await expect.poll(() => store.countUnpublished(), { timeout: 15_000, interval: 50 }).toBe(0);
    await relay.stop();

    const total = jobs.length * lifecycle.length;
    const events = await replay(nc, stream.name, `${PREFIX}.events.c2.>`, total);
    expect(events).toHaveLength(total);
    expect(new Set(events.map((e) => e.id)).size).toBe(total); // no duplicates
    for (const id of jobs) {
      const mine = events.filter((e) => e.subject.includes(`.${id}.`));
      expect(mine.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(mine.map((e) => e.state)).toEqual(lifecycle);
    }
  });

  it('survives nats-server being killed (SIGKILL) while the relay is publishing', async () => {
    const transport = await NatsEventTransport.create(nc, stream, { publishTimeoutMs: 500 });
    const relay = new OutboxRelay({ store, transport, subjectPrefix: PREFIX, source: 't', batchSize: 10, retryMs: 50, maxRetryMs: 300, pollMs: 50 });
    const jobs = Array.from({ length: 20 }, (_, i) => `k${n}-${i}`);
    for (const id of jobs) await createJob(store, id, 'c3');
    for (let step = 1; step < lifecycle.length; step++) for (const id of jobs) await advance(store, id, 'c3', lifecycle[step - 1]!, lifecycle[step]!);
    relay.start();
    await expect.poll(() => relay.published, { timeout: 10_000, interval: 1 }).toBeGreaterThan(10);
    await server.stop('SIGKILL'); // mid-batch: some publishes may be stored but not acked
    const pendingAtKill = await store.countUnpublished();
    expect(pendingAtKill).toBeGreaterThan(0); // the kill really landed mid-stream
    await server.restart();
    await expect.poll(() => store.countUnpublished(), { timeout: 15_000, interval: 50 }).toBe(0);
    await relay.stop();

    const total = jobs.length * lifecycle.length;
    const events = await replay(nc, stream.name, `${PREFIX}.events.c3.>`, total);
    expect(events).toHaveLength(total);
    expect(new Set(events.map((e) => e.id)).size).toBe(total);
    for (const id of jobs) expect(events.filter((e) => e.subject.includes(`.${id}.`)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  });
});

function natsDefaults() {
  return {
    enabled: true,
    servers: [],
    name: 'chorus-visual-test',
    subject_prefix: PREFIX,
    stream: { name: 'X', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
    progress_per_second: 4,
  };
}
