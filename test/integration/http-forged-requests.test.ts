/**
 * What a hostile web page (or a DNS-rebound name) can make a browser send to the service on
 * 127.0.0.1, sent here as raw HTTP with the same headers: each is refused with a structured
 * error and changes nothing, while the server's own origin and non-browser clients work.
 */
import { networkInterfaces } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHttpServer } from '../../src/http/index.js';
import { FakeJobCommandHandler, FakeJobFeed, fakeHealthSources, gradientPng } from '../support/fake-http-ports.js';
import { jsonHeaders, rawRequest, startHttpHarness, type HttpHarness, type RawResponse } from '../support/http-test-harness.js';

let h: HttpHarness;
const generate = JSON.stringify({ conversation_id: 'c1', character: 'nova', user_request: 'a walk at dusk' });
const send = (method: string, target: string, headers: Record<string, string>, body?: string) =>
  rawRequest(h.server.port, method, target, { headers, ...(body === undefined ? {} : { body }) });
const own = () => `http://127.0.0.1:${h.server.port}`;

function expectRefused(res: RawResponse, status: number, reason: string): void {
  expect(res.status).toBe(status);
  const body = res.json();
  expect(body.ok).toBe(false);
  expect(body.error.code).toBe('INVALID_COMMAND');
  expect(body.error.details.reason).toBe(reason);
  expect(body.error.suggestion).toBeTruthy();
}

beforeEach(async () => {
  h = await startHttpHarness();
  await mkdir(path.join(h.dataDir, 'conversations', 'c1', 'images'), { recursive: true });
  await writeFile(path.join(h.dataDir, 'conversations', 'c1', 'images', 'a.png'), gradientPng(4, 4));
});
afterEach(async () => {
  await h.close();
});

describe('bodies a browser can send without a preflight are refused (415)', () => {
  it.each([
    ['no Content-Type (fetch no-cors with a Blob, sendBeacon)', {}],
    ['text/plain (fetch no-cors with a string)', { 'content-type': 'text/plain;charset=UTF-8' }],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['a multipart form', { 'content-type': 'multipart/form-data; boundary=x' }],
    ['JSON-looking text', { 'content-type': 'text/json' }],
  ])('POST /api/jobs with %s creates nothing', async (_label, headers) => {
    expectRefused(await send('POST', '/api/jobs', headers, generate), 415, 'not_json');
    expect(h.handler.jobs.size).toBe(0);
  });

  it('POST /api/jobs/{id}/cancel with a form content type and an empty body cancels nothing', async () => {
    const { job } = await h.handler.generate({ conversation_id: 'c1', character: 'nova', prompt: 'x', priority: 0, strict_llm: false, parameters: {} });
    expectRefused(await send('POST', `/api/jobs/${job.id}/cancel`, { 'content-type': 'application/x-www-form-urlencoded' }, ''), 415, 'not_json');
    expectRefused(await send('POST', `/api/jobs/${job.id}/cancel`, {}), 415, 'not_json');
    expect(h.handler.jobs.get(job.id)?.state).toBe('queued');
    // The same cancel as JSON (what the page and programs send) works.
    expect((await send('POST', `/api/jobs/${job.id}/cancel`, jsonHeaders, '{}')).status).toBe(200);
    expect(h.handler.jobs.get(job.id)?.state).toBe('cancelled');
  });

  it.each(['application/json; charset=iso-8859-1', 'application/json;charset="windows-1252"', 'application/vnd.chorus+json; charset=UTF-16'])(
    'POST /api/jobs declared as %s (a charset the body is not read in) creates nothing',
    async (contentType) => {
      const res = await send('POST', '/api/jobs', { 'content-type': contentType }, generate);
      expectRefused(res, 415, 'charset_not_utf8');
      expect(res.json().error.details.content_type).toBe(contentType);
      expect(res.json().error.suggestion).toMatch(/UTF-8 JSON/);
      expect(h.handler.jobs.size).toBe(0);
    },
  );

  it('accepts application/json with parameters and +json types', async () => {
    expect((await send('POST', '/api/jobs', { 'content-type': 'application/json; charset=utf-8' }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', { 'content-type': 'application/json;charset="UTF-8"' }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', { 'content-type': 'application/json; charset=utf8; foo=bar' }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', { 'content-type': 'application/vnd.chorus+json' }, generate)).status).toBe(201);
  });
});

describe('a foreign Origin is refused (403) on every route', () => {
  it.each(['http://evil.example', 'https://evil.example', `http://127.0.0.1:1`, 'http://localhost.evil.example', 'null'])(
    'POST /api/jobs with Origin %s, even as JSON, creates nothing',
    async (origin) => {
      expectRefused(await send('POST', '/api/jobs', { ...jsonHeaders, origin }, generate), 403, 'origin_not_allowed');
      expect(h.handler.jobs.size).toBe(0);
    },
  );

  it('refuses reads with a foreign Origin too: the API, files, metrics and the page', async () => {
    for (const target of ['/api/jobs', '/api/backends', '/files/conversations/c1/images/a.png', '/metrics', '/']) {
      expectRefused(await send('GET', target, { origin: 'http://evil.example' }), 403, 'origin_not_allowed');
    }
  });

  it("accepts the server's own origin, as 127.0.0.1, localhost or [::1], and requests without Origin", async () => {
    const port = h.server.port;
    expect((await send('POST', '/api/jobs', { ...jsonHeaders, origin: own() }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', { ...jsonHeaders, host: `localhost:${port}`, origin: `http://localhost:${port}` }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', { ...jsonHeaders, host: `[::1]:${port}`, origin: `http://[::1]:${port}` }, generate)).status).toBe(201);
    expect((await send('POST', '/api/jobs', jsonHeaders, generate)).status).toBe(201);
    expect(h.handler.jobs.size).toBe(4);
  });

  it('refuses an origin on the right host name but another port (another local web app)', async () => {
    const port = h.server.port;
    const res = await send('POST', '/api/jobs', { ...jsonHeaders, host: `localhost:${port}`, origin: `http://localhost:${port + 1}` }, generate);
    expectRefused(res, 403, 'origin_not_allowed');
  });
});

describe('cross-site requests without an Origin (fetch metadata)', () => {
  it('refuses a cross-site or same-site subresource read (an <img>, a no-cors GET)', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const img = await send('GET', '/files/conversations/c1/images/a.png', { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' });
      expectRefused(img, 403, 'cross_site_request');
      const api = await send('GET', '/api/jobs', { 'sec-fetch-site': site, 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'empty' });
      expectRefused(api, 403, 'cross_site_request');
    }
  });

  it('lets a link from elsewhere open the page (top-level navigation), and same-origin requests through', async () => {
    expect((await send('GET', '/', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' })).status).toBe(200);
    expect((await send('GET', '/api/jobs', { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' })).status).toBe(200);
    expect((await send('GET', '/api/jobs', { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' })).status).toBe(200);
  });
});

describe('Host must be a name this server answers to (DNS rebinding), on every route (421)', () => {
  it.each(['/api/jobs', '/files/conversations/c1/images/a.png', '/', '/index.html', '/healthz', '/metrics', '/api/machine', '/no/such/route'])(
    'GET %s with Host: attacker.example:<port>',
    async (target) => {
      const res = await send('GET', target, { host: `attacker.example:${h.server.port}` });
      expectRefused(res, 421, 'host_not_allowed');
      expect(res.body.toString()).not.toContain('PNG');
    },
  );

  it('refuses POSTs, routes that do not exist yet, and malformed Host values before anything else', async () => {
    const host = { ...jsonHeaders, host: `attacker.example:${h.server.port}` };
    expectRefused(await send('POST', '/api/jobs', host, generate), 421, 'host_not_allowed');
    expectRefused(await send('POST', '/api/jobs/x/regenerate', host, '{}'), 421, 'host_not_allowed');
    for (const bad of ['127.0.0.1@attacker.example', 'localhost/x', '127.0.0.1:80:80']) {
      expectRefused(await send('GET', '/api/jobs', { host: bad }), 421, 'host_not_allowed');
    }
    expect(h.handler.jobs.size).toBe(0);
  });

  it('answers to loopback names in any spelling', async () => {
    for (const host of ['127.0.0.1', 'LOCALHOST:1234', 'localhost.', '[::1]:8787', `127.0.0.1:${h.server.port}`]) {
      expect((await send('GET', '/api/jobs', { host })).status, host).toBe(200);
    }
  });

  it('refuses a request with no Host header at all (HTTP/1.0)', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(h.server.port, '127.0.0.1', () => socket.write('GET /api/jobs HTTP/1.0\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1.1 421/);
    expect(reply).toContain('host_not_allowed');
  });
});

describe('http.allowed_hosts and http.allowed_origins (a reverse proxy)', () => {
  beforeEach(async () => {
    await h.close();
    h = await startHttpHarness({ allowedHosts: ['visual.example.com'], allowedOrigins: ['https://visual.example.com'] });
  });

  it('answers to the configured name, and accepts its origin even when the proxy rewrites Host', async () => {
    const viaProxy = { ...jsonHeaders, host: 'visual.example.com', origin: 'https://visual.example.com' };
    expect((await send('POST', '/api/jobs', viaProxy, generate)).status).toBe(201);
    const rewritten = { ...jsonHeaders, host: `127.0.0.1:${h.server.port}`, origin: 'https://visual.example.com' };
    expect((await send('POST', '/api/jobs', rewritten, generate)).status).toBe(201);
    expectRefused(await send('GET', '/api/jobs', { host: 'other.example.com' }), 421, 'host_not_allowed');
    expectRefused(await send('POST', '/api/jobs', { ...jsonHeaders, origin: 'https://other.example.com' }, generate), 403, 'origin_not_allowed');
  });
});

describe('WebSocket /api/live', () => {
  const sockets: WebSocket[] = [];
  afterEach(() => {
    for (const ws of sockets.splice(0)) ws.terminate();
  });

  /** The upgrade's outcome: 'open' with the first message, or the refusal's status and body. */
  function upgrade(headers: Record<string, string>): Promise<{ status: number; body: any; first?: any }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${h.server.port}/api/live`, { headers });
      sockets.push(ws);
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      ws.on('message', (data) => resolve({ status: 101, body: null, first: JSON.parse(data.toString()) }));
      ws.on('error', (error) => reject(error));
    });
  }

  it('refuses a foreign Origin (403) and a foreign Host (421): no feed flows', async () => {
    const foreign = await upgrade({ origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.details.reason).toBe('origin_not_allowed');
    const rebound = await upgrade({ host: `attacker.example:${h.server.port}`, origin: `http://attacker.example:${h.server.port}` });
    expect(rebound.status).toBe(421);
    expect(rebound.body.error.details.reason).toBe('host_not_allowed');
  });

  it('accepts its own origin and clients that send none', async () => {
    expect((await upgrade({ origin: own() })).first).toMatchObject({ type: 'hello' });
    expect((await upgrade({})).first).toMatchObject({ type: 'hello' });
  });
});

describe('binding', () => {
  it("binds to loopback by default: the server is not reachable on this machine's other addresses", async () => {
    expect(h.server.url).toBe(`http://127.0.0.1:${h.server.port}`);
    const others = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((nic) => !nic.internal && nic.family === 'IPv4')
      .map((nic) => nic.address);
    for (const address of others) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect(h.server.port, address);
        socket.on('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(outcome, address).toBe('ECONNREFUSED');
    }
  });

  it('refuses to start on a non-loopback address without a token, unless told it is guarded', async () => {
    const ports = { handler: new FakeJobCommandHandler(new FakeJobFeed()), feed: new FakeJobFeed(), health: fakeHealthSources(), dataDir: h.dataDir, port: 0 };
    await expect(startHttpServer({ ...ports, host: '0.0.0.0' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/http\.token is not set/),
    });
    const guarded = await startHttpServer({ ...ports, host: '0.0.0.0', allowUnauthenticated: true });
    await guarded.close();
    const withToken = await startHttpServer({ ...ports, host: '0.0.0.0', token: 't' });
    expect((await rawRequest(withToken.port, 'GET', '/api/jobs')).status).toBe(401);
    await withToken.close();
  });
});
