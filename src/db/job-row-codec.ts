/**
 * Between the stored record (JSON as text, bigint maybe as a string) and the `JobRow` the
 * JobStore contract speaks. Kept apart from the queries so both dialects share it.
 */
import { ChorusError, ErrorCode, type ErrorData } from '../errors/index.js';
import type { JobPatch, JobRow, NewJob } from '../contracts/job-store-port.js';
import { JobState, type JobResult } from '../contracts/job-view.js';
import type { JobRecord, JobRecordUpdate, NewJobRecord } from './jobs.table.js';

const jobStates: ReadonlySet<string> = new Set(Object.values(JobState));

export function toJobRow(record: JobRecord): JobRow {
  if (!jobStates.has(record.status)) {
    throw corrupt(record.id, 'status', `unknown state "${record.status}"`);
  }
  return {
    id: record.id,
    conversation_id: record.conversation_id,
    thread_id: record.thread_id,
    message_id: record.message_id,
    workflow: record.workflow,
    prompt: record.prompt,
    parameters: parseJsonColumn(record.parameters, record.id, 'parameters') as Record<string, unknown>,
    status: record.status as JobState,
    created_at: record.created_at,
    started_at: record.started_at,
    completed_at: record.completed_at,
    comfy_prompt_id: record.comfy_prompt_id,
    result: parseNullableJsonColumn(record.result, record.id, 'result') as JobResult | null,
    error: parseNullableJsonColumn(record.error, record.id, 'error') as ErrorData | null,
    substate: record.substate,
    character: record.character,
    negative_prompt: record.negative_prompt,
    seed: record.seed === null ? null : Number(record.seed),
    prompt_source: record.prompt_source,
    request_id: record.request_id,
    request_hash: record.request_hash ?? null,
    priority: Number(record.priority),
    backend: record.backend,
    submitted_at: record.submitted_at,
    finished_at: record.finished_at,
    attempts: Number(record.attempts),
    snapshot: parseNullableJsonColumn(record.snapshot, record.id, 'snapshot'),
    debug: parseJsonColumn(record.debug, record.id, 'debug') as Record<string, unknown>,
    last_seq: Number(record.last_seq),
    updated_at: record.updated_at,
    owner_instance: record.owner_instance ?? null,
    regenerated_from: record.regenerated_from ?? null,
  };
}

export function toNewJobRecord(job: NewJob, updatedAt: string): NewJobRecord {
  return {
    id: job.id,
    conversation_id: job.conversation_id,
    thread_id: job.thread_id,
    message_id: job.message_id,
    workflow: job.workflow,
    prompt: job.prompt,
    parameters: JSON.stringify(job.parameters ?? {}),
    status: job.status,
    created_at: job.created_at,
    started_at: null,
    completed_at: null,
    comfy_prompt_id: job.comfy_prompt_id,
    result: null,
    error: null,
    substate: job.substate,
    character: job.character,
    negative_prompt: job.negative_prompt,
    seed: checkSeed(job.seed),
    prompt_source: job.prompt_source,
    request_id: job.request_id,
    request_hash: job.request_hash ?? null,
    priority: job.priority,
    backend: null,
    submitted_at: null,
    finished_at: null,
    attempts: 0,
    snapshot: stringifyNullable(job.snapshot),
    debug: JSON.stringify(job.debug ?? {}),
    // The creation event is seq 1, written in the same transaction.
    last_seq: 1,
    updated_at: updatedAt,
    regenerated_from: job.regenerated_from ?? null,
  };
}

/** Only the keys present in `patch` are written; JSON columns are serialised. */
export function toJobRecordUpdate(patch: JobPatch): JobRecordUpdate {
  const update: JobRecordUpdate = {};
  for (const [key, value] of Object.entries(patch) as [keyof JobPatch, unknown][]) {
    if (value === undefined) continue;
    switch (key) {
      case 'parameters':
      case 'debug':
        update[key] = JSON.stringify(value ?? {});
        break;
      case 'result':
      case 'error':
      case 'snapshot':
        update[key] = stringifyNullable(value);
        break;
      case 'seed':
        update.seed = checkSeed(value as number | null);
        break;
      default:
        (update as Record<string, unknown>)[key] = value;
    }
  }
  return update;
}

function checkSeed(seed: number | null): number | null {
  if (seed === null || seed === undefined) return null;
  // Beyond 2^53-1 a JS number has already lost digits: storing it would record a wrong seed.
  if (!Number.isSafeInteger(seed)) {
    throw new ChorusError(ErrorCode.INTERNAL, `Seed ${String(seed)} is not an integer between -(2^53-1) and 2^53-1`, {
      details: { seed: String(seed) },
    });
  }
  return seed;
}

function stringifyNullable(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseNullableJsonColumn(text: string | null, jobId: string, column: string): unknown {
  return text === null ? null : parseJsonColumn(text, jobId, column);
}

function parseJsonColumn(text: string, jobId: string, column: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw corrupt(jobId, column, (error as Error).message);
  }
}

function corrupt(jobId: string, column: string, reason: string): ChorusError {
  return new ChorusError(ErrorCode.INTERNAL, `Job ${jobId} has an unreadable ${column} column: ${reason}`, {
    details: { job_id: jobId, column },
  });
}
