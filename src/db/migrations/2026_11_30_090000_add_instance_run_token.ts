/**
 * Frozen in time (see the first migration). `service_instances.run_token`: a random id each
 * run of an instance makes when it claims the id. Heartbeats, the retire and transition
 * writes name it, so a run that stalled past its lease cannot renew or act under an id
 * another process has claimed since (it finds another token there). Rows from before have none.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // SQLite migrations run outside a transaction: an interrupted run must be able to repeat.
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table service_instances add column if not exists run_token text`.execute(db);
    return;
  }
  const { rows } = await sql<{ name: string }>`select name from pragma_table_info('service_instances') where name = 'run_token'`.execute(db);
  if (rows.length === 0) await db.schema.alterTable('service_instances').addColumn('run_token', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('service_instances').dropColumn('run_token').execute();
}
