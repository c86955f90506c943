/** An in-memory JobStore with the port's semantics (request_id dedupe, QUEUE_FULL, seq per job). */
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { finalStates, type JobState } from '../../src/contracts/job-view.js';
import {
  initialJobRow,
  type CreateJobOutcome,
  type JobEventRow,
  type JobListFilter,
  type JobPatch,
  type JobRow,
  type JobStore,
  type NewJob,
  type NewJobEvent,
} from '../../src/contracts/job-store-port.js';

const clone = <T>(v: T): T => structuredClone(v);

export class FakeJobStore implements JobStore {
  readonly rows = new Map<string, JobRow>();
  readonly events: JobEventRow[] = [];
  private nextEventId = 1;
  /** Makes the next recordTransition calls wait until released (to test ordering/durability). */
  gate: Promise<void> | null = null;

  async createJob(job: NewJob, event: NewJobEvent, limits: { maxQueueSize: number }): Promise<CreateJobOutcome> {
    if (job.request_id !== null) {
      const existing = [...this.rows.values()].find((r) => r.conversation_id === job.conversation_id && r.request_id === job.request_id);
      if (existing) return { job: clone(existing), created: false };
    }
    const unfinished = [...this.rows.values()].filter((r) => !finalStates.has(r.status)).length;
    if (unfinished >= limits.maxQueueSize) throw new ChorusError(ErrorCode.QUEUE_FULL, `queue full (${limits.maxQueueSize})`);
    const row: JobRow = initialJobRow(clone(job));
    this.rows.set(job.id, row);
    this.events.push({ id: this.nextEventId++, job_id: job.id, seq: 1, ...clone(event), published_at: null });
    return { job: clone(row), created: true };
  }

  async recordTransition(jobId: string, patch: JobPatch, event: NewJobEvent): Promise<{ seq: number }> {
    if (this.gate) await this.gate;
    const row = this.rows.get(jobId);
    if (!row) throw new ChorusError(ErrorCode.JOB_NOT_FOUND, jobId);
    const seq = row.last_seq + 1;
    this.rows.set(jobId, { ...row, ...clone(patch), last_seq: seq, updated_at: event.at } as JobRow);
    this.events.push({ id: this.nextEventId++, job_id: jobId, seq, ...clone(event), published_at: null });
    return { seq };
  }

  async getJob(jobId: string) {
    const row = this.rows.get(jobId);
    return row ? clone(row) : undefined;
  }
  async findByRequestId(conversationId: string, requestId: string) {
    return [...this.rows.values()].find((r) => r.conversation_id === conversationId && r.request_id === requestId);
  }
  private filter(f: JobListFilter = {}) {
    return [...this.rows.values()].filter(
      (r) =>
        (!f.states || f.states.includes(r.status)) &&
        (!f.conversationId || r.conversation_id === f.conversationId) &&
        (!f.character || r.character === f.character) &&
        (!f.idPrefix || r.id.startsWith(f.idPrefix)),
    );
  }
  async listJobs(f: JobListFilter = {}) {
    return this.filter(f)
      .slice(f.offset ?? 0, (f.offset ?? 0) + (f.limit ?? 50))
      .map(clone);
  }
  async countJobs(f: JobListFilter = {}) {
    return this.filter(f).length;
  }
  async listUnfinished() {
    return [...this.rows.values()].filter((r) => !finalStates.has(r.status)).map(clone);
  }
  async listRegenerations(jobIds: readonly string[]) {
    const bySource = new Map<string, string[]>();
    for (const row of this.rows.values()) {
      const source = row.regenerated_from;
      if (source && jobIds.includes(source)) bySource.set(source, [...(bySource.get(source) ?? []), row.id]);
    }
    return bySource;
  }
  async countByState(f: Omit<JobListFilter, 'limit' | 'offset' | 'states'> = {}) {
    const counts: Partial<Record<JobState, number>> = {};
    for (const row of this.filter(f)) counts[row.status] = (counts[row.status] ?? 0) + 1;
    return counts;
  }
  async listEvents(jobId: string) {
    return this.events.filter((e) => e.job_id === jobId).map(clone);
  }
  async listUnpublished(limit: number) {
    return this.events.filter((e) => e.published_at === null).slice(0, limit);
  }
  async countUnpublished() {
    return this.events.filter((e) => e.published_at === null).length;
  }
  async markPublished(ids: number[], at: string) {
    for (const e of this.events) if (ids.includes(e.id)) e.published_at = at;
  }
  async close() {}
}
