/**
 * Queries on `service_instances` and `coordination_leases`: instance heartbeats and named
 * leases. Plain functions taking `db` or a transaction first.
 */
import type { Executor } from './job.repository.js';
import type { ServiceInstanceRecord } from './coordination.tables.js';

/** Registers the instance or renews its lease (an upsert both dialects speak). */
export async function renewInstance(db: Executor, id: string, now: string, expiresAt: string): Promise<void> {
  await db
    .insertInto('service_instances')
    .values({ id, started_at: now, heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null })
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null }))
    .execute();
}

/**
 * Takes the instance id: registers it, or renews a row no live instance holds (stopped, or
 * its lease lapsed). False while another process may hold it (its lease is current). One statement, so two processes starting with one id at
 * once cannot both take it.
 */
export async function claimInstance(db: Executor, id: string, now: string, expiresAt: string): Promise<boolean> {
  const row = await db
    .insertInto('service_instances')
    .values({ id, started_at: now, heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet({ started_at: now, heartbeat_at: now, lease_expires_at: expiresAt, stopped_at: null })
        .where((eb) => eb.or([eb('service_instances.stopped_at', 'is not', null), eb('service_instances.lease_expires_at', '<', now)])),
    )
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function selectInstance(db: Executor, id: string): Promise<ServiceInstanceRecord | undefined> {
  return db.selectFrom('service_instances').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Ends the instance's lease now: to everyone else it is gone. */
export async function stopInstance(db: Executor, id: string, now: string): Promise<void> {
  await db.updateTable('service_instances').set({ lease_expires_at: now, stopped_at: now }).where('id', '=', id).execute();
}

export async function selectInstances(db: Executor): Promise<ServiceInstanceRecord[]> {
  return db.selectFrom('service_instances').selectAll().orderBy('id').execute();
}

/**
 * Takes the lease when it is free, expired or already ours; returns whether we hold it.
 * Insert-or-update in one statement, so two instances racing for a new lease cannot both win.
 */
export async function takeLease(db: Executor, name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
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
