/**
 * `visual_generation_jobs` as stored. The first block is the original design's table (Chorus
 * Engine reads it, so names and meanings stay); the second block is ours. JSON columns are
 * text on every dialect and times are ISO-8601 text, so SQLite and PostgreSQL rows read the
 * same; `job-row-codec.ts` turns a record into the parsed `JobRow` callers see.
 */
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

/** PostgreSQL returns `bigint` as a string; SQLite returns a number. Writes are numbers. */
type BigIntColumn<Nullable extends null = never> = ColumnType<
  number | string | Nullable,
  number | Nullable,
  number | Nullable
>;

export interface JobsTable {
  id: string;
  conversation_id: string;
  thread_id: string | null;
  message_id: string | null;
  workflow: string;
  prompt: string | null;
  /** JSON object. */
  parameters: string;
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  comfy_prompt_id: string | null;
  /** JSON (`JobResult`) or null. */
  result: string | null;
  /** JSON (`ErrorData`) or null. */
  error: string | null;

  substate: string | null;
  character: string | null;
  negative_prompt: string | null;
  /** A ComfyUI seed goes up to 2^53-1, beyond a 32-bit integer. */
  seed: BigIntColumn<null>;
  prompt_source: string | null;
  request_id: string | null;
  /** sha256 of the request's meaningful fields: a reused request_id with another request is a conflict. */
  request_hash: string | null;
  priority: number;
  backend: string | null;
  submitted_at: string | null;
  finished_at: string | null;
  attempts: number;
  /** JSON (persisted XState snapshot) or null. */
  snapshot: string | null;
  /** JSON object. */
  debug: string;
  last_seq: number;
  updated_at: string;
  /** The instance driving the job (several instances on PostgreSQL); null: nobody yet. */
  owner_instance: string | null;
  /** A cancel received by an instance that does not drive the job, for the owner to act on. */
  cancel_requested_at: string | null;
  /** The job whose inputs made this one (regenerate / retry); null: made by a generate. */
  regenerated_from: string | null;
}

export type JobRecord = Selectable<JobsTable>;
export type NewJobRecord = Insertable<JobsTable>;
export type JobRecordUpdate = Updateable<JobsTable>;
