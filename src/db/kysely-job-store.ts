/**
 * The JobStore on Kysely: every method is one all-or-nothing unit made of the repository
 * functions, run by a TransactionRunner, awaiting nothing but the database inside it — on
 * SQLite a transaction holds the only connection.
 */
import type { Kysely } from 'kysely';
import { ChorusError, ErrorCode, isChorusError, ownershipLost } from '../errors/index.js';
import type { CreateJobOutcome, JobEventRow, JobListFilter, JobPatch, JobRow, JobStore, NewJob, NewJobEvent } from '../contracts/job-store-port.js';
import type { JobState } from '../contracts/job-view.js';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import { countUnpublishedEvents, selectJobEvents, toJobEventRow, toNewJobEventRecord } from './job-event.repository.js';
import { toCreatedJobRow, toJobRecordUpdate, toJobRow, toNewJobRecord } from './job-row-codec.js';
import { countJobs, countJobsByState, selectJobs, selectUnfinishedJobs } from './job.repository.js';
import { JobStatements, type WriteFence } from './job-statements.js';
import { GroupCommitRunner } from './group-commit-runner.js';
import type { TransactionRunner } from './transaction-runner.js';
import { isUniqueViolation } from './unique-violation.js';
import { lockAdmission } from './admission-lock.js';
import type { CompiledQueryExecutor } from './query-template.js';

export interface KyselyJobStoreOptions {
  /** The clock for `updated_at`; event times come from the caller's events. */
  now?: () => Date;
  /** What `close()` does; by default it destroys the Kysely instance (closing the database). */
  close?: () => Promise<void>;
  /** How transactions are made; by default group commit (GroupCommitRunner) on both dialects. */
  runner?: TransactionRunner;
  /**
   * Several instances share the database: jobs this store creates are owned by this
   * instance, and transitions are written only while it still owns the job (a fence against
   * an instance that was presumed dead and taken over).
   */
  ownerInstance?: string;
  /**
   * With `ownerInstance`: this process's run token, the one it claims the id with. Then a
   * transition is written only while this run still holds the id: a process that stalled
   * past its lease, and whose id another process claimed meanwhile, cannot write the jobs
   * that process now drives under the same id.
   */
  runToken?: string;
  /**
   * SQLite: runs the store's compiled statements on the connection without Kysely's
   * per-query machinery (Database.direct). Used only inside the transactions of the store's
   * own group commit, which hold the connection (a read outside them goes through Kysely);
   * ignored when a `runner` is given.
   */
  direct?: CompiledQueryExecutor;
}

export class KyselyJobStore implements JobStore {
  readonly db: Kysely<DatabaseSchema>;
  readonly dialect: DatabaseDialect;
  readonly #now: () => Date;
  readonly #close: () => Promise<void>;
  readonly #runner: TransactionRunner;
  readonly #owner: string | undefined;
  readonly #fence: WriteFence | undefined;
  readonly #statements: JobStatements;
  readonly #direct: CompiledQueryExecutor | undefined;

  constructor(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect, options: KyselyJobStoreOptions = {}) {
    this.db = db;
    this.dialect = dialect;
    // PostgreSQL too: one transaction per call cost it a BEGIN and a COMMIT round trip per
    // transition, and one pooled connection per call in flight; batched, they are shared.
    // Its reads go straight to the pool: one round trip, not waiting for a batch.
    this.#runner = options.runner ?? new GroupCommitRunner(db, { readsOutsideBatches: dialect === 'postgres' });
    this.#statements = new JobStatements(db, dialect);
    this.#now = options.now ?? (() => new Date());
    this.#close = options.close ?? (() => db.destroy());
    this.#owner = options.ownerInstance;
    this.#fence =
      options.ownerInstance === undefined
        ? undefined
        : { owner: options.ownerInstance, ...(options.runToken === undefined ? {} : { runToken: options.runToken }) };
    this.#direct = options.runner === undefined && dialect === 'sqlite' ? options.direct : undefined;
  }

  async createJob(job: NewJob, event: NewJobEvent, limits: { maxQueueSize: number }): Promise<CreateJobOutcome> {
    const statements = this.#statements;
    try {
      return await this.#runner.write(async (trx) => {
        const exec = this.#exec(trx);
        // Dedupe first: a caller retrying a request gets its job back even when the queue is full.
        if (job.request_id !== null) {
          const existing = await statements.findJobByRequestId(exec, job.conversation_id, job.request_id);
          if (existing !== undefined) return { job: toJobRow(existing), created: false };
        }
        // PostgreSQL runs admissions side by side: without a lock two could both count
        // max-1 and both insert. The transaction-scoped advisory lock serialises just this.
        if (this.dialect === 'postgres') await lockAdmission(trx);
        const active = await statements.countUnfinishedJobs(exec);
        if (active >= limits.maxQueueSize) {
          throw new ChorusError(ErrorCode.QUEUE_FULL, `The job queue is full (${active} unfinished jobs, limit ${limits.maxQueueSize})`, {
            details: { max_queue_size: limits.maxQueueSize, active },
          });
        }
        const row = toCreatedJobRow(job, this.#timestamp(), this.#owner ?? null);
        await statements.insertJob(exec, toNewJobRecord(row), toNewJobEventRecord(job.id, 1, event));
        return { job: row, created: true };
      });
    } catch (error) {
      // Lost a race with another writer (another process, or PostgreSQL's concurrent
      // transactions): the unique index on (conversation_id, request_id) kept it to one job; return that one.
      if (job.request_id !== null && isUniqueViolation(error)) {
        const requestId = job.request_id;
        const existing = await this.#guard('createJob', () =>
          this.#runner.read((db) => statements.findJobByRequestId(this.#exec(db), job.conversation_id, requestId)),
        );
        if (existing !== undefined) return { job: toJobRow(existing), created: false };
      }
      throw asStoreError('createJob', error);
    }
  }

  recordTransition(jobId: string, patch: JobPatch, event: NewJobEvent): Promise<{ seq: number }> {
    return this.#guard('recordTransition', () => {
      // Encoded once, outside `work`: the runner may run it twice (savepoint fallback).
      const update = toJobRecordUpdate(patch);
      const updatedAt = this.#timestamp();
      // seq 0 stands in until the UPDATE returns the job's next one.
      const record = toNewJobEventRecord(jobId, 0, event);
      return this.#runner.write(async (trx) => {
        const seq = await this.#statements.advanceJob(this.#exec(trx), jobId, update, updatedAt, this.#fence, record);
        if (seq === undefined) throw await this.#whyNotUpdated(trx, jobId);
        return { seq };
      });
    });
  }

  getJob(jobId: string): Promise<JobRow | undefined> {
    return this.#read('getJob', async (db) => {
      const record = await this.#statements.findJobById(this.#exec(db), jobId);
      return record === undefined ? undefined : toJobRow(record);
    });
  }

  findByRequestId(conversationId: string, requestId: string): Promise<JobRow | undefined> {
    return this.#read('findByRequestId', async (db) => {
      const record = await this.#statements.findJobByRequestId(this.#exec(db), conversationId, requestId);
      return record === undefined ? undefined : toJobRow(record);
    });
  }

  listJobs(filter: JobListFilter = {}): Promise<JobRow[]> {
    return this.#read('listJobs', async (db) => (await selectJobs(db, filter)).map(toJobRow));
  }

  countJobs(filter: Omit<JobListFilter, 'limit' | 'offset'> = {}): Promise<number> {
    return this.#read('countJobs', (db) => countJobs(db, filter));
  }

  countByState(filter: Omit<JobListFilter, 'limit' | 'offset' | 'states'> = {}): Promise<Partial<Record<JobState, number>>> {
    return this.#read('countByState', async (db) => {
      const counts: Partial<Record<JobState, number>> = {};
      for (const { status, count } of await countJobsByState(db, filter)) counts[status as JobState] = count;
      return counts;
    });
  }

  listUnfinished(): Promise<JobRow[]> {
    return this.#read('listUnfinished', async (db) => (await selectUnfinishedJobs(db)).map(toJobRow));
  }

  listEvents(jobId: string): Promise<JobEventRow[]> {
    return this.#read('listEvents', async (db) => (await selectJobEvents(db, jobId)).map(toJobEventRow));
  }

  listRegenerations(jobIds: readonly string[]): Promise<Map<string, string[]>> {
    return this.#read('listRegenerations', async (db) => {
      const bySource = new Map<string, string[]>();
      for (const { id, regenerated_from } of await this.#statements.selectRegenerations(this.#exec(db), jobIds)) {
        bySource.set(regenerated_from, [...(bySource.get(regenerated_from) ?? []), id]);
      }
      return bySource;
    });
  }

  listUnpublished(limit: number): Promise<JobEventRow[]> {
    const rows = Math.max(0, Math.trunc(limit));
    return this.#read('listUnpublished', async (db) => (await this.#statements.selectUnpublishedEvents(this.#exec(db), rows)).map(toJobEventRow));
  }

  countUnpublished(): Promise<number> {
    return this.#read('countUnpublished', (db) => countUnpublishedEvents(db));
  }

  markPublished(eventIds: number[], at: string): Promise<void> {
    if (eventIds.length === 0) return Promise.resolve();
    return this.#guard('markPublished', () => this.#runner.write((trx) => this.#statements.markEventsPublished(this.#exec(trx), eventIds, at)));
  }

  /** Lets queued calls finish, then closes. */
  async close(): Promise<void> {
    await this.#runner.whenIdle();
    await this.#close();
  }

  /** A fenced update matched nothing: the job is gone, another instance drives it now, or another run took this one's id. */
  async #whyNotUpdated(trx: Kysely<DatabaseSchema>, jobId: string): Promise<ChorusError> {
    if (this.#owner === undefined) return jobNotFound(jobId);
    const record = await this.#statements.findJobById(this.#exec(trx), jobId);
    if (record === undefined) return jobNotFound(jobId);
    return ownershipLost(jobId, record.owner_instance, record.owner_instance === this.#owner ? 'instance_taken' : 'owner_changed');
  }

  /**
   * Where a runner callback's compiled statements run: straight on the connection its
   * transaction holds, when allowed. A read the runner runs outside its batches (SQLite, when
   * idle) is handed the database itself, not a transaction: it goes through Kysely, whose
   * connection mutex keeps it out of a transaction someone else holds open.
   */
  #exec(trx: Kysely<DatabaseSchema>): CompiledQueryExecutor {
    return this.#direct !== undefined && trx !== this.db ? this.#direct : trx;
  }

  #timestamp(): string {
    return this.#now().toISOString();
  }

  #read<T>(operation: string, work: (db: Kysely<DatabaseSchema>) => Promise<T>): Promise<T> {
    return this.#guard(operation, () => this.#runner.read(work));
  }

  async #guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw asStoreError(operation, error);
    }
  }
}

function jobNotFound(jobId: string): ChorusError {
  return new ChorusError(ErrorCode.JOB_NOT_FOUND, `No job with id ${jobId}`, { details: { job_id: jobId } });
}

/**
 * Conditions of the storage, not bugs: a caller should retry later, and says so by the code.
 * SQLite's full/read-only/I/O errors, PostgreSQL's disk-full (53100) and connection classes.
 */
const storageDriverCodes = /^(SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED)|53100|57P0[1-3]|08\d{3}|ECONNREFUSED|ECONNRESET|ETIMEDOUT)/;

/** Driver errors become ChorusErrors (the driver's error stays as `cause`). */
export function asStoreError(operation: string, error: unknown): ChorusError {
  if (isChorusError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const storage = typeof code === 'string' && storageDriverCodes.test(code);
  return new ChorusError(storage ? ErrorCode.STORAGE_UNAVAILABLE : ErrorCode.INTERNAL, `Database ${operation} failed: ${message}`, {
    cause: error,
    details: typeof code === 'string' ? { operation, driver_code: code } : { operation },
  });
}
