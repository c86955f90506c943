/** In-process notices of the job service (CLI progress bar, inspector, progress events). */
import type { JobProgress, JobView } from './job-view.js';

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
  /** Progress events are addressed by conversation, like every event of the job. */
  conversationId: string;
  progress: JobProgress;
}

/** A sampler preview ComfyUI streamed for a running job (throttled; never stored). */
export interface JobPreviewNotice {
  jobId: string;
  conversationId: string;
  /** The node that drew it, when ComfyUI said (metadata previews). */
  node: string | null;
  mediaType: string;
  bytes: Buffer;
}

export interface JobServiceEventMap {
  /** After the transition is committed (never before). */
  transition: JobTransitionNotice;
  /** Ephemeral ComfyUI progress; not persisted. */
  progress: JobProgressNotice;
  /** Ephemeral: the latest sampler preview, at most a few per second per job. */
  preview: JobPreviewNotice;
}
