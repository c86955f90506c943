/**
 * Serialises each job's writes, in order, and tells waiting I/O actors when the transition
 * that started them is durable (crash-safety rule 1: the prompt id is stored before /prompt
 * is called, the decision to delete before /queue is touched, and so on).
 */
import type { StructuredLogger } from '../contracts/structured-logger.js';

export class JobTransitionWriter {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, unknown>();

  constructor(private readonly logger: StructuredLogger) {}

  /** Queues `write` after every earlier write of this job. */
  enqueue(jobId: string, write: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(jobId) ?? Promise.resolve();
    const next = previous.then(write).then(
      () => {
        this.failures.delete(jobId);
      },
      (error: unknown) => {
        this.failures.set(jobId, error);
        this.logger.error({ job_id: jobId, err: error }, 'persisting a job transition failed');
      },
    );
    this.tails.set(jobId, next);
    void next.then(() => {
      if (this.tails.get(jobId) === next) this.tails.delete(jobId);
    });
    return next;
  }

  /**
   * Resolves once every write queued for the job so far is committed; rejects when the
   * last one failed, so an I/O step never runs on a decision the database does not hold.
   * Waits one microtask first: xstate starts an invoked actor just before it notifies
   * observers of the transition that invoked it, so the write is queued right after.
   */
  async durable(jobId: string): Promise<void> {
    await Promise.resolve();
    await this.tails.get(jobId);
    const failure = this.failures.get(jobId);
    if (failure !== undefined) throw failure;
  }

  /** Whether the job's last write failed (its stored row is behind its actor). */
  lastWriteFailed(jobId: string): boolean {
    return this.failures.has(jobId);
  }

  /** Every job's pending writes. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
