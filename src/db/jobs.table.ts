/**
 * `visual_generation_jobs` as stored. The original design's columns keep their names and
 * meanings (Chorus Engine reads them). JSON columns are text on every dialect and times are
 * ISO-8601 text, so SQLite and PostgreSQL rows read the same; `job-row-codec.ts` turns a
 * record into the parsed `JobRow` callers see.
 */
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';
import type { JobRow } from '../contracts/job-store-port.js';

/** PostgreSQL returns `bigint` as a string; SQLite returns a number. Writes are numbers. */
type BigIntColumn<Nullable extends null = never> = ColumnType<number | string | Nullable, number | Nullable, number | Nullable>;

/** Columns stored as JSON text: the object ones default to `{}`, the others may be null. */
type JsonColumn = 'parameters' | 'debug' | 'result' | 'error' | 'snapshot' | 'comfy_graph';

/**
 * The columns are the JobRow contract's (src/contracts/job-store-port.ts: the original
 * design's block, then ours), so the list is written once; only what is stored differently
 * from how it is read is restated here.
 */
export interface JobsTable extends Omit<JobRow, JsonColumn | 'status' | 'seed' | 'owner_instance' | 'request_hash'> {
  /** JSON object. */
  parameters: string;
  /** JSON object. */
  debug: string;
  /** JSON (`JobResult`) or null. */
  result: string | null;
  /** JSON (`ErrorData`) or null. */
  error: string | null;
  /** JSON (persisted XState snapshot) or null. */
  snapshot: string | null;
  /** Checked against the closed list of states when read. */
  status: string;
  /** A ComfyUI seed goes up to 2^53-1, beyond a 32-bit integer. */
  seed: BigIntColumn<null>;
  /** The instance driving the job (several instances on PostgreSQL); null: nobody yet. */
  owner_instance: string | null;
  /** sha256 of the request's meaningful fields: a reused request_id with another request is a conflict. */
  request_hash: string | null;
  /** A cancel received by an instance that does not drive the job, for the owner to act on. */
  cancel_requested_at: string | null;
  /** The job whose inputs made this one (regenerate / retry); null: made by a generate. */
  regenerated_from: string | null;
  /** JSON (the composed ComfyUI graph, written once) or null. */
  comfy_graph: string | null;
}

export type JobRecord = Selectable<JobsTable>;
export type NewJobRecord = Insertable<JobsTable>;
export type JobRecordUpdate = Updateable<JobsTable>;
