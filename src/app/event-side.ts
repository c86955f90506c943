/**
 * The event side of a running app: the outbox relay that publishes every persisted
 * transition, and the throttled progress publisher fed by the job service's notices.
 */
import { finalStates } from '../contracts/index.js';
import type { JobRuntime } from './job-runtime.js';
import { LeaseGatedOutboxStore, OutboxRelay, ProgressPublisher, type EventTransport } from '../events/index.js';
import type { Logger } from '../logging/logger.js';

export interface EventSide {
  relay: OutboxRelay;
  progress: ProgressPublisher;
  /** Stops listening to the job service (the relay and publisher are stopped by their owner). */
  detach(): void;
}

export function createEventSide(options: {
  runtime: JobRuntime;
  transport: EventTransport;
  prefix: string;
  progressPerSecond: number;
  instanceId: string;
  logger: Logger;
}): EventSide {
  const { runtime, transport, prefix, instanceId, logger } = options;
  // Several instances on one database: one relay at a time publishes (a lease), and it
  // looks often, since most rows it publishes were written by other instances (no kick).
  const coordination = runtime.coordination;
  const relay = new OutboxRelay({
    store: coordination ? new LeaseGatedOutboxStore(runtime.store, coordination.coordinator, instanceId, coordination.leaseTtlMs) : runtime.store,
    ...(coordination ? { pollMs: 100 } : {}),
    transport,
    subjectPrefix: prefix,
    source: `chorus-visual/${instanceId}`,
    logger: logger.child({ component: 'outbox' }),
  });
  const progress = new ProgressPublisher(transport, prefix, options.progressPerSecond, { source: `chorus-visual/${instanceId}` });
  const offTransition = runtime.service.on('transition', (notice) => {
    if (finalStates.has(notice.job.state)) progress.forget(notice.jobId);
  });
  const offProgress = runtime.service.on('progress', (notice) => {
    progress.publish({ id: notice.jobId, conversation_id: notice.conversationId }, notice.progress);
  });
  return {
    relay,
    progress,
    detach: () => {
      offTransition();
      offProgress();
    },
  };
}
