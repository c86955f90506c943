export type { EventTransport, EventTransportKind } from './event-transport.js';
export { InMemoryEventBus, type BusHandler, type BusMessage } from './in-memory-event-bus.js';
export { connectNats, natsConnectionOptions, type NatsConfig, type ConnectNatsOptions } from './nats-connection.js';
export { NatsEventTransport, ensureStream, type EventStreamConfig, type NatsEventTransportOptions } from './nats-event-transport.js';
export { OutboxRelay, type OutboxRelayOptions } from './outbox-relay.js';
export { LeaseGatedOutboxStore, outboxRelayLease } from './lease-gated-outbox-store.js';
export { ProgressPublisher, type ProgressValue, type ProgressJobRef, type ProgressEventData, type ProgressPublisherOptions } from './progress-publisher.js';
export {
  eventSubject,
  allEventsSubject,
  conversationEventsSubject,
  jobEventsSubject,
  encodeSubjectToken,
  decodeSubjectToken,
  subjectMatches,
} from './event-subjects.js';
export {
  toCloudEvent,
  encodeCloudEvent,
  eventName,
  eventId,
  cloudEventSchema,
  CLOUD_EVENT_TYPE_PREFIX,
  type CloudEvent,
  type JobEventData,
} from './cloud-event.js';
