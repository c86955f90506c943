/**
 * Who drives which job: claiming orphaned jobs, giving them up on a clean stop, and cancel
 * requests for the owner. On PostgreSQL candidate rows are locked `FOR UPDATE SKIP LOCKED`,
 * so two instances claiming at once take disjoint sets instead of waiting on each other;
 * SQLite has one writer at a time and needs no row locks.
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { JobState, finalStates } from '../contracts/job-view.js';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import type { JobRecord } from './jobs.table.js';
import type { LeaseTime } from './lease-clock.js';

type Executor = Kysely<DatabaseSchema>;

export const unfinishedJobStates = Object.values(JobState).filter((state) => !finalStates.has(state));

/**
 * The claimer's run still holds its instance id: its row carries its run token, is not stopped
 * and its lease has not lapsed. A write made on that condition cannot land for a run that
 * stalled while another took its id over (docs/running-several-instances.md).
 */
function runHoldsId(eb: ExpressionBuilder<DatabaseSchema, 'visual_generation_jobs'>, owner: string, runToken: string, { now }: LeaseTime) {
  return eb.exists(
    eb
      .selectFrom('service_instances as me')
      .select('me.id')
      .where('me.id', '=', owner)
      .where('me.run_token', '=', runToken)
      .where('me.stopped_at', 'is', null)
      .where('me.lease_expires_at', '>', now),
  );
}

export async function claimOrphanedJobs(
  db: Executor,
  dialect: DatabaseDialect,
  owner: string,
  time: LeaseTime,
  limit: number,
  includeOwn: boolean,
  /** The claimer's run token: nothing is claimed unless its run still holds the id. */
  runToken?: string,
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
          eb.exists(
            eb.selectFrom('service_instances as i').select('i.id').whereRef('i.id', '=', 'j.owner_instance').where('i.lease_expires_at', '>', time.now),
          ),
        ),
      ]),
    )
    .orderBy('j.created_at')
    .orderBy('j.id')
    .limit(limit);
  if (dialect === 'postgres') candidates = candidates.forUpdate().skipLocked();
  const ids = (await candidates.execute()).map((row) => row.id);
  if (ids.length === 0) return [];
  let claim = db.updateTable('visual_generation_jobs').set({ owner_instance: owner }).where('id', 'in', ids);
  if (runToken !== undefined) claim = claim.where((eb) => runHoldsId(eb, owner, runToken, time));
  const claimed = await claim.returningAll().execute();
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

export async function markCancelRequested(db: Executor, jobId: string, time: LeaseTime): Promise<boolean> {
  const result = await db
    .updateTable('visual_generation_jobs')
    .set({ cancel_requested_at: time.now })
    .where('id', '=', jobId)
    .where('status', 'in', unfinishedJobStates)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function takeCancelRequestsOf(db: Executor, owner: string, fence?: { runToken: string; time: LeaseTime }): Promise<string[]> {
  let take = db
    .updateTable('visual_generation_jobs')
    .set({ cancel_requested_at: null })
    .where('owner_instance', '=', owner)
    .where('cancel_requested_at', 'is not', null);
  // A run that lost its id takes no request: the run holding the id now acts on it.
  if (fence !== undefined) take = take.where((eb) => runHoldsId(eb, owner, fence.runToken, fence.time));
  const rows = await take.returning('id').execute();
  return rows.map((row) => row.id);
}

export async function selectOwnersOfUnfinished(db: Executor): Promise<Array<{ id: string; owner_instance: string | null }>> {
  return db.selectFrom('visual_generation_jobs').select(['id', 'owner_instance']).where('status', 'in', unfinishedJobStates).execute();
}
