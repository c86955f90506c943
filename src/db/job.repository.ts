/**
 * Queries on `visual_generation_jobs`. Plain functions taking `db` or a transaction first,
 * so the store decides what shares a transaction. Each is one statement. The ones every job
 * runs (admission, transitions, reading one job) are in job-statements.ts, compiled once.
 */
import { sql, type Kysely } from 'kysely';
import type { JobListFilter } from '../contracts/job-store-port.js';
import { JobState, finalStates } from '../contracts/job-view.js';
import type { DatabaseSchema } from './database-schema.js';
import type { JobRecord } from './jobs.table.js';

/** A Kysely instance or a transaction on it (a Transaction is a Kysely). */
export type Executor = Kysely<DatabaseSchema>;

// A positive list, so the status index is used (`not in` would scan every finished job).
const unfinishedStatuses = Object.values(JobState).filter((state) => !finalStates.has(state));
/** SQLite refuses OFFSET without LIMIT; this stands for "no limit" on both dialects. */
const noLimit = Number.MAX_SAFE_INTEGER;

type JobWhereFilter = Omit<JobListFilter, 'limit' | 'offset'>;

function filteredJobs(db: Executor, filter: JobWhereFilter) {
  let query = db.selectFrom('visual_generation_jobs');
  if (filter.states !== undefined) {
    // An empty list matches nothing; `in ()` is not valid SQL.
    if (filter.states.length === 0) return query.where((eb) => eb.lit(false));
    query = query.where('status', 'in', filter.states);
  }
  if (filter.conversationId !== undefined) query = query.where('conversation_id', '=', filter.conversationId);
  if (filter.character !== undefined) query = query.where('character', '=', filter.character);
  // substr, not LIKE: "_" is a wildcard there and is allowed in ids.
  if (filter.idPrefix !== undefined) query = query.where(sql<string>`substr(id, 1, ${filter.idPrefix.length})`, '=', filter.idPrefix);
  return query;
}

/** Newest first, the order a person listing jobs wants. */
export async function selectJobs(db: Executor, filter: JobListFilter = {}): Promise<JobRecord[]> {
  const { limit, offset, ...where } = filter;
  let query = filteredJobs(db, where).selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (limit !== undefined || offset !== undefined) query = query.limit(limit ?? noLimit).offset(offset ?? 0);
  return query.execute();
}

export async function countJobs(db: Executor, filter: JobWhereFilter = {}): Promise<number> {
  const { count } = await filteredJobs(db, filter)
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(count);
}

/** Jobs per state under the filter (the inspector's counts). */
export async function countJobsByState(db: Executor, filter: Omit<JobWhereFilter, 'states'> = {}): Promise<Array<{ status: string; count: number }>> {
  const rows = await filteredJobs(db, filter)
    .select(['status', (eb) => eb.fn.countAll<number | string>().as('count')])
    .groupBy('status')
    .execute();
  return rows.map((row) => ({ status: row.status, count: Number(row.count) }));
}

/** Oldest first: the order jobs are restored and re-queued in after a restart. */
export async function selectUnfinishedJobs(db: Executor): Promise<JobRecord[]> {
  return db
    .selectFrom('visual_generation_jobs')
    .selectAll()
    .where('status', 'in', unfinishedStatuses)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .execute();
}
