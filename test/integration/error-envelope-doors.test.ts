/**
 * One envelope on every door: a bug behind a command answers the same over NATS (a real
 * nats-server) and over HTTP — code INTERNAL, a generic message, a correlation id — and the
 * log line holding the real cause carries that id. Refused requests are logged without
 * their query string, so a `?token=` never reaches a log file.
 */
import { Writable } from 'node:stream';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCommandService, type CommandService } from '../../src/commands/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { connectNats } from '../../src/events/index.js';
import { createLogger } from '../../src/logging/logger.js';
import { FakeJobCommandHandler, FakeJobFeed } from '../support/fake-http-ports.js';
import { rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';
import { NatsTestServer } from '../support/nats-server.js';

function capturedLogger() {
  const lines: Record<string, any>[] = [];
  const text: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        text.push(line);
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { lines, text, logger: createLogger({ level: 'debug', destination }) };
}

const cause = 'SQLITE_CORRUPT at /home/me/secret/chorus-visual.db';
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('internal errors: the same envelope over NATS and HTTP, the cause only in the log', () => {
  let nats: NatsTestServer;
  let nc: NatsConnection;
  let service: CommandService;
  let http: HttpHarness;
  const natsLog = capturedLogger();
  const httpLog = capturedLogger();

  beforeAll(async () => {
    nats = await NatsTestServer.start({ jetstream: false });
    const cfg = {
      enabled: true,
      servers: [nats.url],
      name: 'doors',
      subject_prefix: 'doors',
      stream: { name: 'S', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
      progress_per_second: 4,
    };
    nc = await connectNats(cfg);
    const natsHandler = new FakeJobCommandHandler(new FakeJobFeed());
    natsHandler.list = async () => {
      throw new Error(cause);
    };
    service = await startCommandService(nc, natsHandler, { prefix: 'doors', version: '0.1.0', logger: natsLog.logger });
    http = await startHttpHarness({ logger: httpLog.logger });
    http.handler.list = async () => {
      throw new Error(cause);
    };
  });
  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await nats?.cleanup();
    await http?.close();
  });

  it('answers INTERNAL with a generic message and a correlation id that the log line shares', async () => {
    const natsReply = JSON.parse(new TextDecoder().decode((await nc.request('doors.cmd.list', new TextEncoder().encode('{}'), { timeout: 5_000 })).data));
    const httpRes = await rawRequest(http.server.port, 'GET', '/api/jobs?state=queued');
    expect(httpRes.status).toBe(500);
    const httpReply = httpRes.json();

    for (const [door, reply, log] of [
      ['nats', natsReply, natsLog],
      ['http', httpReply, httpLog],
    ] as const) {
      expect(reply, door).toMatchObject({ ok: false, error: { code: 'INTERNAL', recoverable: false } });
      expect(reply.error.message, door).toMatch(/failed with an internal error$/);
      expect(JSON.stringify(reply), door).not.toContain('SQLITE');
      expect(JSON.stringify(reply), door).not.toContain('/home/me');
      const id = reply.error.details.correlation_id;
      expect(id, door).toMatch(uuid);
      expect(reply.error.suggestion, door).toContain(id);
      const line = log.lines.find((l) => l['correlation_id'] === id);
      expect(line, `${door} log line with the correlation id`).toBeDefined();
      expect(line!['level'], door).toBe(50);
      expect(JSON.stringify(line), door).toContain(cause);
    }
    // Same fields, same order of ideas: a client handles both doors alike.
    expect(Object.keys(httpReply.error).sort()).toEqual(Object.keys(natsReply.error).sort());
    expect(httpLog.lines.find((l) => l['msg'] === 'request failed')?.['path']).toBe('/api/jobs?…');
  });

  it('passes a ChorusError (written for the caller) through unchanged on both doors', async () => {
    const httpRes = await rawRequest(http.server.port, 'GET', '/api/jobs/nope');
    expect(httpRes.json().error).toMatchObject({ code: 'JOB_NOT_FOUND' });
    expect(httpRes.json().error.details?.correlation_id).toBeUndefined();
  });
});

describe('request logging never writes a query string', () => {
  it('logs a refused ?token= request and a failed one by path only', async () => {
    const log = capturedLogger();
    const h = await startHttpHarness({ token: 'right-token-value', logger: log.logger });
    try {
      expect((await rawRequest(h.server.port, 'GET', '/api/jobs?token=wrong-token-value&state=queued')).status).toBe(401);
      expect((await rawRequest(h.server.port, 'GET', '/api/jobs?token=right-token-value')).status).toBe(200);
      h.handler.list = async () => {
        throw new Error('boom');
      };
      expect((await rawRequest(h.server.port, 'GET', '/api/jobs?token=right-token-value')).status).toBe(500);
      expect(
        (await rawRequest(h.server.port, 'GET', '/files/x.png?token=wrong-token-value', { headers: { authorization: 'Bearer wrong-token-value' } })).status,
      ).toBe(401);
      const refused = log.lines.filter((l) => l['msg'] === 'request refused');
      expect(refused.map((l) => l['path'])).toEqual(['/api/jobs?…', '/files/x.png?…']);
      expect(log.lines.find((l) => l['msg'] === 'request failed')?.['path']).toBe('/api/jobs?…');
      const all = log.text.join('\n');
      expect(all).not.toContain('wrong-token-value');
      expect(all).not.toContain('right-token-value');
    } finally {
      await h.close();
    }
  });
});

describe('configuration in error messages', () => {
  it('a NATS connection failure names the servers without their credentials', async () => {
    const config = parseServiceConfig({ nats: { servers: ['nats://chorus:SECRET-IN-URL@127.0.0.1:1'] } }).nats;
    const error = await connectNats(config, { waitOnFirstConnect: false }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain('nats://***@127.0.0.1:1');
    expect(error!.message).not.toContain('SECRET-IN-URL');
  });
});
