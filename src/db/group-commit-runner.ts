/**
 * Group commit, on both dialects. Calls arriving while a transaction is running wait in one FIFO
 * queue; the next transaction takes all of them (up to `maxBatch`) and commits once. When
 * a call fails, the batch is rolled back and run again with each write in its own savepoint,
 * so a failing call undoes only its own writes. (So `work` may run twice: it must have no
 * effect outside the transaction.)
 *
 * Why: with thousands of job actors, each transition as its own transaction spent most of
 * its time in COMMIT (one WAL append of every touched page), and Kysely's connection mutex
 * wakes every waiter on each release, which is quadratic in the number waiting. One queue
 * and one commit per batch fixes both. Every caller still settles only after the commit
 * that holds its writes, so "persisted before announced" is unchanged.
 *
 * PostgreSQL: one transaction per call paid a BEGIN and a COMMIT round trip per transition
 * and held a pooled connection per call in flight; batched, 40 → 17 round trips per job
 * (BENCHMARKS.md §6). A failing statement aborts a PostgreSQL transaction, which the fast
 * path handles like SQLite's self-ending errors (it stops at the first failure); the
 * savepoint run recovers with ROLLBACK TO SAVEPOINT. Row locks and the admission advisory
 * lock are held until the batch commits — a few round trips longer than before.
 */
import type { DatabaseSchema } from './database-schema.js';
import type { StoreExecutor, TransactionRunner } from './transaction-runner.js';
import type { ControlledTransaction } from 'kysely';

interface QueuedCall {
  readOnly: boolean;
  work: (executor: StoreExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface GroupCommitRunnerOptions {
  /** Calls per transaction, so one transaction never holds the event loop for long. */
  maxBatch?: number;
  /**
   * Reads run at once on the database (a pool: PostgreSQL) instead of queueing for a batch.
   * There a read alone in a batch cost BEGIN, the read and COMMIT — three round trips, after
   * waiting for the batch before it. A read still sees every write its caller awaited (each
   * statement reads what was committed before it began). Not for SQLite: one connection.
   */
  readsOutsideBatches?: boolean;
}

export class GroupCommitRunner implements TransactionRunner {
  readonly #db: StoreExecutor;
  readonly #maxBatch: number;
  readonly #queue: QueuedCall[] = [];
  readonly #readsOutsideBatches: boolean;
  /** Reads running outside the batches (PostgreSQL; SQLite when idle): whenIdle waits for them too. */
  readonly #readsInFlight = new Set<Promise<unknown>>();
  /** The running drain loop, if any. */
  #draining: Promise<void> | undefined;
  /** A batch has been taken from the queue and its calls are not settled yet. */
  #batchOpen = false;

  constructor(db: StoreExecutor, options: GroupCommitRunnerOptions = {}) {
    this.#db = db;
    this.#maxBatch = Math.max(1, options.maxBatch ?? 128);
    this.#readsOutsideBatches = options.readsOutsideBatches ?? false;
  }

  write<T>(work: (trx: StoreExecutor) => Promise<T>): Promise<T> {
    return this.#enqueue(false, work);
  }

  read<T>(work: (db: StoreExecutor) => Promise<T>): Promise<T> {
    // SQLite, and nothing queued or running: a read now sees exactly what it would see first
    // in the next batch (there is no earlier call to wait for), without waiting for the check
    // phase or paying BEGIN IMMEDIATE and COMMIT around one SELECT. The outbox relay's read
    // after each commit is one such. It is handed the database, not a transaction, so it runs
    // through Kysely, whose connection mutex keeps it out of any transaction open meanwhile
    // (KyselyJobStore runs statements past the mutex only inside its batches' transactions);
    // with calls waiting, it queues behind them as before.
    const idle = this.#queue.length === 0 && !this.#batchOpen;
    if (!this.#readsOutsideBatches && !idle) return this.#enqueue(true, work);
    const read = work(this.#db);
    this.#readsInFlight.add(read);
    const forget = () => this.#readsInFlight.delete(read);
    read.then(forget, forget);
    return read;
  }

  #enqueue<T>(readOnly: boolean, work: (executor: StoreExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ readOnly, work, resolve: resolve as (value: unknown) => void, reject });
      // Started in the check phase (setImmediate), not a microtask later: transitions arrive
      // from I/O callbacks (HTTP replies, socket frames), one per callback, and every callback
      // of one event-loop turn runs before the check phase — so they share one commit instead
      // of paying BEGIN/COMMIT each (measured: 1.3 calls per transaction with a microtask).
      this.#draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
    });
  }

  /** Settles once every call queued so far has settled (for a clean close). */
  async whenIdle(): Promise<void> {
    while (this.#draining !== undefined || this.#readsInFlight.size > 0) {
      if (this.#draining !== undefined) await this.#draining;
      await Promise.allSettled([...this.#readsInFlight]);
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#runBatch(this.#queue.splice(0, this.#maxBatch));
    } finally {
      this.#draining = undefined;
    }
  }

  async #runBatch(batch: QueuedCall[]): Promise<void> {
    this.#batchOpen = true;
    // Closed before the calls settle: their callers may read at once, and should not wait.
    const settleAll = (outcomes: Outcome[]) => {
      this.#batchOpen = false;
      finish(batch, outcomes);
    };
    try {
      // Fast path: every call straight in the transaction. Calls rarely fail, and most that
      // do (JOB_NOT_FOUND, QUEUE_FULL) fail before writing anything — but "most" is not
      // "all", so any failure rolls the batch back and it runs again with savepoints.
      const fastPath = await this.#transaction((trx) => runAll(batch, (call) => settle(call.work(trx)), true));
      if (fastPath.committed || batch.length === 1) return settleAll(fastPath.outcomes);
      // Alone in the batch, a call's rollback is all the isolation it needs; otherwise re-run.
      const isolated = await this.#transaction((trx) => runAll(batch, (call) => runIsolated(trx, call)), true);
      settleAll(isolated.outcomes);
    } catch (error) {
      this.#batchOpen = false;
      if (error instanceof TransactionEndedByCall) {
        // That call's failure (disk full, I/O) ended the whole transaction: it fails, and
        // the rest, whose writes went with it, run again in the next batch.
        error.call.reject(error.reason);
        this.#queue.unshift(...batch.filter((call) => call !== error.call));
        return;
      }
      // Begin or the commit failed: nothing of this batch was written.
      for (const call of batch) call.reject(error);
    }
  }

  /**
   * Runs `body` in a transaction and commits, or rolls back when a call failed (unless
   * `commitFailures`: then each failure is already contained in its savepoint).
   */
  async #transaction(
    body: (trx: ControlledTransaction<DatabaseSchema>) => Promise<Outcome[]>,
    commitFailures = false,
  ): Promise<{ committed: boolean; outcomes: Outcome[] }> {
    const trx = await this.#db.startTransaction().execute();
    try {
      const outcomes = await body(trx);
      if (!commitFailures && outcomes.some((outcome) => !outcome.ok)) {
        // A rollback refused with "no transaction is active" means SQLite already rolled back.
        await trx
          .rollback()
          .execute()
          .catch(() => undefined);
        return { committed: false, outcomes };
      }
      await trx.commit().execute();
      return { committed: true, outcomes };
    } catch (error) {
      if (!trx.isCommitted && !trx.isRolledBack)
        await trx
          .rollback()
          .execute()
          .catch(() => undefined);
      throw error;
    }
  }
}

/**
 * `stopAtFailure` on the fast path: some SQLite errors (disk full, I/O) end the transaction
 * themselves, and any call run after that would write outside it, in autocommit mode.
 */
async function runAll(batch: QueuedCall[], run: (call: QueuedCall) => Promise<Outcome>, stopAtFailure = false): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const call of batch) {
    const outcome = await run(call);
    outcomes.push(outcome);
    if (stopAtFailure && !outcome.ok) break;
  }
  return outcomes;
}

class TransactionEndedByCall extends Error {
  constructor(
    readonly call: QueuedCall,
    readonly reason: unknown,
  ) {
    super('a call ended the transaction');
  }
}

async function runIsolated(trx: ControlledTransaction<DatabaseSchema>, call: QueuedCall): Promise<Outcome> {
  if (call.readOnly) return settle(call.work(trx));
  const inSavepoint = await trx.savepoint('store_call').execute();
  const outcome = await settle(call.work(inSavepoint));
  if (outcome.ok) {
    await inSavepoint.releaseSavepoint('store_call').execute();
    return outcome;
  }
  try {
    await inSavepoint.rollbackToSavepoint('store_call').execute();
    await inSavepoint.releaseSavepoint('store_call').execute();
  } catch {
    // The savepoint is gone only if the failure ended the transaction itself.
    throw new TransactionEndedByCall(call, outcome.error);
  }
  return outcome;
}

async function settle(promise: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

function finish(batch: QueuedCall[], outcomes: Outcome[]): void {
  batch.forEach((call, index) => {
    const outcome = outcomes[index] as Outcome;
    if (outcome.ok) call.resolve(outcome.value);
    else call.reject(outcome.error);
  });
}
