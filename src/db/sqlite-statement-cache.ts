/**
 * A better-sqlite3 handle as Kysely's SqliteDialect sees it, with two changes that matter:
 *
 * - Prepared statements are kept by SQL text. Kysely prepares every query anew, and for our
 *   few fixed queries preparing costs as much as running them. Reuse is safe because
 *   Kysely's SQLite driver runs one query at a time behind its mutex and `all`/`run` finish
 *   synchronously (we never stream, which would hold a statement open).
 * - `begin` becomes `begin immediate`: the write lock is taken up front, so a second
 *   process on the same file (a CLI `jobs cancel` next to `serve`) waits through
 *   busy_timeout instead of failing with SQLITE_BUSY when a read-then-write transaction
 *   upgrades its lock.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { setBounded } from './bounded-map.js';

/** The narrow part of better-sqlite3's `Database` we use (not its type, so tests can fake it). */
export interface PreparingDatabase {
  prepare(sql: string): SqliteStatement;
  close(): unknown;
}

export class SqliteStatementCache implements SqliteDatabase {
  readonly #database: PreparingDatabase;
  readonly #maxEntries: number;
  readonly #statements = new Map<string, SqliteStatement>();

  constructor(database: PreparingDatabase, maxEntries = 256) {
    this.#database = database;
    this.#maxEntries = maxEntries;
  }

  prepare(sql: string): SqliteStatement {
    const text = sql.trim().toLowerCase() === 'begin' ? 'begin immediate' : sql;
    const cached = this.#statements.get(text);
    if (cached !== undefined) return cached;
    const statement = this.#database.prepare(text);
    setBounded(this.#statements, text, statement, this.#maxEntries);
    return statement;
  }

  get size(): number {
    return this.#statements.size;
  }

  close(): void {
    this.#statements.clear();
    this.#database.close();
  }
}
