/**
 * Starts the real HTTP server on a free port with the fake ports and a temp data folder,
 * and sends raw requests (node:http, so paths like `/files/../x` reach the server
 * unnormalised — fetch would fold them away).
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from '../../src/http/index.js';
import { FakeJobCommandHandler, FakeJobFeed, fakeHealthSources } from './fake-http-ports.js';

export interface HttpHarness {
  server: RunningHttpServer;
  feed: FakeJobFeed;
  handler: FakeJobCommandHandler;
  health: ReturnType<typeof fakeHealthSources>;
  dataDir: string;
  close(): Promise<void>;
}

export async function startHttpHarness(options: Partial<HttpServerOptions> & { maxQueue?: number } = {}): Promise<HttpHarness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chorus-http-'));
  const feed = new FakeJobFeed();
  const handler = new FakeJobCommandHandler(feed, { maxQueue: options.maxQueue ?? 100 });
  const health = fakeHealthSources();
  const server = await startHttpServer({ port: 0, handler, feed, health, dataDir, ...options });
  return {
    server,
    feed,
    handler,
    health,
    dataDir,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json(): any;
}

export function rawRequest(
  port: number,
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: target, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export const jsonHeaders = { 'content-type': 'application/json' };
