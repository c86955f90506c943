/**
 * Frozen in time (see the first migration). Regenerate (issue 17):
 * `visual_generation_jobs.regenerated_from` names the job whose inputs made this one. The
 * other direction (a job's regenerations) is read through the index, never stored twice.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // SQLite migrations run outside a transaction: an interrupted run must be able to repeat.
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table visual_generation_jobs add column if not exists regenerated_from text`.execute(db);
  } else {
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info('visual_generation_jobs') where name = 'regenerated_from'`.execute(db);
    if (rows.length === 0) await db.schema.alterTable('visual_generation_jobs').addColumn('regenerated_from', 'text').execute();
  }
  await db.schema.createIndex('visual_generation_jobs_regenerated_from_idx').ifNotExists().on('visual_generation_jobs').column('regenerated_from').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('visual_generation_jobs_regenerated_from_idx').ifExists().execute();
  await db.schema.alterTable('visual_generation_jobs').dropColumn('regenerated_from').execute();
}
