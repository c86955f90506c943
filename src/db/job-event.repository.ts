/**
 * Queries on `job_events`, the job history and NATS outbox. Plain functions taking `db` or
 * a transaction first; the codec between records and `JobEventRow` lives here because it
 * is a few lines. The relay's read and mark and the transitions' inserts are in
 * job-statements.ts, compiled once.
 */
import type { JobEventRow, NewJobEvent } from '../contracts/job-store-port.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { JobEventRecord, NewJobEventRecord } from './job-events.table.js';
import type { Executor } from './job.repository.js';

export function toNewJobEventRecord(jobId: string, seq: number, event: NewJobEvent): NewJobEventRecord {
  return {
    job_id: jobId,
    seq,
    type: event.type,
    from_state: event.from_state,
    to_state: event.to_state,
    data: JSON.stringify(event.data ?? {}),
    at: event.at,
    published_at: null,
  };
}

export function toJobEventRow(record: JobEventRecord): JobEventRow {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(record.data) as Record<string, unknown>;
  } catch (error) {
    throw new ChorusError(ErrorCode.INTERNAL, `Event ${String(record.id)} of job ${record.job_id} has unreadable data`, {
      cause: error,
      details: { job_id: record.job_id, seq: record.seq },
    });
  }
  return {
    id: Number(record.id),
    job_id: record.job_id,
    seq: Number(record.seq),
    type: record.type,
    from_state: record.from_state,
    to_state: record.to_state,
    data,
    at: record.at,
    published_at: record.published_at,
  };
}

export async function selectJobEvents(db: Executor, jobId: string): Promise<JobEventRecord[]> {
  return db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).orderBy('seq', 'asc').execute();
}

export async function countUnpublishedEvents(db: Executor): Promise<number> {
  const { count } = await db
    .selectFrom('job_events')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(count);
}
