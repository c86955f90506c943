/**
 * The port the event side publishes through. Two kinds of message cross it:
 * durable ones (state transitions from the outbox, carrying a stable id so a re-send is
 * deduplicated) and ephemeral ones (progress ticks, dropped rather than queued when the
 * transport is down). Implementations: NATS (JetStream or plain) and an in-memory bus.
 */
export type EventTransportKind = 'nats-jetstream' | 'nats' | 'memory';

export interface EventTransport {
  readonly kind: EventTransportKind;
  /**
   * Resolves once the message is stored (JetStream ack) or handed to the server (plain
   * NATS, after a flush). Rejects when that cannot be confirmed: the caller retries with
   * the same `msgId`, which the transport uses to drop duplicates.
   */
  publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void>;
  /** Fire and forget; silently dropped while disconnected. */
  publishEphemeral(subject: string, payload: Uint8Array): void;
  isConnected(): boolean;
  close(): Promise<void>;
}
