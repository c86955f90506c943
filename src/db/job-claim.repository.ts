/**
 * Who drives which job: claiming orphaned jobs, giving them up on a clean stop, and cancel
 * requests for the owner. On PostgreSQL candidate rows are locked `FOR UPDATE SKIP LOCKED`,
 * so two instances claiming at once take disjoint sets instead of waiting on each other;
 * SQLite has one writer at a time and needs no row locks.
 */
import type { Kysely } from 'kysely';
import { JobState, finalStates } from '../contracts/job-view.js';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import type { JobRecord } from './jobs.table.js';

type Executor = Kysely<DatabaseSchema>;

export const unfinishedJobStates = Object.values(JobState).filter((state) => !finalStates.has(state));

export async function claimOrphanedJobs(
  db: Executor,
  dialect: DatabaseDialect,
  owner: string,
  now: string,
  limit: number,
  includeOwn: boolean,
): Promise<JobRecord[]> {
  let candidates = db
    .selectFrom('visual_generation_jobs as j')
    .select('j.id')
    .where('j.status', 'in', unfinishedJobStates)
    .where((eb) =>
      eb.or([
        eb('j.owner_instance', 'is', null),
        ...(includeOwn ? [eb('j.owner_instance', '=', owner)] : []),
        eb.not(
          eb.exists(eb.selectFrom('service_instances as i').select('i.id').whereRef('i.id', '=', 'j.owner_instance').where('i.lease_expires_at', '>', now)),
        ),
      ]),
    )
    .orderBy('j.created_at')
    .orderBy('j.id')
    .limit(limit);
  if (dialect === 'postgres') candidates = candidates.forUpdate().skipLocked();
  const ids = (await candidates.execute()).map((row) => row.id);
  if (ids.length === 0) return [];
  const claimed = await db.updateTable('visual_generation_jobs').set({ owner_instance: owner }).where('id', 'in', ids).returningAll().execute();
  return claimed.sort((a, b) => (a.created_at === b.created_at ? a.id.localeCompare(b.id) : a.created_at.localeCompare(b.created_at)));
}

/** Clean stop: the instance's unfinished jobs go back to nobody, for others to claim now. */
export async function disownJobs(db: Executor, owner: string): Promise<void> {
  await db
    .updateTable('visual_generation_jobs')
    .set({ owner_instance: null })
    .where('owner_instance', '=', owner)
    .where('status', 'in', unfinishedJobStates)
    .execute();
}

export async function markCancelRequested(db: Executor, jobId: string, now: string): Promise<boolean> {
  const result = await db
    .updateTable('visual_generation_jobs')
    .set({ cancel_requested_at: now })
    .where('id', '=', jobId)
    .where('status', 'in', unfinishedJobStates)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function takeCancelRequestsOf(db: Executor, owner: string): Promise<string[]> {
  const rows = await db
    .updateTable('visual_generation_jobs')
    .set({ cancel_requested_at: null })
    .where('owner_instance', '=', owner)
    .where('cancel_requested_at', 'is not', null)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

export async function selectOwnersOfUnfinished(db: Executor): Promise<Array<{ id: string; owner_instance: string | null }>> {
  return db.selectFrom('visual_generation_jobs').select(['id', 'owner_instance']).where('status', 'in', unfinishedJobStates).execute();
}
