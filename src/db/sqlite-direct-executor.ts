/**
 * Runs a compiled query on the SQLite connection the way Kysely's SQLite driver does (the
 * statement from the cache; `all` when it returns rows, `run` otherwise), without Kysely's
 * machinery around each query: a query executor made per call, a connection provider, the
 * connection mutex and four nested async functions — ~4 KB of garbage per statement in the
 * throughput benchmark's heap profile, for the ~17 statements of every job (issue 16).
 *
 * Only for a caller that already holds the connection inside a transaction: the group
 * commit's batches (KyselyJobStore). The mutex this skips is what keeps one caller's
 * statements out of another's transaction, and that transaction has already taken it.
 * better-sqlite3 runs a statement synchronously, so nothing interleaves with one.
 */
import type { CompiledQuery, QueryResult, SqliteDatabase } from 'kysely';
import type { CompiledQueryExecutor } from './query-template.js';

export class SqliteDirectExecutor implements CompiledQueryExecutor {
  readonly #database: Pick<SqliteDatabase, 'prepare'>;

  constructor(database: Pick<SqliteDatabase, 'prepare'>) {
    this.#database = database;
  }

  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>> {
    try {
      const statement = this.#database.prepare(query.sql);
      if (statement.reader) return Promise.resolve({ rows: statement.all(query.parameters) as R[] });
      const { changes, lastInsertRowid } = statement.run(query.parameters);
      return Promise.resolve({ numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] });
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
