/**
 * How the store gets a transaction. PostgreSQL (a pool of connections) gives every call its
 * own; SQLite (one connection, commits cost a WAL write each) shares one among the calls
 * that queued up meanwhile — see GroupCommitRunner.
 */
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from './database-schema.js';

export type StoreExecutor = Kysely<DatabaseSchema>;

export interface TransactionRunner {
  /**
   * Runs `work` all-or-nothing and settles after its writes are committed. `work` may only
   * await the executor it is given (never the network, never this runner: that deadlocks),
   * and may be run again after a rollback, so it must have no effect outside the database.
   */
  write<T>(work: (trx: StoreExecutor) => Promise<T>): Promise<T>;
  /** Runs read-only `work`; it may share a transaction with writes. */
  read<T>(work: (db: StoreExecutor) => Promise<T>): Promise<T>;
  /** Settles once every call made so far has settled. */
  whenIdle(): Promise<void>;
}

export class TransactionPerCallRunner implements TransactionRunner {
  readonly #db: StoreExecutor;

  constructor(db: StoreExecutor) {
    this.#db = db;
  }

  write<T>(work: (trx: StoreExecutor) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute(work);
  }

  read<T>(work: (db: StoreExecutor) => Promise<T>): Promise<T> {
    return work(this.#db);
  }

  async whenIdle(): Promise<void> {
    // Each call is its own transaction on a pooled connection; destroying the pool waits for them.
  }
}
