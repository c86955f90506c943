import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { decodeBinaryFrame, type BinaryFrame } from './protocol/binary-frame.js';
import { parseWsMessage } from './protocol/parse-ws-message.js';
import type { ComfyWsMessage } from './protocol/ws-message-schemas.js';
import { backoffDelayMs, type BackoffPolicy } from './reconnect-backoff.js';

export type SocketState = 'open' | 'connecting' | 'closed';

export interface ComfySocketOptions {
  /** The ComfyUI base URL (http[s]://host:port[/prefix]). */
  url: string;
  clientId: string;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  backoff?: BackoffPolicy;
  /** Negotiate `supports_preview_metadata` so previews carry their prompt id (0.3.45+). */
  previewMetadata?: boolean;
}

export interface ComfySocketEvents {
  message: [ComfyWsMessage];
  binary: [BinaryFrame];
  /** `reconnected` is true for every open after the first one. */
  open: [{ reconnected: boolean }];
  close: [{ code: number; reason: string }];
  /** A connection attempt ended before opening (refused, handshake failed); a retry follows. */
  attemptFailed: [{ attempt: number }];
  error: [Error];
}

export function socketUrlOf(baseUrl: string, clientId: string): string {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  url.search = new URLSearchParams({ clientId }).toString();
  return url.toString();
}

/**
 * The one WebSocket of a backend, kept open: reconnects with exponential backoff and full
 * jitter, pings to notice a silently dead peer, decodes text and binary frames. A new socket
 * is only opened after the previous one has fully closed: a second socket with the same
 * clientId goes deaf when the first one's close is processed (protocol §5.2).
 */
export class ComfySocket extends EventEmitter<ComfySocketEvents> {
  readonly clientId: string;
  private readonly url: string;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly previewMetadata: boolean;
  private socket: WebSocket | undefined;
  private currentState: SocketState = 'closed';
  private attempt = 0;
  private opens = 0;
  private stopped = true;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastSignOfLifeAt = 0;
  /** Set by reconnectNow(): the next close reconnects at once instead of backing off. */
  private reopenAtOnce = false;

  constructor(options: ComfySocketOptions) {
    super();
    this.clientId = options.clientId;
    this.url = socketUrlOf(options.url, options.clientId);
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000;
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
    this.previewMetadata = options.previewMetadata ?? true;
  }

  get state(): SocketState {
    return this.currentState;
  }

  /** Counts opens: tells apart what one connection heard from what the next one did. */
  get connectionNumber(): number {
    return this.opens;
  }

  /**
   * Closes the open socket and opens a new one with the same clientId as soon as the old one
   * is gone (in that order: the server's cleanup of the old socket would otherwise remove
   * the new one's registration). Used when the server stopped routing our messages to us.
   */
  reconnectNow(): boolean {
    const socket = this.socket;
    if (this.stopped || this.currentState !== 'open' || !socket) return false;
    this.reopenAtOnce = true;
    // Not to be trusted from now on: prompts sent meanwhile are followed by polling until the new one opens.
    this.currentState = 'connecting';
    socket.close(1000, 'reconnecting: no messages for our prompts');
    setTimeout(() => socket.terminate(), Math.min(1_000, this.heartbeatTimeoutMs)).unref();
    return true;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes for good: no reconnect, timers cleared, resolves once the socket is gone. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) {
      this.currentState = 'closed';
      return;
    }
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000, 'client closing');
      // A peer that never answers the close handshake must not hold us up.
      setTimeout(() => socket.terminate(), Math.min(1_000, this.heartbeatTimeoutMs)).unref();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    this.currentState = 'connecting';
    const socket = new WebSocket(this.url, { handshakeTimeout: this.heartbeatTimeoutMs });
    this.socket = socket;
    socket.on('open', () => this.onOpen(socket));
    socket.on('message', (data, isBinary) => this.onData(data, isBinary));
    socket.on('pong', () => (this.lastSignOfLifeAt = Date.now()));
    socket.on('error', (error) => {
      // Errors are followed by 'close'; reported for logging only.
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private onOpen(socket: WebSocket): void {
    this.attempt = 0;
    this.opens += 1;
    this.currentState = 'open';
    this.lastSignOfLifeAt = Date.now();
    if (this.previewMetadata) {
      // Must be the first message we send, or the server ignores it (§5.3).
      socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    }
    this.startHeartbeat(socket);
    this.emit('open', { reconnected: this.opens > 1 });
  }

  private onData(data: WebSocket.RawData, isBinary: boolean): void {
    this.lastSignOfLifeAt = Date.now();
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) this.emit('binary', decodeBinaryFrame(buffer));
    else this.emit('message', parseWsMessage(buffer.toString('utf8')));
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.stopHeartbeat();
    const wasOpen = this.currentState === 'open' || this.reopenAtOnce;
    this.currentState = this.stopped ? 'closed' : 'connecting';
    if (wasOpen || this.stopped) this.emit('close', { code, reason });
    else this.emit('attemptFailed', { attempt: this.attempt });
    if (this.stopped) {
      this.currentState = 'closed';
      return;
    }
    const delay = this.reopenAtOnce ? 0 : backoffDelayMs(this.attempt, this.backoff);
    this.reopenAtOnce = false;
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private startHeartbeat(socket: WebSocket): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(
      () => {
        if (Date.now() - this.lastSignOfLifeAt > this.heartbeatTimeoutMs) {
          // No pong (nor anything else) for too long: the peer is gone without a FIN.
          socket.terminate();
          return;
        }
        try {
          socket.ping();
        } catch {
          socket.terminate();
        }
      },
      Math.min(this.heartbeatIntervalMs, this.heartbeatTimeoutMs),
    );
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }
}
