/**
 * NatsEventTransport and connectNats against real nats-servers: the plain-NATS fallback
 * when the server has no JetStream, stream creation/update, authentication from config,
 * and progress ticks dropped (not buffered) while disconnected.
 */
import { createServer, type AddressInfo } from 'node:net';
import type { Msg, NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsEventTransport, OutboxRelay, ProgressPublisher, connectNats, type NatsConfig } from '../../src/events/index.js';
import type { JobEventRow, JobStore } from '../../src/contracts/job-store-port.js';
import { ChorusError } from '../../src/errors/index.js';
import { NatsTestServer } from '../support/nats-server.js';

const config = (servers: string[], extra: Partial<NatsConfig> = {}): NatsConfig => ({
  enabled: true,
  servers,
  name: 'transport-test',
  subject_prefix: 'cv',
  stream: { name: 'CV', max_age_seconds: 3600, max_msgs: 1000, duplicate_window_seconds: 60 },
  progress_per_second: 4,
  ...extra,
});

function collect(nc: NatsConnection, subject: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, { callback: (_err, m) => got.push(m) });
  return got;
}

describe('plain NATS (no JetStream)', () => {
  let server: NatsTestServer;
  beforeAll(async () => {
    server = await NatsTestServer.start({ jetstream: false });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('falls back to plain publishes and the relay still delivers in order', async () => {
    const nc = await connectNats(config([server.url]));
    const listener = await connectNats(config([server.url]));
    try {
      const got = collect(listener, 'cv.events.>');
      await listener.flush();
      const transport = await NatsEventTransport.create(nc, { prefix: 'cv', name: 'CV', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 });
      expect(transport.kind).toBe('nats');
      const rows: JobEventRow[] = ['queued', 'submitted', 'processing'].map((state, i) => ({
        id: i + 1,
        job_id: 'j1',
        seq: i + 1,
        type: state,
        from_state: null,
        to_state: state,
        data: { job: { id: 'j1', conversation_id: 'c1', state } },
        at: new Date().toISOString(),
        published_at: null,
      }));
      const store = {
        listUnpublished: async () => rows.filter((r) => !r.published_at),
        markPublished: async (ids: number[]) => {
          for (const r of rows) if (ids.includes(r.id)) r.published_at = 'now';
        },
      } as unknown as JobStore;
      await new OutboxRelay({ store, transport, subjectPrefix: 'cv', source: 't' }).drain();
      await expect.poll(() => got.length).toBe(3);
      expect(got.map((m) => m.subject)).toEqual(['cv.events.c1.j1.queued', 'cv.events.c1.j1.submitted', 'cv.events.c1.j1.processing']);
      expect(got.map((m) => (m.json() as { id: string }).id)).toEqual(['j1:1', 'j1:2', 'j1:3']);
    } finally {
      await nc.close();
      await listener.close();
    }
  });
});

describe('JetStream stream and connection options', () => {
  let server: NatsTestServer;
  beforeAll(async () => {
    server = await NatsTestServer.start({ args: ['--user', 'chorus', '--pass', 's3cret'] });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('connects with user/password from config and refuses bad credentials with a ChorusError', async () => {
    const nc = await connectNats(config([server.url], { user: 'chorus', pass: 's3cret' }));
    expect(nc.isClosed()).toBe(false);
    await nc.close();
    const refused = await connectNats(config([server.url], { user: 'chorus', pass: 'wrong' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ChorusError);
    expect(refused).toMatchObject({ code: 'CONFIG_INVALID', recoverable: false });
    const missingCreds = await connectNats(config([server.url], { creds_file: '/nonexistent/x.creds' })).catch((e: unknown) => e);
    expect(missingCreds).toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('an unreachable NATS is EVENTS_UNAVAILABLE (recoverable), not a config error', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const failure = await connectNats(config([`nats://127.0.0.1:${port}`]), { waitOnFirstConnect: false }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'EVENTS_UNAVAILABLE', recoverable: true });
    expect((failure as Error).message).toContain(String(port));
  });

  it('creates the stream with configured limits and updates them when the config changes', async () => {
    const nc = await connectNats(config([server.url], { user: 'chorus', pass: 's3cret' }));
    try {
      await NatsEventTransport.create(nc, { prefix: 'lim', name: 'LIM', max_age_seconds: 120, max_msgs: 50, duplicate_window_seconds: 30 });
      const jsm = await nc.jetstreamManager();
      let info = await jsm.streams.info('LIM');
      expect(info.config.subjects).toEqual(['lim.events.>']);
      expect(info.config.max_msgs).toBe(50);
      expect(info.config.duplicate_window).toBe(30 * 1e9);
      await NatsEventTransport.create(nc, { prefix: 'lim', name: 'LIM', max_age_seconds: 120, max_msgs: 70, duplicate_window_seconds: 30 });
      info = await jsm.streams.info('LIM');
      expect(info.config.max_msgs).toBe(70);
    } finally {
      await nc.close();
    }
  });

  it('a stream name changed without the subject prefix is CONFIG_INVALID naming the stream that holds the events', async () => {
    const nc = await connectNats(config([server.url], { user: 'chorus', pass: 's3cret' }));
    const jsm = await nc.jetstreamManager();
    const unique = `${process.pid}_${Date.now()}`;
    const [old, renamed, other] = [`OVL_OLD_${unique}`, `OVL_NEW_${unique}`, `OVL_OTHER_${unique}`];
    const limits = { max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 };
    try {
      await NatsEventTransport.create(nc, { prefix: `ovl${unique}`, name: old, ...limits });
      // A new stream for subjects another one holds (the add path).
      const refused = await NatsEventTransport.create(nc, { prefix: `ovl${unique}`, name: renamed, ...limits }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ChorusError);
      expect(refused).toMatchObject({
        code: 'CONFIG_INVALID',
        recoverable: false,
        details: { keys: ['nats.stream.name', 'nats.subject_prefix'], stream: renamed, subjects: [`ovl${unique}.events.>`], existing_streams: [old] },
      });
      const error = refused as ChorusError;
      expect(error.message).toContain(`nats.stream.name is "${renamed}"`);
      expect(error.message).toContain(`nats.subject_prefix "ovl${unique}"`);
      expect(error.message).toContain(`"${old}"`);
      expect(error.toJSON().suggestion).toContain(`Set nats.stream.name to "${old}"`);
      await expect(jsm.streams.info(renamed)).rejects.toThrow();

      // An existing stream moved to a prefix another stream holds (the update path): refused too, unchanged.
      await NatsEventTransport.create(nc, { prefix: `oth${unique}`, name: other, ...limits });
      const moved = await NatsEventTransport.create(nc, { prefix: `ovl${unique}`, name: other, ...limits }).catch((e: unknown) => e);
      expect(moved).toMatchObject({ code: 'CONFIG_INVALID', details: { stream: other, existing_streams: [old] } });
      expect((await jsm.streams.info(other)).config.subjects).toEqual([`oth${unique}.events.>`]);
    } finally {
      for (const name of [old, renamed, other]) await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    }
  });

  it('drops progress ticks while disconnected and rejects durable publishes (kept in the outbox)', async () => {
    const nc = await connectNats(config([server.url], { user: 'chorus', pass: 's3cret' }), { reconnectTimeWaitMs: 100 });
    const listener = await connectNats(config([server.url], { user: 'chorus', pass: 's3cret' }), { reconnectTimeWaitMs: 100 });
    try {
      const transport = await NatsEventTransport.create(nc, { prefix: 'dc', name: 'DC', max_age_seconds: 60, max_msgs: 100, duplicate_window_seconds: 60 });
      const progress = new ProgressPublisher(transport, 'dc', 1000);
      const got = collect(listener, 'dc.events.*.*.progress');
      await listener.flush();
      progress.publish({ id: 'j', conversation_id: 'c' }, { value: 1, max: 10, node: null });
      await expect.poll(() => got.length).toBe(1);

      const disconnected = (async () => {
        for await (const s of nc.status()) if (s.type === 'disconnect') return;
      })();
      await server.stop();
      await disconnected;
      expect(transport.isConnected()).toBe(false);
      for (let i = 2; i < 50; i++) progress.publish({ id: `j${i}`, conversation_id: 'c' }, { value: i, max: 50, node: null });
      await expect(transport.publishDurable('dc.events.c.j.queued', new Uint8Array([123, 125]), 'j:1')).rejects.toMatchObject({
        code: 'EVENTS_UNAVAILABLE',
        recoverable: true,
      });

      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return;
      })();
      const listenerBack = (async () => {
        for await (const s of listener.status()) if (s.type === 'reconnect') return;
      })();
      await server.restart();
      await Promise.all([reconnected, listenerBack]);
      await listener.flush(); // its re-subscription reached the server before we publish
      expect(transport.isConnected()).toBe(true);
      progress.publish({ id: 'late', conversation_id: 'c' }, { value: 9, max: 10, node: null });
      await expect.poll(() => got.length).toBe(2);
      await nc.flush();
      // None of the 48 ticks sent during the outage was buffered and replayed.
      expect(got.map((m) => m.subject)).toEqual(['dc.events.c.j.progress', 'dc.events.c.late.progress']);
      progress.close();
    } finally {
      await nc.close();
      await listener.close();
    }
  });
});
