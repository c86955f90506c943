/**
 * Transitions reach the store from separate event-loop callbacks (an HTTP reply here, a
 * socket frame there), not from one synchronous burst: the runner must still give calls made
 * in one event-loop turn a single commit.
 */
import { readFile } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseSchema } from '../../src/db/index.js';
import { GroupCommitRunner } from '../../src/db/group-commit-runner.js';
import { SqliteStatementCache } from '../../src/db/sqlite-statement-cache.js';

describe('GroupCommitRunner batching across callbacks', () => {
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

  const commits = () => executed.filter((text) => text.trim().toLowerCase() === 'commit').length;
  const insert = (runner: GroupCommitRunner, i: number) => runner.write((trx) => sql`insert into t (k, v) values (${`k${i}`}, ${i})`.execute(trx));

  it('commits writes issued from separate callbacks of one event-loop phase together', async () => {
    const runner = new GroupCommitRunner(db);
    const writes = await new Promise<Array<Promise<unknown>>>((resolve) => {
      const started: Array<Promise<unknown>> = [];
      // Twenty immediates run back to back in one check phase, microtasks between them.
      for (let i = 0; i < 20; i++) setImmediate(() => {
        started.push(insert(runner, i));
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
      Array.from({ length: 20 }, (_, i) => new Promise<Promise<unknown>>((resolve) => readFile(import.meta.filename, () => resolve(insert(runner, i))))),
    );
    await Promise.all(writes);
    expect(commits()).toBeLessThan(20);
  });
});
