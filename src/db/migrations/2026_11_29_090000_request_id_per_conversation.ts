/**
 * Frozen in time (see the first migration). `request_id` is unique per conversation, not
 * globally: Chorus Engine's message ids are unique only inside one conversation, so two
 * conversations may send the same one. Adds `request_hash` (the request's meaningful fields,
 * hashed) so a reused id with a different request is told apart from a retry.
 *
 * SQLite cannot drop a column's UNIQUE constraint: the table is rebuilt (the documented
 * create-copy-drop-rename procedure), with foreign keys off so dropping the old table does
 * not cascade into job_events, and every index recreated from its stored SQL.
 */
import { PostgresAdapter, sql, type Kysely } from 'kysely';

const table = 'visual_generation_jobs';
const rebuilt = 'visual_generation_jobs_rebuild';

export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table visual_generation_jobs drop constraint if exists visual_generation_jobs_request_id_key`.execute(db);
    await sql`alter table visual_generation_jobs add column if not exists request_hash text`.execute(db);
  } else {
    await rebuildSqliteWithoutGlobalUnique(db);
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info('visual_generation_jobs') where name = 'request_hash'`.execute(db);
    if (rows.length === 0) await db.schema.alterTable(table).addColumn('request_hash', 'text').execute();
  }
  await db.schema
    .createIndex('visual_generation_jobs_conversation_request_idx')
    .ifNotExists()
    .unique()
    .on(table)
    .columns(['conversation_id', 'request_id'])
    .execute();
}

async function rebuildSqliteWithoutGlobalUnique(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = ${table}`.execute(db);
  const createSql = rows[0]?.sql;
  if (createSql === undefined || !/"request_id" text unique/i.test(createSql)) return; // already rebuilt (a repeated run)
  const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`.execute(db);
  await sql`pragma foreign_keys = off`.execute(db);
  try {
    await db.transaction().execute(async (trx) => {
      await sql.raw(`drop table if exists "${rebuilt}"`).execute(trx);
      const newSql = createSql
        .replace(/"request_id" text unique/i, '"request_id" text')
        .replace(/^create table (if not exists )?"?visual_generation_jobs"?/i, `create table "${rebuilt}"`);
      await sql.raw(newSql).execute(trx);
      await sql.raw(`insert into "${rebuilt}" select * from "${table}"`).execute(trx);
      await sql.raw(`drop table "${table}"`).execute(trx);
      await sql.raw(`alter table "${rebuilt}" rename to "${table}"`).execute(trx);
      for (const index of indexes.rows) await sql.raw(index.sql).execute(trx);
      const broken = await sql`pragma foreign_key_check`.execute(trx);
      if (broken.rows.length > 0) throw new Error(`foreign keys broken by the rebuild: ${JSON.stringify(broken.rows.slice(0, 3))}`);
    });
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('visual_generation_jobs_conversation_request_idx').ifExists().execute();
  await db.schema.alterTable(table).dropColumn('request_hash').execute();
}
