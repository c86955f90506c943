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

describe('text that is not Unicode: refused alike on NATS and HTTP, nothing created', () => {
  let nats: NatsTestServer;
  let nc: NatsConnection;
  let service: CommandService;
  let natsHandler: FakeJobCommandHandler;
  let http: HttpHarness;

  beforeAll(async () => {
    nats = await NatsTestServer.start({ jetstream: false });
    nc = await connectNats({
      enabled: true,
      servers: [nats.url],
      name: 'text',
      subject_prefix: 'text',
      stream: { name: 'T', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
      progress_per_second: 4,
    });
    natsHandler = new FakeJobCommandHandler(new FakeJobFeed());
    service = await startCommandService(nc, natsHandler, { prefix: 'text', version: '0.1.0' });
    http = await startHttpHarness();
  });
  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await nats?.cleanup();
    await http?.close();
  });

  /** The same bytes through both doors: the two replies. */
  async function sendBoth(body: Buffer): Promise<{ nats: any; http: { status: number; body: any } }> {
    const natsReply = JSON.parse(new TextDecoder().decode((await nc.request('text.cmd.generate', body, { timeout: 5_000 })).data));
    const res = await rawRequest(http.server.port, 'POST', '/api/jobs', { headers: { 'content-type': 'application/json' }, body });
    return { nats: natsReply, http: { status: res.status, body: res.json() } };
  }
  const command = (prompt: string) => `{"conversation_id":"cs","character":"nova","prompt":"${prompt}"}`;

  it('a body that is not UTF-8 (Latin-1 "café") is INVALID_COMMAND, not a prompt with U+FFFD in it', async () => {
    const latin1 = Buffer.concat([Buffer.from(command('caf').slice(0, -2)), Buffer.from([0xe9]), Buffer.from('"}')]);
    const replies = await sendBoth(latin1);
    expect(replies.nats).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', details: { reason: 'not_utf8' } } });
    expect(replies.nats.error.details).toEqual(replies.http.body.error.details);
    expect(replies.nats.error.suggestion).toMatch(/UTF-8/);
    expect(replies.http.status).toBe(400);
    expect(replies.http.body).toMatchObject({
      ok: false,
      error: { code: 'INVALID_COMMAND', message: 'request body is not valid UTF-8', details: { reason: 'not_utf8' } },
    });
    expect(replies.http.body.error.suggestion).toMatch(/UTF-8/);
    expect(http.handler.jobs.size).toBe(0);
    expect(natsHandler.jobs.size).toBe(0);
  });

  it('a lone surrogate escape ("\\ud800") is INVALID_COMMAND naming the field; a surrogate pair is text', async () => {
    for (const prompt of ['caf\\ud800', '\\udfff tail', 'head \\ud83d']) {
      const replies = await sendBoth(Buffer.from(command(prompt)));
      expect(replies.http.status, prompt).toBe(400);
      for (const reply of [replies.nats, replies.http.body]) {
        expect(reply, prompt).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
        expect(reply.error.details, prompt).toContainEqual({ path: 'prompt', message: expect.stringMatching(/well-formed Unicode/) });
      }
    }
    expect(http.handler.jobs.size).toBe(0);
    expect(natsHandler.jobs.size).toBe(0);

    const pair = await sendBoth(Buffer.from(command('a cat \\ud83d\\ude00')));
    expect(pair.nats).toMatchObject({ ok: true, job: { prompt: 'a cat 😀' } });
    expect(pair.http.status).toBe(201);
    expect(pair.http.body).toMatchObject({ ok: true, job: { prompt: 'a cat 😀' } });
  });
});
