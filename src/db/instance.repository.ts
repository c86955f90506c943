/**
 * Queries on `service_instances` and `coordination_leases`: instance heartbeats and named
 * leases. Plain functions taking `db` or a transaction first.
 */
import type { Executor } from './job.repository.js';
import type { ServiceInstanceRecord } from './coordination.tables.js';
import type { LeaseTime } from './lease-clock.js';

/**
 * Takes the instance id for the run `runToken`: registers it, or takes over a row no live
 * run holds (stopped, or its lease lapsed), writing this run's token on it. False while
 * another process may hold it (its lease is current). One statement, so two processes
 * starting with one id at once cannot both take it.
 */
export async function claimInstance(db: Executor, id: string, runToken: string, time: LeaseTime, ttlMs: number): Promise<boolean> {
  const { now } = time;
  const expiresAt = time.after(ttlMs);
  const row = await db
    .insertInto('service_instances')
    .values({ id, started_at: now, heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null, run_token: runToken })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet({ started_at: now, heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null, run_token: runToken })
        .where((eb) => eb.or([eb('service_instances.stopped_at', 'is not', null), eb('service_instances.lease_expires_at', '<', now)])),
    )
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Renews the lease of the run `runToken` while that run still holds the id: its token is on
 * the row, which is not stopped and whose lease has not lapsed. Never renews a lapsed lease
 * back to life: once it lapsed, others may have taken the jobs (or the id) over. False
 * when nothing was renewed.
 */
export async function renewInstanceRun(db: Executor, id: string, runToken: string, time: LeaseTime, ttlMs: number): Promise<boolean> {
  const { now } = time;
  const result = await db
    .updateTable('service_instances')
    .set({ heartbeat_at: now, lease_expires_at: time.after(ttlMs) })
    .where('id', '=', id)
    .where('run_token', '=', runToken)
    .where('stopped_at', 'is', null)
    .where('lease_expires_at', '>', now)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A row as read, with the clock's time in the same statement (`read_at`), to tell whether its lease is current. */
export type InstanceReading = ServiceInstanceRecord & { read_at: string };

export async function selectInstance(db: Executor, id: string, time: LeaseTime): Promise<InstanceReading | undefined> {
  return db.selectFrom('service_instances').selectAll().select(time.now.as('read_at')).where('id', '=', id).executeTakeFirst();
}

/** Ends the run's lease now, if the run `runToken` still holds the id: to everyone else it is gone. */
export async function stopInstanceRun(db: Executor, id: string, runToken: string, { now }: LeaseTime): Promise<boolean> {
  const result = await db
    .updateTable('service_instances')
    .set({ lease_expires_at: now, stopped_at: now })
    .where('id', '=', id)
    .where('run_token', '=', runToken)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function selectInstances(db: Executor, time: LeaseTime): Promise<InstanceReading[]> {
  return db.selectFrom('service_instances').selectAll().select(time.now.as('read_at')).orderBy('id').execute();
}

/**
 * Takes the lease when it is free, expired or already ours; returns whether we hold it.
 * Insert-or-update in one statement, so two instances racing for a new lease cannot both win.
 */
export async function takeLease(db: Executor, name: string, holder: string, time: LeaseTime, ttlMs: number): Promise<boolean> {
  const { now } = time;
  const expiresAt = time.after(ttlMs);
  const row = await db
    .insertInto('coordination_leases')
    .values({ name, holder, expires_at: expiresAt })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, expires_at: expiresAt })
        .where((eb) => eb.or([eb('coordination_leases.holder', '=', holder), eb('coordination_leases.expires_at', '<', now)])),
    )
    .returning('holder')
    .executeTakeFirst();
  return row?.holder === holder;
}

export async function dropLease(db: Executor, name: string, holder: string): Promise<void> {
  await db.deleteFrom('coordination_leases').where('name', '=', name).where('holder', '=', holder).execute();
}

export async function dropLeasesOf(db: Executor, holder: string): Promise<void> {
  await db.deleteFrom('coordination_leases').where('holder', '=', holder).execute();
}
