/**
 * The service's HTTP face: JSON API, health, metrics, output files, the live feed and the
 * inspector page, on plain node:http. Every request ends in a reply — a thrown error, a
 * bad body or an unknown route all become the structured error envelope — so no request
 * can take the process down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { isLoopbackHost } from '../config/index.js';
import { causeForLog, ChorusError, ErrorCode, publicErrorFor } from '../errors/index.js';
import { createSilentLogger, type Logger } from '../logging/logger.js';
import { assertAuthorized } from './bearer-token-guard.js';
import { addHealthRoutes } from './health-routes.js';
import { HttpRequestError, rejectUpgrade, sendError, sendOk } from './http-error-envelope.js';
import { addJobApiRoutes } from './job-api-routes.js';
import { createLiveFeedSocket } from './live-feed-socket.js';
import { architectureDiagram, diagramFromMachine } from './machine-diagram-model.js';
import { addOutputFileRoute } from './output-file-route.js';
import type { HealthSources, JobCommandHandler, JobFeed } from './ports.js';
import { createRequestGuard } from './request-guard.js';
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
  /** Origins besides the server's own that may send requests (`http.allowed_origins`). */
  allowedOrigins?: readonly string[];
  /** Host names besides the bound and loopback ones (`http.allowed_hosts`). */
  allowedHosts?: readonly string[];
  /** Start without a token on an address other machines can reach (`http.allow_unauthenticated`). */
  allowUnauthenticated?: boolean;
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
const publicPaths = /^\/(|healthz|[A-Za-z0-9_-]+\.(html|js|css|svg|ico))$/;

/** The request target as logged: never its query string, which may hold `?token=`. */
function pathOf(req: IncomingMessage): string {
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  return queryAt === -1 ? target : `${target.slice(0, queryAt)}?…`;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const logger = (options.logger ?? createSilentLogger()).child({ component: 'http' });
  const host = options.host ?? '127.0.0.1';
  const authenticated = options.token !== undefined && options.token !== '';
  if (!authenticated && !isLoopbackHost(host) && options.allowUnauthenticated !== true) {
    throw new ChorusError(ErrorCode.CONFIG_INVALID, `http.host is ${host}, an address other machines can reach, and http.token is not set`, {
      details: { host },
      suggestion:
        'Set http.token (CHORUS_VISUAL_HTTP_TOKEN), bind to 127.0.0.1, or, when something else guards the port (a firewall, a container published on loopback), set http.allow_unauthenticated: true.',
    });
  }
  const guard = createRequestGuard({ boundHost: host, allowedOrigins: options.allowedOrigins ?? [], allowedHosts: options.allowedHosts ?? [] });
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
  // The page's own files are left out: a caller that missed a route wants the API's.
  const apiRoutes = routes.list().filter((route) => !/ \/([\w-]+\.\w+)?$/.test(route));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const rawTarget = req.url ?? '/';
    const queryAt = rawTarget.indexOf('?');
    // Routing uses the raw path: URL parsing would quietly fold `/files/../x` into `/x`.
    const rawPath = queryAt === -1 ? rawTarget : rawTarget.slice(0, queryAt);
    const url = new URL(`http://localhost/${queryAt === -1 ? '' : rawTarget.slice(queryAt)}`);
    if (!rawPath.startsWith('/'))
      throw new HttpRequestError(400, 'request target must be a path', { suggestion: 'Send a path starting with "/", such as /api/jobs.' });
    // Before anything else, on every route (the page and /files too): what a web page could forge.
    guard.checkRequest(req);
    if (!publicPaths.test(rawPath)) assertAuthorized(options.token, req, url);
    const match = routes.match(req.method ?? 'GET', rawPath);
    if (match.kind === 'not-found')
      throw new HttpRequestError(404, `no route for ${req.method} ${rawPath}`, {
        details: { routes: apiRoutes },
        suggestion: "This server has no such route: details.routes lists those it answers (the README's HTTP API table says what each does).",
      });
    if (match.kind === 'method-not-allowed') {
      res.setHeader('allow', match.allowed.join(', '));
      throw new HttpRequestError(405, `${req.method} is not allowed on ${rawPath}`, {
        details: { allowed: match.allowed },
        suggestion: `Use ${match.allowed.join(' or ')} on this path (the Allow header says the same).`,
      });
    }
    guard.checkBodyType(req);
    await match.handler({ req, res, url, params: match.params });
  };

  /** One line per failed request; a bug's real cause is logged under the id its caller got. */
  const logFailure = (req: IncomingMessage, status: number, thrown: unknown, error: ChorusError, correlationId: string | undefined) => {
    const reason = (error.details as { reason?: unknown } | undefined)?.reason;
    const fields = { method: req.method, path: pathOf(req), status, code: error.code, ...(typeof reason === 'string' ? { reason } : {}) };
    if (status >= 500) logger.error({ ...fields, err: causeForLog(thrown), ...(correlationId ? { correlation_id: correlationId } : {}) }, 'request failed');
    else logger.debug(fields, 'request refused');
  };

  const server = createServer((req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    handle(req, res).catch((thrown: unknown) => {
      const { error, correlationId } = publicErrorFor(thrown, `${req.method} ${pathOf(req).replace(/\?…$/, '')}`);
      sendError(res, error);
      logFailure(req, res.statusCode, thrown, error, correlationId);
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

  const live = createLiveFeedSocket({ feed: options.feed, instanceId: options.health.instanceId, logger });
  /** WebSocket endpoints by path; every upgrade passes the same guard and token check first. */
  const upgrades = new Map([['/api/live', live.handleUpgrade]]);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      guard.checkUpgrade(req);
      const url = new URL(req.url ?? '/', 'http://localhost');
      const endpoint = upgrades.get(url.pathname);
      if (!endpoint)
        throw new HttpRequestError(404, `no WebSocket endpoint at ${url.pathname}`, {
          suggestion: `Connect to ${[...upgrades.keys()].join(' or ')}.`,
        });
      assertAuthorized(options.token, req, url);
      endpoint(req, socket, head);
    } catch (thrown) {
      const { error, correlationId } = publicErrorFor(thrown, 'WebSocket upgrade');
      const status = rejectUpgrade(socket, error);
      logFailure(req, status, thrown, error, correlationId);
    }
  });
  const unsubscribeMetrics = options.feed.subscribe((msg) => metrics.observe(msg));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  guard.listening(port);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const allowed = guard.describe();
  const listening = { url, authentication: authenticated ? 'bearer token' : 'off', allowed_hosts: allowed.hosts, allowed_origins: allowed.origins };
  if (!authenticated && !isLoopbackHost(host))
    logger.warn(listening, 'http server listening on a non-loopback address without authentication (http.allow_unauthenticated)');
  else logger.info(listening, 'http server listening');

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
