import type { ErrorData } from './error-data.js';

/** Top-level job states, exactly as the architecture names them (also `status` in the table). */
export const JobState = {
  queued: 'queued',
  submitted: 'submitted',
  processing: 'processing',
  moving: 'moving',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];
export const finalStates: ReadonlySet<JobState> = new Set([JobState.completed, JobState.failed, JobState.cancelled]);

export type MediaKind = 'image' | 'video' | 'audio';

/** A smaller copy of an image output, written beside it (config `thumbnails.*`). */
export interface JobResultThumbnail {
  /** Relative to the data folder, e.g. `conversations/c1/images/<job>.thumb.webp`. */
  path: string;
  absolutePath: string;
  mediaType: string;
  width: number;
  height: number;
  bytes: number;
}

/** One file a completed job delivered into the conversation folder. */
export interface JobResultFile {
  kind: MediaKind;
  /** Relative to the data folder, e.g. `conversations/c1/images/<job>.png`. */
  path: string;
  absolutePath: string;
  mediaType: string;
  bytes: number;
  sha256: string;
  width?: number;
  height?: number;
  /** Images only, when thumbnails are on and the image could be decoded. */
  thumbnail?: JobResultThumbnail;
  original: { filename: string; subfolder: string; type: string; nodeId: string };
  /** How it came from ComfyUI: moved or copied on this machine, downloaded through /view. */
  via?: 'move' | 'copy' | 'download' | 'already_present';
}

export interface JobResult {
  files: JobResultFile[];
  metadataPath: string;
}

/** ComfyUI's progress of the node it is running (ephemeral; never persisted). */
export interface JobProgress {
  value: number;
  max: number;
  node: string | null;
}

/**
 * Where the job's time went; the parts that are not null add up to `total_ms`
 * (docs/driving-from-chorus-engine.md, "Timings").
 */
export interface JobTimings {
  /** From admission to the first submission ComfyUI accepted. */
  queue_wait_ms: number | null;
  /** The last run's wait in ComfyUI's queue. */
  comfy_queue_wait_ms: number | null;
  /** The last run's execution. */
  generation_ms: number | null;
  file_move_ms: number | null;
  /** Runs ComfyUI forgot (and the wait to submit again after each): 0 when the first run is the last. */
  lost_ms: number | null;
  /** The last run had finished while no service watched it, until a restarted service found it. */
  service_down_ms: number | null;
  total_ms: number | null;
}

/** The job as callers see it: NATS replies and event payloads, HTTP API, CLI `--json`. */
export interface JobView {
  id: string;
  state: JobState;
  /** Finer position inside the state, e.g. `queued.composing`, `processing.overdue`. */
  substate: string | null;
  conversation_id: string;
  thread_id: string | null;
  message_id: string | null;
  character: string | null;
  workflow: string;
  prompt: string | null;
  negative_prompt: string | null;
  seed: number | null;
  prompt_source: string | null;
  backend: string | null;
  comfy_prompt_id: string | null;
  priority: number;
  attempts: number;
  progress: JobProgress | null;
  result: JobResult | null;
  error: ErrorData | null;
  created_at: string;
  submitted_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  completed_at: string | null;
  timings: JobTimings;
  /** The job whose inputs made this one (regenerate, retry); null: made by a generate. */
  regenerated_from: string | null;
  /** Jobs made from this one's inputs, oldest first (as known when the view was made). */
  regenerations: string[];
  /** The instance driving the job, when several share the work (queries only, not events). */
  owner?: string;
  /**
   * Not a failure, and `error` stays null: why the job is not going on. Present only while
   * it waits for a slot (`queued.waiting`) and no ComfyUI backend is reachable: COMFY_UNAVAILABLE
   * naming each backend, its URL and the cause (`details.backends`). Live in the service's
   * answers; in events, as it was when the job began to wait.
   */
  note?: ErrorData;
}
