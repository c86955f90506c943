/**
 * The service's HTTP face: JSON API, health, metrics, output files, the live feed and the
 * inspector page, on plain node:http. Every request ends in a reply — a thrown error, a
 * bad body or an unknown route all become the structured error envelope — so no request
 * can take the process down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSilentLogger, type Logger } from '../logging/logger.js';
import { assertAuthorized } from './bearer-token-guard.js';
import { addHealthRoutes } from './health-routes.js';
import { HttpRequestError, sendError, sendOk } from './http-error-envelope.js';
import { addJobApiRoutes } from './job-api-routes.js';
import { attachLiveFeedSocket } from './live-feed-socket.js';
import { architectureDiagram, diagramFromMachine } from './machine-diagram-model.js';
import { addOutputFileRoute } from './output-file-route.js';
import type { HealthSources, JobCommandHandler, JobFeed } from './ports.js';
import { RouteTable } from './route-table.js';
import { createServiceMetrics } from './service-metrics.js';
import { addStaticAssetRoutes } from './static-asset-route.js';

export interface HttpServerOptions {
  /** 127.0.0.1 unless told otherwise: the inspector shows prompts and files. */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** When set, every API, metrics and file request must carry it. */
  token?: string;
  handler: JobCommandHandler;
  feed: JobFeed;
  health: HealthSources;
  dataDir: string;
  /**
   * The job machine (or its `toJSON()`): the page draws its top-level states and
   * transitions. The machine itself is better: toJSON() leaves out `always` transitions.
   */
  machineDefinition?: unknown;
  logger?: Logger;
}

export interface RunningHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Routes anyone may call: the page shell (it holds no data) and liveness. */
const publicPaths = /^\/(|healthz|[A-Za-z0-9_-]+\.(html|js|css|svg))$/;

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const logger = (options.logger ?? createSilentLogger()).child({ component: 'http' });
  const startedAt = Date.now();
  const metrics = createServiceMetrics(options.health);
  const diagram = options.machineDefinition === undefined ? architectureDiagram() : diagramFromMachine(options.machineDefinition);

  const routes = new RouteTable();
  addHealthRoutes(routes, options.health, startedAt);
  routes.add('GET', '/metrics', async ({ res }) => {
    const { contentType, body } = await metrics.render();
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(body);
  });
  addJobApiRoutes(routes, options.handler, options.health);
  routes.add('GET', '/api/machine', ({ res }) => sendOk(res, { diagram, instance_id: options.health.instanceId }));
  addOutputFileRoute(routes, options.dataDir);
  addStaticAssetRoutes(routes);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const rawTarget = req.url ?? '/';
    const queryAt = rawTarget.indexOf('?');
    // Routing uses the raw path: URL parsing would quietly fold `/files/../x` into `/x`.
    const rawPath = queryAt === -1 ? rawTarget : rawTarget.slice(0, queryAt);
    const url = new URL(`http://localhost/${queryAt === -1 ? '' : rawTarget.slice(queryAt)}`);
    if (!rawPath.startsWith('/')) throw new HttpRequestError(400, 'request target must be a path');
    if (!publicPaths.test(rawPath)) assertAuthorized(options.token, req, url);
    const match = routes.match(req.method ?? 'GET', rawPath);
    if (match.kind === 'not-found') throw new HttpRequestError(404, `no route for ${req.method} ${rawPath}`);
    if (match.kind === 'method-not-allowed') {
      res.setHeader('allow', match.allowed.join(', '));
      throw new HttpRequestError(405, `${req.method} is not allowed on ${rawPath}`, { details: { allowed: match.allowed } });
    }
    await match.handler({ req, res, url, params: match.params });
  };

  const server = createServer((req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    handle(req, res).catch((thrown: unknown) => {
      const error = sendError(res, thrown);
      const status = res.statusCode;
      if (status >= 500) logger.error({ err: thrown, method: req.method, path: req.url, code: error.code }, 'request failed');
      else logger.debug({ method: req.method, path: req.url, status, code: error.code }, 'request refused');
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Malformed HTTP never reaches the handler; answer it in the same envelope and hang up.
  server.on('clientError', (error, socket) => {
    if (!socket.writable) return socket.destroy();
    const body = JSON.stringify({ ok: false, error: { code: 'INVALID_COMMAND', message: `malformed HTTP request: ${error.message}`, recoverable: false } });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });

  const live = attachLiveFeedSocket(server, {
    feed: options.feed,
    ...(options.token === undefined ? {} : { token: options.token }),
    instanceId: options.health.instanceId,
    logger,
  });
  const unsubscribeMetrics = options.feed.subscribe((msg) => metrics.observe(msg));

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, 'http server listening');

  return {
    url,
    port,
    async close() {
      unsubscribeMetrics();
      await live.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // In-flight requests get a moment to finish, then their sockets are cut.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      logger.info('http server closed');
    },
  };
}
