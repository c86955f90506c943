/**
 * startSimulator: the HTTP + WebSocket server around a SimulatorCore, with the fault switches,
 * the Origin check ComfyUI applies to browsers, /api aliases, and restart on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { NodeCatalog } from './node-catalog.js';
import { OutputFileNamer } from './output-file-namer.js';
import { RecordingSocket } from './recording-socket.js';
import { SimulatorCore } from './simulator-core.js';
import { handleComfyRoute } from './comfy-routes.js';
import { handleControlRoute } from './control-routes.js';
import { replyEmpty, replyErrorText } from './http-reply.js';
import {
  initialFaultState,
  type SimulatorFaults,
  type SimulatorHandle,
  type SimulatorOptions,
  type SimulatorStats,
  type SimulatorTiming,
} from './simulator-types.js';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** server.py's origin middleware: a browser Origin must name exactly the Host it talks to. */
function originRejected(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (!origin || !host) return false;
  const hostName = host.replace(/:\d+$/, '');
  if (!loopbackHosts.has(hostName)) return false;
  try {
    return new URL(origin).host !== host;
  } catch {
    return true;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolveListen(typeof address === 'object' && address ? address.port : port);
    });
  });
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const host = options.host ?? '127.0.0.1';
  const ownRoot = options.outputDir ? null : mkdtempSync(join(tmpdir(), 'comfy-sim-'));
  const outputDir = resolve(options.outputDir ?? join(ownRoot!, 'output'));
  const dirs = { output: outputDir, input: join(dirname(outputDir), 'input'), temp: join(dirname(outputDir), 'temp') };
  const wipeTemp = () => {
    rmSync(dirs.temp, { recursive: true, force: true });
    mkdirSync(dirs.temp, { recursive: true });
  };
  mkdirSync(dirs.output, { recursive: true });
  mkdirSync(dirs.input, { recursive: true });
  wipeTemp();
  const timing: SimulatorTiming = {
    stepDelayMs: options.stepDelayMs ?? 5,
    nodeDelayMs: options.nodeDelayMs ?? 1,
    defaultSteps: options.defaultSteps ?? 4,
    previews: options.previews ?? true,
    modelLoadMs: { ...(options.modelLoadMs ?? {}) },
  };
  const faultState = initialFaultState();
  const stats: SimulatorStats = { executions: {}, totalExecutions: 0, peakQueueDepth: 0, submissions: 0, modelLoads: 0, modelLoadMs: 0, frees: 0 };
  const counter = { stats };
  const catalog = new NodeCatalog(dirs.input);
  const namer = new OutputFileNamer();
  let core = new SimulatorCore(catalog, dirs, namer, timing, faultState, counter);

  const faults: SimulatorFaults = {
    dropSocketsSilently: () => core.hub.muteAll(),
    closeSockets: () => core.hub.terminateAll(),
    refuseConnections: (on) => {
      faultState.refuseConnections = on;
    },
    failHttp: (status, paths) => {
      faultState.failHttpStatus = status;
      faultState.failHttpPaths = paths ?? null;
    },
    slowHttp: (ms, paths) => {
      faultState.slowHttpMs = ms;
      faultState.slowHttpPaths = paths ?? null;
    },
    succeedWithoutOutputs: (on) => {
      faultState.succeedWithoutOutputs = on;
    },
    failNodeClass: (classType) => {
      faultState.failNodeClass = classType;
    },
    executionDelayMs: (ms) => {
      faultState.executionDelayMs = ms;
    },
    holdExecution: (on) => {
      faultState.holdExecution = on;
    },
    // A real second client over the network, so the takeover goes through the same
    // one-socket-per-sid map (and its cleanup on close) as in server.py.
    async takeOverClientId(clientId) {
      const intruder = await RecordingSocket.open(handle.url, clientId);
      await intruder.waitFor((f) => f.kind === 'text' && f.type === 'status');
      await intruder.close();
      for (let i = 0; i < 200 && core.hub.isMapped(clientId); i++) await new Promise((r) => setTimeout(r, 5));
    },
  };

  const snapshotStats = (): SimulatorStats => ({ ...stats, executions: { ...stats.executions } });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readBody(req);
    if (url.pathname.startsWith('/_sim/')) return handleControlRoute(handle, req.method ?? 'GET', url.pathname, body, res);
    if (faultState.refuseConnections) {
      req.socket.destroy();
      return;
    }
    const path = url.pathname.startsWith('/api/') ? url.pathname.slice(4) : url.pathname;
    const onPaths = (paths: string[] | null) => paths === null || paths.some((p) => p === path || p === url.pathname);
    if (faultState.slowHttpMs > 0 && onPaths(faultState.slowHttpPaths)) await new Promise((r) => setTimeout(r, faultState.slowHttpMs));
    if (faultState.failHttpStatus !== null && onPaths(faultState.failHttpPaths)) {
      return replyErrorText(res, faultState.failHttpStatus);
    }
    if (req.method === 'OPTIONS') return replyEmpty(res, 200); // answered before the origin check [obs T16]
    if (originRejected(req)) return replyEmpty(res, 403);
    await handleComfyRoute(
      core,
      req,
      res,
      path,
      url.searchParams,
      body,
      () => stats.submissions++,
      () => stats.frees++,
    );
  }

  const server = createServer((req, res) => {
    handleRequest(req, res).catch(() => {
      if (!res.headersSent) replyErrorText(res, 500);
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (faultState.refuseConnections || (path !== '/ws' && path !== '/api/ws') || originRejected(req)) {
      socket.destroy();
      return;
    }
    core.hub.handleUpgrade(req, socket, head);
  });

  let port: number;
  try {
    port = await listen(server, options.port ?? 0, host);
  } catch (error) {
    // A port taken: nothing of this start may outlive it (the worker, a temp folder of its own).
    core.kill();
    if (ownRoot) rmSync(ownRoot, { recursive: true, force: true });
    throw error;
  }
  const closeServer = () =>
    new Promise<void>((resolveClose) => {
      server.close(() => resolveClose());
      server.closeAllConnections();
    });

  const handle: SimulatorHandle = {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    outputDir: dirs.output,
    inputDir: dirs.input,
    faults,
    stats: snapshotStats,
    async restart() {
      core.kill();
      await closeServer();
      wipeTemp();
      namer.reset();
      core = new SimulatorCore(catalog, dirs, namer, timing, faultState, counter);
      await listen(server, port, host);
    },
    async close() {
      core.kill();
      await closeServer();
      if (ownRoot) rmSync(ownRoot, { recursive: true, force: true });
    },
  };
  return handle;
}
