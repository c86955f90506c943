/** In-process notices of the JobService (CLI progress bar, inspector): typed listeners. */
import { EventEmitter } from 'node:events';
import type { JobServiceEventMap } from '../contracts/job-notices.js';

export type { JobProgressNotice, JobServiceEventMap, JobTransitionNotice } from '../contracts/job-notices.js';

export class JobServiceEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof JobServiceEventMap>(name: K, listener: (notice: JobServiceEventMap[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  emit<K extends keyof JobServiceEventMap>(name: K, notice: JobServiceEventMap[K]): void {
    // A throwing listener must not break the job's persistence chain.
    try {
      this.emitter.emit(name, notice);
    } catch {
      /* listeners own their errors */
    }
  }
}
