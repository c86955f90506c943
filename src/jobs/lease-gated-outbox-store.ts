/**
 * The JobStore as the outbox relay of one of several instances sees it: the outbox is read
 * only while this instance holds the `outbox-relay` lease, so one relay at a time publishes
 * and each job's events leave once and in order (the JetStream message id stays the
 * backstop for a lease handed over mid-pass). Renewed on every read, so a relay that stops
 * reading loses it within the TTL and another instance's relay takes over.
 */
import type { InstanceCoordinator } from '../contracts/instance-coordination-port.js';
import type { JobEventRow, JobListFilter, JobPatch, JobStore, NewJob, NewJobEvent } from '../contracts/job-store-port.js';

export const outboxRelayLease = 'outbox-relay';

export class LeaseGatedOutboxStore implements JobStore {
  constructor(
    private readonly store: JobStore,
    private readonly coordinator: InstanceCoordinator,
    private readonly instanceId: string,
    private readonly leaseTtlMs: number,
  ) {}

  async listUnpublished(limit: number): Promise<JobEventRow[]> {
    const held = await this.coordinator.holdLease(outboxRelayLease, this.instanceId, this.leaseTtlMs);
    return held ? this.store.listUnpublished(limit) : [];
  }

  createJob(job: NewJob, event: NewJobEvent, limits: { maxQueueSize: number }) {
    return this.store.createJob(job, event, limits);
  }
  recordTransition(jobId: string, patch: JobPatch, event: NewJobEvent) {
    return this.store.recordTransition(jobId, patch, event);
  }
  updateJob(jobId: string, patch: JobPatch) {
    return this.store.updateJob(jobId, patch);
  }
  getJob(jobId: string) {
    return this.store.getJob(jobId);
  }
  findByRequestId(conversationId: string, requestId: string) {
    return this.store.findByRequestId(conversationId, requestId);
  }
  listJobs(filter?: JobListFilter) {
    return this.store.listJobs(filter);
  }
  countJobs(filter?: Omit<JobListFilter, 'limit' | 'offset'>) {
    return this.store.countJobs(filter);
  }
  listUnfinished() {
    return this.store.listUnfinished();
  }
  listEvents(jobId: string) {
    return this.store.listEvents(jobId);
  }
  listRegenerations(jobIds: readonly string[]) {
    return this.store.listRegenerations(jobIds);
  }
  countByState(filter?: Omit<JobListFilter, 'limit' | 'offset' | 'states'>) {
    return this.store.countByState(filter);
  }
  countUnpublished() {
    return this.store.countUnpublished();
  }
  markPublished(eventIds: number[], at: string) {
    return this.store.markPublished(eventIds, at);
  }
  /** The runtime owns the store's lifetime; the relay's view closes nothing. */
  async close(): Promise<void> {}
}
