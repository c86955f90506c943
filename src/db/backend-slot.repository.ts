/**
 * Queries on `backend_slots`: one row per ComfyUI slot, held by a job. A slot whose job is
 * already final counts as free, so a slot is never lost to a crash between a job's last
 * transition and its release.
 */
import { sql, type Kysely, type QueryCreator } from 'kysely';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import { unfinishedJobStates } from './job-claim.repository.js';
import type { LeaseTime } from './lease-clock.js';

type Executor = Kysely<DatabaseSchema>;

export async function insertSlotRows(db: Executor, backend: string, count: number): Promise<void> {
  if (count <= 0) return;
  const rows = Array.from({ length: count }, (_, slot) => ({ backend, slot, job_id: null, instance_id: null, claimed_at: null }));
  await db
    .insertInto('backend_slots')
    .values(rows)
    .onConflict((oc) => oc.columns(['backend', 'slot']).doNothing())
    .execute();
}

/** Slots held by an unfinished job, per backend. */
export async function countHeldSlots(db: Executor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('backend_slots as s')
    .innerJoin('visual_generation_jobs as j', 'j.id', 's.job_id')
    .select(['s.backend', (eb) => eb.fn.countAll<number | string>().as('held')])
    .where('j.status', 'in', unfinishedJobStates)
    .groupBy('s.backend')
    .execute();
  return new Map(rows.map((row) => [row.backend, Number(row.held)]));
}

/**
 * Free slots of `backend` below `maxConcurrent`, lowest first: nobody's, a final job's, or
 * (`reusableBy`) one the claiming job holds already.
 */
function freeSlots(db: QueryCreator<DatabaseSchema>, backend: string, maxConcurrent: number, reusableBy?: string) {
  return db
    .selectFrom('backend_slots as s')
    .select(['s.backend', 's.slot'])
    .where('s.backend', '=', backend)
    .where('s.slot', '<', maxConcurrent)
    .where((eb) =>
      eb.or([
        eb('s.job_id', 'is', null),
        ...(reusableBy === undefined ? [] : [eb('s.job_id', '=', reusableBy)]),
        eb.not(
          eb.exists(
            eb
              .selectFrom('visual_generation_jobs as j')
              .select(sql.lit(1).as('one'))
              .whereRef('j.id', '=', 's.job_id')
              .where('j.status', 'in', unfinishedJobStates),
          ),
        ),
      ]),
    )
    .orderBy('s.slot')
    .limit(1);
}

/** One free slot below `maxConcurrent`, locked for this transaction (PostgreSQL), or none. */
export async function findFreeSlot(db: Executor, dialect: DatabaseDialect, backend: string, maxConcurrent: number): Promise<number | undefined> {
  let query = freeSlots(db, backend, maxConcurrent);
  if (dialect === 'postgres') query = query.forUpdate().skipLocked();
  const row = await query.executeTakeFirst();
  return row === undefined ? undefined : Number(row.slot);
}

/**
 * PostgreSQL: the whole claim in one statement (one round trip instead of BEGIN, three
 * statements and COMMIT). The same outcome as freeing every slot of the job, then taking the
 * lowest free one: the candidate may be the job's own slot (which the freeing would have
 * made free), and the job's other slots are freed. The CTEs touch disjoint rows, as they must
 * (one statement sees one snapshot). Returns whether a slot was taken.
 */
export async function claimSlotInOneStatement(
  db: Executor,
  backend: string,
  maxConcurrent: number,
  jobId: string,
  instanceId: string,
  { now }: LeaseTime,
): Promise<boolean> {
  const held = await db
    .with('candidate', (qc) => freeSlots(qc, backend, maxConcurrent, jobId).forUpdate().skipLocked())
    .with('released', (qc) =>
      qc
        .updateTable('backend_slots')
        .set({ job_id: null, instance_id: null, claimed_at: null })
        .where('job_id', '=', jobId)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('candidate as c')
                .select('c.slot')
                .whereRef('c.backend', '=', 'backend_slots.backend')
                .whereRef('c.slot', '=', 'backend_slots.slot'),
            ),
          ),
        ),
    )
    .updateTable('backend_slots')
    .from('candidate as c')
    .set({ job_id: jobId, instance_id: instanceId, claimed_at: now })
    .whereRef('backend_slots.backend', '=', 'c.backend')
    .whereRef('backend_slots.slot', '=', 'c.slot')
    .returning('backend_slots.slot')
    .executeTakeFirst();
  return held !== undefined;
}

export async function holdSlot(db: Executor, backend: string, slot: number, jobId: string, instanceId: string, { now }: LeaseTime): Promise<void> {
  await db
    .updateTable('backend_slots')
    .set({ job_id: jobId, instance_id: instanceId, claimed_at: now })
    .where('backend', '=', backend)
    .where('slot', '=', slot)
    .execute();
}

export async function moveSlotsTo(db: Executor, jobId: string, instanceId: string): Promise<void> {
  await db.updateTable('backend_slots').set({ instance_id: instanceId }).where('job_id', '=', jobId).execute();
}

/** Only the job's current driver frees its slot: a stale instance cannot free a taken-over job's. */
export async function freeSlotsOf(db: Executor, jobId: string, instanceId: string): Promise<void> {
  await db
    .updateTable('backend_slots')
    .set({ job_id: null, instance_id: null, claimed_at: null })
    .where('job_id', '=', jobId)
    .where('instance_id', '=', instanceId)
    .execute();
}

/** Every slot row of the job, whoever held it (a taken-over job asking for a new slot). */
export async function freeAllSlotsOfJob(db: Executor, jobId: string): Promise<void> {
  await db.updateTable('backend_slots').set({ job_id: null, instance_id: null, claimed_at: null }).where('job_id', '=', jobId).execute();
}
