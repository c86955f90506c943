import { readFile } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseSchema } from '../../src/db/index.js';
import { GroupCommitRunner } from '../../src/db/group-commit-runner.js';
import { SqliteStatementCache } from '../../src/db/sqlite-statement-cache.js';
import { createPostgresSchema, testPostgresUrl } from './db-test-fixtures.js';

// Both dialects: the table `t` each set-up creates, and the SQL Kysely logged.
const insert = (trx: Kysely<any>, k: string, v: number) => sql`insert into t (k, v) values (${k}, ${v})`.execute(trx);
const rowsOf = async (db: Kysely<any>) => (await sql<{ k: string; v: number }>`select k, v from t order by k`.execute(db)).rows;
const countOf = (executed: string[], statement: string) => executed.filter((text) => text.trim().toLowerCase() === statement).length;

async function queuedCallsCommitTogether(db: Kysely<any>, executed: string[], calls: number): Promise<void> {
  const runner = new GroupCommitRunner(db);
  const results = await Promise.all(
    Array.from({ length: calls }, (_, i) =>
      runner.write(async (trx) => {
        await insert(trx, `k${String(i).padStart(2, '0')}`, i);
        return i;
      }),
    ),
  );
  expect(results).toEqual(Array.from({ length: calls }, (_, i) => i));
  expect(countOf(executed, 'commit')).toBe(1);
  expect((await rowsOf(db)).map((row) => row.v)).toEqual(results);
}

describe('GroupCommitRunner on SQLite', () => {
  let db: Kysely<DatabaseSchema>;
  let executed: string[];

  beforeEach(async () => {
    executed = [];
    db = new Kysely<DatabaseSchema>({
      dialect: new SqliteDialect({ database: new SqliteStatementCache(new BetterSqlite3(':memory:')) }),
      log: (event) => void executed.push(event.query.sql),
    });
    await sql`create table t (k text primary key, v integer not null)`.execute(db);
    executed = [];
  });
  afterEach(async () => {
    await db.destroy();
  });

  const rows = () => rowsOf(db);
  const count = (statement: string) => countOf(executed, statement);

  it('commits calls queued together in one transaction, in order', () => queuedCallsCommitTogether(db, executed, 50));

  it('splits long queues into batches of maxBatch', async () => {
    const runner = new GroupCommitRunner(db, { maxBatch: 10 });
    await Promise.all(Array.from({ length: 35 }, (_, i) => runner.write((trx) => insert(trx, `k${i}`, i))));
    expect(count('commit')).toBe(4);
    expect(await rows()).toHaveLength(35);
  });

  it('undoes only the failing call, even after it wrote, and keeps its neighbours', async () => {
    const runner = new GroupCommitRunner(db);
    const outcomes = await Promise.allSettled([
      runner.write((trx) => insert(trx, 'a', 1)),
      runner.write(async (trx) => {
        await insert(trx, 'b', 2);
        throw new Error('changed my mind');
      }),
      runner.write((trx) => insert(trx, 'c', 3)),
      runner.read(async (trx) => (await sql<{ n: number }>`select count(*) as n from t`.execute(trx)).rows[0]?.n),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'changed my mind' });
    // The read saw a and c (b was rolled back before it ran in the isolated re-run).
    expect((outcomes[3] as PromiseFulfilledResult<number>).value).toBe(2);
    expect(await rows()).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 3 },
    ]);
    expect(count('rollback')).toBe(1);
    expect(executed.some((text) => text.startsWith('savepoint'))).toBe(true);
  });

  it('rolls a lone failing call back without savepoints', async () => {
    const runner = new GroupCommitRunner(db);
    await expect(
      runner.write(async (trx) => {
        await insert(trx, 'x', 1);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await rows()).toEqual([]);
    expect(executed.some((text) => text.startsWith('savepoint'))).toBe(false);
  });

  it('fails only the call that filled the database, even though SQLite ended the transaction', async () => {
    const runner = new GroupCommitRunner(db);
    const { rows: pages } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
    await sql.raw(`pragma max_page_count = ${(pages[0]?.page_count ?? 2) + 2}`).execute(db);
    const big = 'x'.repeat(64 * 1024);
    const outcomes = await Promise.allSettled([
      runner.write((trx) => insert(trx, 'a', 1)),
      runner.write((trx) => sql`insert into t (k, v) values (${big}, 2)`.execute(trx)),
      runner.write((trx) => insert(trx, 'c', 3)),
    ]);
    // The full disk ends SQLite's transaction, taking a's write with it: a and c run again.
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/full/i);
    expect((await rows()).map((row) => row.k)).toEqual(['a', 'c']);
  });

  it('rejects the whole batch when the commit itself fails, and keeps working afterwards', async () => {
    const runner = new GroupCommitRunner(db);
    await sql`create table parent (id integer primary key)`.execute(db);
    await sql`create table child (p integer references parent(id) deferrable initially deferred)`.execute(db);
    await sql`pragma foreign_keys = on`.execute(db);
    // A deferred foreign key is checked at COMMIT: the commit fails, for everyone in the batch.
    const outcomes = await Promise.allSettled([
      runner.write((trx) => insert(trx, 'a', 1)),
      runner.write((trx) => sql`insert into child (p) values (42)`.execute(trx)),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(await rows()).toEqual([]);
    await runner.write((trx) => insert(trx, 'after', 1));
    expect(await rows()).toEqual([{ k: 'after', v: 1 }]);
  });

  it('a read while nothing is queued runs at once, without a transaction; one behind a queued write waits for it', async () => {
    const runner = new GroupCommitRunner(db);
    await runner.write((trx) => insert(trx, 'a', 1));
    executed = [];
    const keys = (executor: Kysely<any>) => sql<{ k: string }>`select k from t order by k`.execute(executor).then((result) => result.rows.map((row) => row.k));
    expect(await runner.read(keys)).toEqual(['a']);
    expect(executed).toEqual(['select k from t order by k']);

    executed = [];
    // Not awaited: the read must still see it, as it would have in the same batch.
    const written = runner.write((trx) => insert(trx, 'b', 2));
    const seen = runner.read(keys);
    expect(await seen).toEqual(['a', 'b']);
    await written;
    expect(count('begin')).toBe(1);
    expect(count('commit')).toBe(1);
    await runner.whenIdle();
  });

  // Transitions reach the store from separate event-loop callbacks (an HTTP reply here, a
  // socket frame there), not from one synchronous burst: calls made in one event-loop turn
  // must still share a single commit.
  describe('batching across callbacks', () => {
    const commits = () => executed.filter((text) => text.trim().toLowerCase() === 'commit').length;
    const insertVia = (runner: GroupCommitRunner, i: number) => runner.write((trx) => sql`insert into t (k, v) values (${`k${i}`}, ${i})`.execute(trx));

    it('commits writes issued from separate callbacks of one event-loop phase together', async () => {
      const runner = new GroupCommitRunner(db);
      const writes = await new Promise<Array<Promise<unknown>>>((resolve) => {
        const started: Array<Promise<unknown>> = [];
        // Twenty immediates run back to back in one check phase, microtasks between them.
        for (let i = 0; i < 20; i++)
          setImmediate(() => {
            started.push(insertVia(runner, i));
            if (started.length === 20) resolve(started);
          });
      });
      await Promise.all(writes);
      expect(commits()).toBe(1);
      const { rows } = await sql<{ n: number }>`select count(*) as n from t`.execute(db);
      expect(rows[0]?.n).toBe(20);
    });

    it('commits writes issued from separate I/O callbacks that complete in one turn together', async () => {
      const runner = new GroupCommitRunner(db);
      // Each write starts in a filesystem callback; however the pool spreads them over turns,
      // they must need fewer commits than writes.
      const writes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => new Promise<Promise<unknown>>((resolve) => readFile(import.meta.filename, () => resolve(insertVia(runner, i))))),
      );
      await Promise.all(writes);
      expect(commits()).toBeLessThan(20);
    });
  });
});

// PostgreSQL batches too (issue 16): there a failing statement aborts the whole transaction,
// so every later statement in it would fail — the runner must stop, roll back and re-run the
// batch with savepoints, and the neighbours of the failing call must still commit.
describe.skipIf(testPostgresUrl === 'off')('GroupCommitRunner on PostgreSQL', () => {
  let db: Kysely<DatabaseSchema>;
  let schema: Awaited<ReturnType<typeof createPostgresSchema>>;
  let executed: string[];

  beforeEach(async () => {
    executed = [];
    schema = await createPostgresSchema();
    db = new Kysely<DatabaseSchema>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: schema.url, max: 3 }) }),
      log: (event) => void executed.push(event.query.sql),
    });
    await sql`create table t (k text primary key, v integer not null)`.execute(db);
    executed = [];
  });
  afterEach(async () => {
    await db.destroy();
    await schema.drop();
  });

  const rows = () => rowsOf(db);
  const count = (statement: string) => countOf(executed, statement);

  it('commits calls queued together in one transaction, in order', () => queuedCallsCommitTogether(db, executed, 30));

  it('undoes only the call whose statement failed (which aborts the transaction) and commits its neighbours', async () => {
    const runner = new GroupCommitRunner(db);
    await insert(db, 'taken', 0);
    const outcomes = await Promise.allSettled([
      runner.write((trx) => insert(trx, 'a', 1)),
      runner.write(async (trx) => {
        await insert(trx, 'b', 2);
        await insert(trx, 'taken', 2); // unique violation: PostgreSQL aborts the transaction here
      }),
      runner.write((trx) => insert(trx, 'c', 3)),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' });
    expect((await rows()).map((row) => row.k)).toEqual(['a', 'c', 'taken']);
    expect(count('rollback')).toBe(1);
    expect(executed.some((text) => text.startsWith('rollback to'))).toBe(true);
  });

  it('with readsOutsideBatches, a read is one statement on the pool, sees awaited writes, and whenIdle waits for it', async () => {
    const runner = new GroupCommitRunner(db, { readsOutsideBatches: true });
    await runner.write((trx) => insert(trx, 'a', 1));
    executed = [];
    const seen = await runner.read(async (pool) => (await sql<{ k: string }>`select k from t`.execute(pool)).rows.map((row) => row.k));
    expect(seen).toEqual(['a']);
    expect(executed).toEqual(['select k from t']);
    let slowDone = false;
    void runner.read(async (pool) => {
      await sql`select pg_sleep(0.2)`.execute(pool);
      slowDone = true;
    });
    await runner.whenIdle();
    expect(slowDone).toBe(true);
  });
});
