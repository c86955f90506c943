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
  /** Calls not settled yet: close() must not end the pool under them. */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(db: StoreExecutor) {
    this.#db = db;
  }

  write<T>(work: (trx: StoreExecutor) => Promise<T>): Promise<T> {
    return this.#track(this.#db.transaction().execute(work));
  }

  read<T>(work: (db: StoreExecutor) => Promise<T>): Promise<T> {
    return this.#track(work(this.#db));
  }

  async whenIdle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #track<T>(call: Promise<T>): Promise<T> {
    this.#inFlight.add(call);
    const forget = () => this.#inFlight.delete(call);
    call.then(forget, forget);
    return call;
  }
}
