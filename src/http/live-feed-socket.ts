/**
 * WS /api/live: every transition, progress tick and (throttled) sampler preview, as JSON
 * text frames, for the page. One feed subscription for all clients. A slow client loses
 * progress ticks and previews first (they
 * are ephemeral anyway) and is dropped if even transitions pile up; it reloads on reconnect.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import type { FeedMessage, JobFeed } from './ports.js';

const progressDropBytes = 512 * 1024;
const disconnectBytes = 8 * 1024 * 1024;
const pingIntervalMs = 15_000;

export interface LiveFeedSocket {
  /** Takes over an upgrade the server has already checked (Host, Origin, token). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  clientCount(): number;
  close(): Promise<void>;
}

export function createLiveFeedSocket(options: { feed: JobFeed; instanceId: string; logger: Logger }): LiveFeedSocket {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  const alive = new WeakMap<WebSocket, boolean>();
  wss.on('connection', (ws: WebSocket) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', (error) => options.logger.debug({ err: error }, 'live feed client error'));
    // Clients only listen; anything they send is ignored.
    ws.send(JSON.stringify({ type: 'hello', instance_id: options.instanceId, at: new Date().toISOString() }));
  });

  const broadcast = (msg: FeedMessage) => {
    const text = JSON.stringify(msg);
    for (const ws of wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > disconnectBytes) {
        ws.terminate();
        continue;
      }
      // Ephemeral ticks and previews are the first to go when a client falls behind.
      if (msg.type !== 'transition' && ws.bufferedAmount > progressDropBytes) continue;
      ws.send(text);
    }
  };
  const unsubscribe = options.feed.subscribe((msg) => {
    try {
      broadcast(msg);
    } catch (error) {
      options.logger.warn({ err: error }, 'live feed broadcast failed');
    }
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  return {
    handleUpgrade: (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)),
    clientCount: () => wss.clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger);
        unsubscribe();
        for (const ws of wss.clients) ws.close(1001, 'server shutting down');
        // Clients that do not answer the close handshake promptly are cut.
        const cut = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
        }, 1000);
        cut.unref();
        wss.close(() => {
          clearTimeout(cut);
          resolve();
        });
      }),
  };
}
