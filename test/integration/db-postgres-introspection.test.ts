/**
 * PostgreSQL introspection (which Kysely's Migrator runs on every open) sees only the schema
 * `search_path` selects. Before, it listed every schema on the server and looked each name
 * up again, so a test file opening a store while another dropped its schema failed with
 * `schema "<the other's>" does not exist` (a CI flake in db-job-store-queries).
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { createPostgresSchema, testPostgresUrl } from './db-test-fixtures.js';

describe.skipIf(testPostgresUrl === 'off')('PostgreSQL introspection', () => {
  let ours: Awaited<ReturnType<typeof createPostgresSchema>>;
  let theirs: Awaited<ReturnType<typeof createPostgresSchema>>;
  let database: Database;
  let other: pg.Client;

  beforeEach(async () => {
    ours = await createPostgresSchema();
    theirs = await createPostgresSchema();
    database = await openDatabase(ours.url);
    other = new pg.Client({ connectionString: testPostgresUrl });
    await other.connect();
    await other.query(`create table "${theirs.schema}".their_table (id serial primary key)`);
    await sql`create table our_table (id serial primary key, label text not null default 'x', note text)`.execute(database.db);
  });
  afterEach(async () => {
    await other.end();
    await database.close();
    await ours.drop();
    await theirs.drop();
  });

  it("lists the search_path schema's tables only, with Kysely's column metadata", async () => {
    const tables = await database.db.introspection.getTables();
    expect(tables).toEqual([
      {
        name: 'our_table',
        schema: ours.schema,
        isView: false,
        columns: [
          { name: 'id', dataType: 'int4', dataTypeSchema: 'pg_catalog', isAutoIncrementing: true, isNullable: false, hasDefaultValue: true },
          { name: 'label', dataType: 'text', dataTypeSchema: 'pg_catalog', isAutoIncrementing: false, isNullable: false, hasDefaultValue: true },
          { name: 'note', dataType: 'text', dataTypeSchema: 'pg_catalog', isAutoIncrementing: false, isNullable: true, hasDefaultValue: false },
        ],
      },
    ]);
  });

  it('is not failed by another schema dropped while it runs', async () => {
    // A repeatable-read snapshot taken before the drop still lists their schema, as a query
    // that started before it would: the window the flake needed, held open on purpose.
    const tables = await database.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        await other.query(`drop schema "${theirs.schema}" cascade`);
        return trx.introspection.getTables({ withInternalKyselyTables: true });
      });
    expect(tables.map((table) => table.name)).toEqual(['our_table']);
  });
});
