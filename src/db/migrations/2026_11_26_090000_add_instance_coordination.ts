/**
 * Frozen in time (see the first migration). Several instances on one database (issue 9):
 * - `visual_generation_jobs.owner_instance`: the instance driving the job; another may take
 *   it only once the owner's row in `service_instances` stops being renewed.
 * - `visual_generation_jobs.cancel_requested_at`: a cancel that arrived at an instance that
 *   does not drive the job, for the owner to act on.
 * - `service_instances`: one row per running instance, its heartbeat and lease.
 * - `coordination_leases`: named leases held by one instance at a time (the outbox relay).
 * - `backend_slots`: one row per ComfyUI slot, held by a job, so `max_concurrent` holds
 *   across every instance together.
 * Times are ISO-8601 text like every other column, so both dialects compare them the same.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // SQLite migrations run outside a transaction: an interrupted run must be able to repeat.
  // (Not introspection: on PostgreSQL it lists every schema's tables, not the search_path's.)
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  for (const column of ['owner_instance', 'cancel_requested_at']) {
    if (postgres) {
      await sql`alter table visual_generation_jobs add column if not exists ${sql.id(column)} text`.execute(db);
      continue;
    }
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info('visual_generation_jobs') where name = ${column}`.execute(db);
    if (rows.length === 0) await db.schema.alterTable('visual_generation_jobs').addColumn(column, 'text').execute();
  }
  await db.schema.createIndex('visual_generation_jobs_owner_instance_idx').ifNotExists().on('visual_generation_jobs').column('owner_instance').execute();

  await db.schema
    .createTable('service_instances')
    .ifNotExists()
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('started_at', 'text', (col) => col.notNull())
    .addColumn('heartbeat_at', 'text', (col) => col.notNull())
    .addColumn('lease_expires_at', 'text', (col) => col.notNull())
    .addColumn('stopped_at', 'text')
    .execute();

  await db.schema
    .createTable('coordination_leases')
    .ifNotExists()
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('holder', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'text', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('backend_slots')
    .ifNotExists()
    .addColumn('backend', 'text', (col) => col.notNull())
    .addColumn('slot', 'integer', (col) => col.notNull())
    .addColumn('job_id', 'text')
    .addColumn('instance_id', 'text')
    .addColumn('claimed_at', 'text')
    .addPrimaryKeyConstraint('backend_slots_pk', ['backend', 'slot'])
    .execute();
  await db.schema.createIndex('backend_slots_job_id_idx').ifNotExists().on('backend_slots').column('job_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backend_slots').ifExists().execute();
  await db.schema.dropTable('coordination_leases').ifExists().execute();
  await db.schema.dropTable('service_instances').ifExists().execute();
  await db.schema.dropIndex('visual_generation_jobs_owner_instance_idx').ifExists().execute();
  await db.schema.alterTable('visual_generation_jobs').dropColumn('cancel_requested_at').execute();
  await db.schema.alterTable('visual_generation_jobs').dropColumn('owner_instance').execute();
}
