import { describe, expect, it } from 'vitest';
import type { SqliteStatement } from 'kysely';
import { SqliteStatementCache, type PreparingDatabase } from '../../src/db/sqlite-statement-cache.js';

function recordingDatabase() {
  const prepared: string[] = [];
  let closed = false;
  const database: PreparingDatabase = {
    prepare(sql: string): SqliteStatement {
      prepared.push(sql);
      return { reader: sql.startsWith('select'), all: () => [], run: () => ({ changes: 0, lastInsertRowid: 0 }), iterate: () => [][Symbol.iterator]() };
    },
    close() {
      closed = true;
    },
  };
  return { database, prepared, isClosed: () => closed };
}

describe('SqliteStatementCache', () => {
  it('prepares each SQL text once and hands back the same statement', () => {
    const { database, prepared } = recordingDatabase();
    const cache = new SqliteStatementCache(database);
    const first = cache.prepare('select 1');
    expect(cache.prepare('select 1')).toBe(first);
    cache.prepare('select 2');
    expect(prepared).toEqual(['select 1', 'select 2']);
  });

  it("turns Kysely's plain begin into begin immediate", () => {
    const { database, prepared } = recordingDatabase();
    const cache = new SqliteStatementCache(database);
    cache.prepare('begin');
    cache.prepare('commit');
    expect(prepared).toEqual(['begin immediate', 'commit']);
  });

  it('forgets the oldest statement beyond its size and closes the database', () => {
    const { database, prepared, isClosed } = recordingDatabase();
    const cache = new SqliteStatementCache(database, 2);
    cache.prepare('select 1');
    cache.prepare('select 2');
    cache.prepare('select 3');
    expect(cache.size).toBe(2);
    cache.prepare('select 1');
    expect(prepared).toEqual(['select 1', 'select 2', 'select 3', 'select 1']);
    cache.close();
    expect(isClosed()).toBe(true);
    expect(cache.size).toBe(0);
  });
});
