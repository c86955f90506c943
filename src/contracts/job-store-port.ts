/**
 * The persistence contract of the job runtime. `src/db/` implements it with Kysely
 * (SQLite now, PostgreSQL later, same code); the JobService and the outbox relay use only
 * this interface. Every method is one short transaction; none awaits the network inside.
 */
import type { ErrorData } from './error-data.js';
import type { JobResult, JobState } from './job-view.js';

/** A row of `visual_generation_jobs`, parsed (JSON columns as values, times as ISO strings). */
export interface JobRow {
  // The original design's columns (Chorus Engine reads these).
  id: string;
  conversation_id: string;
  thread_id: string | null;
  message_id: string | null;
  workflow: string;
  prompt: string | null;
  parameters: Record<string, unknown>;
  status: JobState;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  comfy_prompt_id: string | null;
  result: JobResult | null;
  error: ErrorData | null;
  // Ours.
  substate: string | null;
  character: string | null;
  negative_prompt: string | null;
  seed: number | null;
  prompt_source: string | null;
  request_id: string | null;
  /** sha256 of the admitted request's meaningful fields (absent or null on jobs made before it existed). */
  request_hash?: string | null;
  priority: number;
  backend: string | null;
  submitted_at: string | null;
  finished_at: string | null;
  attempts: number;
  /** Persisted XState snapshot (`actor.getPersistedSnapshot()`), restored after a crash. */
  snapshot: unknown;
  /** Debug facts (prompt components, injected parameters, LoRAs, workflow facts…). */
  debug: Record<string, unknown>;
  /** Last persisted event sequence number of this job (1 = the creation event). */
  last_seq: number;
  updated_at: string;
  /** The instance driving the job when several share the database (absent or null: none). */
  owner_instance?: string | null;
  /** The job whose inputs made this one (regenerate, retry); absent or null: none. */
  regenerated_from?: string | null;
  /**
   * The composed ComfyUI graph, written once when the prompt is composed and kept out of
   * `snapshot` (which every transition rewrites); a restore puts it back into the snapshot.
   * Absent or null: not composed yet, or a job stored before the column existed (its
   * snapshot still holds the graph).
   */
  comfy_graph?: Record<string, unknown> | null;
}

export interface JobEventRow {
  /** Global, increasing: the outbox order. */
  id: number;
  job_id: string;
  seq: number;
  type: string;
  from_state: string | null;
  to_state: string;
  data: Record<string, unknown>;
  at: string;
  published_at: string | null;
}

export type NewJob = Omit<
  JobRow,
  | 'owner_instance'
  | 'last_seq'
  | 'updated_at'
  | 'started_at'
  | 'completed_at'
  | 'submitted_at'
  | 'finished_at'
  | 'result'
  | 'error'
  | 'attempts'
  | 'comfy_prompt_id'
  | 'backend'
> & {
  comfy_prompt_id: string | null;
};

/**
 * The row a store holds right after `createJob`: what the job said, nothing done yet, and
 * its creation event as seq 1. Stores and views that need the row before reading it back use
 * this, so "a new job" means one thing everywhere.
 */
export function initialJobRow(job: NewJob): JobRow {
  return {
    ...job,
    started_at: null,
    completed_at: null,
    submitted_at: null,
    finished_at: null,
    result: null,
    error: null,
    attempts: 0,
    backend: null,
    last_seq: 1,
    updated_at: job.created_at,
  };
}

export interface NewJobEvent {
  type: string;
  from_state: string | null;
  to_state: string;
  data: Record<string, unknown>;
  at: string;
}

/** Columns a transition may change (never id, conversation_id, created_at, request_id). */
export type JobPatch = Partial<Omit<JobRow, 'id' | 'conversation_id' | 'created_at' | 'request_id' | 'last_seq' | 'updated_at' | 'owner_instance'>>;

export interface CreateJobOutcome {
  job: JobRow;
  /** false when `request_id` matched an existing job: nothing was written, `job` is that one. */
  created: boolean;
}

export interface JobListFilter {
  states?: JobState[];
  conversationId?: string;
  character?: string;
  /** Jobs whose id starts with this (a person pasting the first characters of an id). */
  idPrefix?: string;
  limit?: number;
  offset?: number;
}

/**
 * What the outbox relay reads and writes, and nothing more: the unpublished events in order,
 * marking them sent, and the job a stray row belongs to. Every JobStore is one; a lease gate
 * (several instances) is one too, in a few lines.
 */
export interface OutboxStore {
  /** Unpublished events in global order (per job this is seq order). */
  listUnpublished(limit: number): Promise<JobEventRow[]>;
  markPublished(eventIds: number[], at: string): Promise<void>;
  getJob(jobId: string): Promise<JobRow | undefined>;
}

export interface JobStore extends OutboxStore {
  /**
   * Inserts the job and its first event (seq 1) in one transaction, unless `request_id`
   * names an existing job (then returns it, `created: false`), or unless the number of
   * unfinished jobs is already `maxQueueSize` or more (then throws ChorusError QUEUE_FULL
   * and writes nothing).
   */
  createJob(job: NewJob, event: NewJobEvent, limits: { maxQueueSize: number }): Promise<CreateJobOutcome>;
  /**
   * Applies `patch` to the job row and appends the event with seq = last_seq + 1, in one
   * transaction. Returns the new seq.
   */
  recordTransition(jobId: string, patch: JobPatch, event: NewJobEvent): Promise<{ seq: number }>;
  /** request_id is unique per conversation (Chorus Engine's message ids are unique only there). */
  findByRequestId(conversationId: string, requestId: string): Promise<JobRow | undefined>;
  listJobs(filter?: JobListFilter): Promise<JobRow[]>;
  countJobs(filter?: Omit<JobListFilter, 'limit' | 'offset'>): Promise<number>;
  /** How many jobs are in each state (states with none are absent), under the other filters. */
  countByState(filter?: Omit<JobListFilter, 'limit' | 'offset' | 'states'>): Promise<Partial<Record<JobState, number>>>;
  /** Every job whose status is not final, oldest first. */
  listUnfinished(): Promise<JobRow[]>;
  listEvents(jobId: string): Promise<JobEventRow[]>;
  /** For each given job, the ids of the jobs regenerated from it, oldest first (absent: none). */
  listRegenerations(jobIds: readonly string[]): Promise<Map<string, string[]>>;
  countUnpublished(): Promise<number>;
  close(): Promise<void>;
}
