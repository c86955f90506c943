/**
 * The WebSocket side of the simulated server: sockets by sid, the status hello, the
 * feature_flags handshake and per-sid delivery. Like server.py the map holds one socket per sid,
 * and closing a socket deletes its sid's entry whoever holds it now — the duplicate-clientId
 * pitfall of protocol §5.2 is reproduced on purpose, so clients are tested against it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export const serverFeatureFlags = { supports_preview_metadata: true, max_upload_size: 104857600 };

interface SocketState {
  sid: string;
  supportsPreviewMetadata: boolean;
  muted: boolean;
}

export interface HelloSource {
  queueRemaining(): number;
  /** The node currently executing for a prompt whose client is `sid`, if any. */
  executingNodeFor(sid: string): string | null;
}

export class SocketHub {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly bySid = new Map<string, WebSocket>();
  private readonly states = new WeakMap<WebSocket, SocketState>();
  private readonly all = new Set<WebSocket>();

  constructor(private readonly hello: HelloSource) {}

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, url.searchParams.get('clientId')));
  }

  private accept(ws: WebSocket, clientId: string | null): void {
    const sid = clientId || randomUUID().replace(/-/g, '');
    const state: SocketState = { sid, supportsPreviewMetadata: false, muted: false };
    this.states.set(ws, state);
    this.all.add(ws);
    this.bySid.set(sid, ws);
    let first = true;
    ws.on('message', (data, isBinary) => {
      if (!first) return;
      first = false;
      if (isBinary) return;
      try {
        const msg = JSON.parse(data.toString()) as { type?: unknown; data?: Record<string, unknown> };
        if (msg.type === 'feature_flags' && typeof msg.data === 'object' && msg.data !== null) {
          state.supportsPreviewMetadata = msg.data['supports_preview_metadata'] === true;
          this.sendTo(ws, { type: 'feature_flags', data: serverFeatureFlags });
        }
      } catch {
        // Anything else a client sends is ignored, as by the real server.
      }
    });
    ws.on('close', () => {
      this.all.delete(ws);
      this.bySid.delete(sid);
    });
    ws.on('error', () => undefined);
    this.sendTo(ws, { type: 'status', data: { status: { exec_info: { queue_remaining: this.hello.queueRemaining() } }, sid } });
    const node = this.hello.executingNodeFor(sid);
    if (node !== null) this.sendTo(ws, { type: 'executing', data: { node } });
  }

  private sendTo(ws: WebSocket, payload: unknown): void {
    const state = this.states.get(ws);
    if (!state || state.muted || ws.readyState !== ws.OPEN) return;
    ws.send(typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
  }

  /** send_sync(event, data, sid): to that sid's socket, or to every mapped socket when sid is null. */
  send(type: string, data: unknown, sid: string | null): void {
    const text = JSON.stringify({ type, data });
    this.sendRaw(text, sid);
  }

  sendRaw(payload: string | Buffer, sid: string | null): void {
    if (sid === null) {
      for (const ws of this.bySid.values()) this.sendTo(ws, payload);
      return;
    }
    const ws = this.bySid.get(sid);
    if (ws) this.sendTo(ws, payload);
  }

  /** Whether some socket currently receives the messages of `sid`. */
  isMapped(sid: string): boolean {
    return this.bySid.has(sid);
  }

  /** Whether the socket of `sid` negotiated binary event 4 previews. */
  supportsPreviewMetadata(sid: string): boolean {
    const ws = this.bySid.get(sid);
    return ws ? (this.states.get(ws)?.supportsPreviewMetadata ?? false) : false;
  }

  /** Fault: keep TCP open, send nothing, read nothing (so pings go unanswered). */
  muteAll(): void {
    for (const ws of this.all) {
      const state = this.states.get(ws);
      if (state) state.muted = true;
      ws.pause();
    }
  }

  /** Fault / restart: drop every socket without a close frame. */
  terminateAll(): void {
    for (const ws of this.all) ws.terminate();
    this.all.clear();
    this.bySid.clear();
  }

  rejectUpgrade(socket: Duplex): void {
    socket.destroy();
  }

  close(): void {
    this.terminateAll();
    this.wss.close();
  }
}
