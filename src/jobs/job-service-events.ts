/** In-process notices of the JobService (CLI progress bar, inspector): typed listeners. */
import { EventEmitter } from 'node:events';
import type { JobProgress } from '../../machines/job-types.js';
import type { JobView } from './job-view.js';

export interface JobTransitionNotice {
  jobId: string;
  seq: number;
  type: string;
  from: string | null;
  to: string;
  job: JobView;
}

export interface JobProgressNotice {
  jobId: string;
  progress: JobProgress;
}

export interface JobServiceEventMap {
  /** After the transition is committed (never before). */
  transition: JobTransitionNotice;
  /** Ephemeral ComfyUI progress; not persisted. */
  progress: JobProgressNotice;
}

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
