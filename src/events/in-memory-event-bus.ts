/**
 * An EventTransport inside one process: for tests and for running without NATS. Routes with
 * NATS wildcard rules and drops durable re-sends with a seen msgId (like JetStream's
 * duplicate window), so code tested against it behaves as it will on NATS.
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { EventTransport } from './event-transport.js';
import { subjectMatches } from './event-subjects.js';

export interface BusMessage {
  subject: string;
  payload: Uint8Array;
  durable: boolean;
  msgId?: string;
}

export type BusHandler = (message: BusMessage) => void;

/** Remembered msgIds: bounded, oldest forgotten first (a duplicate window by count). */
const DEFAULT_DEDUPE_WINDOW = 100_000;

export class InMemoryEventBus implements EventTransport {
  readonly kind = 'memory' as const;
  private readonly subscriptions = new Set<{ pattern: string; handler: BusHandler }>();
  private readonly seenIds = new Set<string>();
  private connected = true;
  private closed = false;

  constructor(private readonly dedupeWindow = DEFAULT_DEDUPE_WINDOW) {}

  subscribe(subjectPattern: string, handler: BusHandler): () => void {
    const entry = { pattern: subjectPattern, handler };
    this.subscriptions.add(entry);
    return () => {
      this.subscriptions.delete(entry);
    };
  }

  async publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void> {
    if (!this.isConnected()) {
      throw new ChorusError(ErrorCode.EVENTS_UNAVAILABLE, 'event bus is disconnected', { recoverable: true });
    }
    if (this.seenIds.has(msgId)) return;
    this.seenIds.add(msgId);
    if (this.seenIds.size > this.dedupeWindow) {
      const oldest = this.seenIds.values().next().value;
      if (oldest !== undefined) this.seenIds.delete(oldest);
    }
    this.deliver({ subject, payload, durable: true, msgId });
  }

  publishEphemeral(subject: string, payload: Uint8Array): void {
    if (!this.isConnected()) return;
    this.deliver({ subject, payload, durable: false });
  }

  /** Simulates an outage: durable publishes reject, ephemeral ones are dropped. */
  setConnected(connected: boolean): void {
    this.connected = connected;
  }

  isConnected(): boolean {
    return this.connected && !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscriptions.clear();
  }

  private deliver(message: BusMessage): void {
    for (const { pattern, handler } of [...this.subscriptions]) {
      if (!subjectMatches(pattern, message.subject)) continue;
      try {
        handler(message);
      } catch {
        // A subscriber's bug must not break the publisher (NATS would not tell us either).
      }
    }
  }
}
