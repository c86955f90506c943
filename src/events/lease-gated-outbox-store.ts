/**
 * The outbox as the relay of one of several instances sees it: it is read only while this
 * instance holds the `outbox-relay` lease, so one relay at a time publishes and each job's
 * events leave once and in order (the JetStream message id stays the backstop for a lease
 * handed over mid-pass). Renewed on every read, so a relay that stops reading loses it
 * within the TTL and another instance's relay takes over.
 */
import type { InstanceCoordinator } from '../contracts/instance-coordination-port.js';
import type { JobEventRow, OutboxStore } from '../contracts/job-store-port.js';

export const outboxRelayLease = 'outbox-relay';

export class LeaseGatedOutboxStore implements OutboxStore {
  constructor(
    private readonly store: OutboxStore,
    private readonly coordinator: Pick<InstanceCoordinator, 'holdLease'>,
    private readonly instanceId: string,
    private readonly leaseTtlMs: number,
  ) {}

  async listUnpublished(limit: number): Promise<JobEventRow[]> {
    const held = await this.coordinator.holdLease(outboxRelayLease, this.instanceId, this.leaseTtlMs);
    return held ? this.store.listUnpublished(limit) : [];
  }

  markPublished(eventIds: number[], at: string) {
    return this.store.markPublished(eventIds, at);
  }

  getJob(jobId: string) {
    return this.store.getJob(jobId);
  }
}
