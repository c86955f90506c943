/**
 * Frozen in time (see the first migration). Issue 16: `visual_generation_jobs.comfy_graph`
 * holds the composed ComfyUI graph, written once, so the snapshot every transition rewrites
 * no longer carries it (most of its ~2.9 KB). Rows from before keep the graph in their snapshot.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // SQLite migrations run outside a transaction: an interrupted run must be able to repeat.
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table visual_generation_jobs add column if not exists comfy_graph text`.execute(db);
    return;
  }
  const { rows } = await sql<{ name: string }>`select name from pragma_table_info('visual_generation_jobs') where name = 'comfy_graph'`.execute(db);
  if (rows.length === 0) await db.schema.alterTable('visual_generation_jobs').addColumn('comfy_graph', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('visual_generation_jobs').dropColumn('comfy_graph').execute();
}
