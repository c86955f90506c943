/**
 * An EventTransport that exists before its connection does. The service must start, take
 * work and run jobs while NATS is still unreachable (events wait in the outbox), so the
 * relay is given this stand-in at once and the real transport is attached when NATS answers.
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { EventTransport, EventTransportKind } from '../events/index.js';

export class DeferredEventTransport implements EventTransport {
  private target: EventTransport | undefined;
  private closed = false;

  constructor(private readonly pendingKind: EventTransportKind) {}

  attach(target: EventTransport): void {
    if (this.closed) {
      void target.close();
      return;
    }
    this.target = target;
  }

  get attached(): boolean {
    return this.target !== undefined;
  }

  get kind(): EventTransportKind {
    return this.target?.kind ?? this.pendingKind;
  }

  publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void> {
    if (!this.target) {
      // Recoverable: the relay keeps the row and tries again with back-off.
      return Promise.reject(new ChorusError(ErrorCode.EVENTS_UNAVAILABLE, 'not connected to NATS yet; the event stays in the outbox', { recoverable: true }));
    }
    return this.target.publishDurable(subject, payload, msgId);
  }

  publishEphemeral(subject: string, payload: Uint8Array): void {
    this.target?.publishEphemeral(subject, payload);
  }

  isConnected(): boolean {
    return this.target?.isConnected() ?? false;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.target?.close();
  }
}
