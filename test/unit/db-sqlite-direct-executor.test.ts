import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDirectExecutor } from '../../src/db/sqlite-direct-executor.js';
import { SqliteStatementCache } from '../../src/db/sqlite-statement-cache.js';

interface Schema {
  t: { k: string; v: number };
}

describe('SqliteDirectExecutor', () => {
  let db: Kysely<Schema>;
  let direct: SqliteDirectExecutor;
  beforeEach(async () => {
    const statements = new SqliteStatementCache(new BetterSqlite3(':memory:'));
    db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: statements }) });
    direct = new SqliteDirectExecutor(statements);
    await sql`create table t (k text primary key, v integer not null)`.execute(db);
  });
  afterEach(async () => {
    await db.destroy();
  });

  it('answers every kind of statement as Kysely’s SQLite driver does', async () => {
    const insert = (k: string, v: number) => db.insertInto('t').values({ k, v }).compile();
    expect(await direct.executeQuery(insert('a', 1))).toEqual({ numAffectedRows: 1n, insertId: 1n, rows: [] });
    expect(await db.executeQuery(insert('b', 2))).toEqual({ numAffectedRows: 1n, insertId: 2n, rows: [] });
    const update = (v: number) => db.updateTable('t').set({ v }).where('v', '<', 10).returning(['k', 'v']).compile();
    const viaDirect = await direct.executeQuery(update(3));
    expect(viaDirect.rows).toEqual([
      { k: 'a', v: 3 },
      { k: 'b', v: 3 },
    ]);
    expect(viaDirect).toEqual(await db.executeQuery(update(3)));
    const plainUpdate = db.updateTable('t').set({ v: 4 }).compile();
    expect(await direct.executeQuery(plainUpdate)).toEqual(await db.executeQuery(plainUpdate));
    const select = db.selectFrom('t').selectAll().orderBy('k').compile();
    expect(await direct.executeQuery(select)).toEqual(await db.executeQuery(select));
  });

  it('fails as a rejected promise with the driver’s error, never a throw', async () => {
    await direct.executeQuery(db.insertInto('t').values({ k: 'a', v: 1 }).compile());
    let thrown: unknown;
    let result: Promise<unknown> | undefined;
    try {
      result = direct.executeQuery(db.insertInto('t').values({ k: 'a', v: 2 }).compile());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeUndefined();
    await expect(result).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
  });
});
