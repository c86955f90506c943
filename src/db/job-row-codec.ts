/**
 * Between the stored record (JSON as text, bigint maybe as a string) and the `JobRow` the
 * JobStore contract speaks. Kept apart from the queries so both dialects share it.
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import { initialJobRow, type JobPatch, type JobRow, type NewJob } from '../contracts/job-store-port.js';
import { JobState } from '../contracts/job-view.js';
import type { JobRecord, JobRecordUpdate, NewJobRecord } from './jobs.table.js';

const jobStates: ReadonlySet<string> = new Set(Object.values(JobState));

/**
 * The columns not stored as they are read: JSON text (objects default to `{}`, the others to
 * null) and numbers (PostgreSQL returns bigint as a string). Every other column is copied as
 * it is, so the column list is written once, in the JobRow contract (jobs.table.ts derives
 * the table from it).
 */
const jsonObjectColumns: ReadonlySet<string> = new Set(['parameters', 'debug']);
const jsonNullableColumns: ReadonlySet<string> = new Set(['result', 'error', 'snapshot', 'comfy_graph']);
const numberColumns: ReadonlySet<string> = new Set(['priority', 'attempts', 'last_seq']);

export function toJobRow(record: JobRecord): JobRow {
  if (!jobStates.has(record.status)) {
    throw corrupt(record.id, 'status', `unknown state "${record.status}"`);
  }
  // cancel_requested_at is coordination bookkeeping, not part of the job as callers see it.
  const { cancel_requested_at: _tableOnly, ...columns } = record;
  const row: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(columns)) row[column] = decodeColumn(column, value, record.id);
  row['owner_instance'] ??= null;
  row['regenerated_from'] ??= null;
  row['comfy_graph'] ??= null;
  row['request_hash'] ??= null;
  return row as unknown as JobRow;
}

/** A freshly created job's row (`toCreatedJobRow`) as the record to insert: every column, JSON ones as text. */
export function toNewJobRecord(row: JobRow): NewJobRecord {
  return encodeColumns(row) as NewJobRecord;
}

/**
 * A freshly created job (src/contracts' `initialJobRow`) as the store inserts it and as
 * `toJobRow` would read it back (the optional columns null when absent), so the store
 * returns the row without reading it back. The JSON columns are the caller's own values.
 */
export function toCreatedJobRow(job: NewJob, updatedAt: string, ownerInstance: string | null): JobRow {
  return {
    ...initialJobRow(job),
    updated_at: updatedAt,
    owner_instance: ownerInstance,
    regenerated_from: job.regenerated_from ?? null,
    comfy_graph: job.comfy_graph ?? null,
    request_hash: job.request_hash ?? null,
  };
}

/** Only the keys present in `patch` are written; JSON columns are serialised. */
export function toJobRecordUpdate(patch: JobPatch): JobRecordUpdate {
  return encodeColumns(patch) as JobRecordUpdate;
}

function encodeColumns(columns: object): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(columns)) {
    if (value === undefined) continue;
    if (jsonObjectColumns.has(column)) record[column] = JSON.stringify(value ?? {});
    else if (jsonNullableColumns.has(column)) record[column] = stringifyNullable(value);
    else if (column === 'seed') record[column] = checkSeed(value as number | null);
    else record[column] = value;
  }
  return record;
}

function decodeColumn(column: string, value: unknown, jobId: string): unknown {
  if (jsonObjectColumns.has(column)) return parseJsonColumn(value as string, jobId, column);
  if (jsonNullableColumns.has(column)) return parseNullableJsonColumn(value as string | null, jobId, column);
  if (column === 'seed') return value === null ? null : Number(value);
  if (numberColumns.has(column)) return Number(value);
  return value;
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
