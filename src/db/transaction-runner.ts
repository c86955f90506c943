/**
 * How the store gets a transaction. Both dialects share one among the calls that queued up
 * meanwhile (GroupCommitRunner): on SQLite a commit costs a WAL write, on PostgreSQL a
 * transaction per call cost a BEGIN and a COMMIT round trip each (BENCHMARKS.md §6).
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
