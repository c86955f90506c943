/** In-process notices of the JobService (CLI progress bar, inspector): typed listeners. */
import type { JobServiceEventMap } from '../contracts/job-notices.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';

export type { JobProgressNotice, JobServiceEventMap, JobTransitionNotice } from '../contracts/job-notices.js';

type Listener = (notice: never) => void;

export class JobServiceEvents {
  private readonly listeners = new Map<keyof JobServiceEventMap, Set<Listener>>();

  constructor(private readonly logger: Pick<StructuredLogger, 'error'> = silentLogger) {}

  on<K extends keyof JobServiceEventMap>(name: K, listener: (notice: JobServiceEventMap[K]) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    this.listeners.set(name, set);
    set.add(listener as Listener);
    return () => void set.delete(listener as Listener);
  }

  /**
   * Every listener hears every notice: one that throws is logged and skipped, never allowed
   * to starve the ones after it or to break the job's persistence chain.
   */
  emit<K extends keyof JobServiceEventMap>(name: K, notice: JobServiceEventMap[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        (listener as (n: JobServiceEventMap[K]) => void)(notice);
      } catch (error) {
        this.logger.error({ err: error, event: name, job_id: notice.jobId }, 'a job notice listener threw; the other listeners still ran');
      }
    }
  }
}
