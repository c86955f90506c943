/**
 * Opens the database a URL names and hands back a typed Kysely instance: SQLite (built in,
 * one process) or PostgreSQL (a `pg` pool, several instances), behind the same `Database`
 * shape, so nothing above this file branches on the dialect except where it must
 * (group commit, admission lock, row locking).
 */
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { DatabaseSchema } from './database-schema.js';
import { describeDatabase, inMemorySqlite, parseDatabaseUrl, type DatabaseDialect } from './database-url.js';
import { makeDatabaseFolder } from './sqlite-file-lock.js';
import { SqliteStatementCache } from './sqlite-statement-cache.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { SqliteDirectExecutor } from './sqlite-direct-executor.js';
import type { CompiledQueryExecutor } from './query-template.js';

export interface Database {
  db: Kysely<DatabaseSchema>;
  dialect: DatabaseDialect;
  /** For logs: the URL without any password. */
  description: string;
  /**
   * SQLite: compiled queries straight on the connection, for a caller inside a transaction
   * that already holds it (the job store's group commit; see sqlite-direct-executor.ts).
   */
  direct?: CompiledQueryExecutor;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** How long SQLite waits for another process's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number;
  /** SQLite file: how often the worker thread checkpoints the WAL (default 250 ms). */
  checkpointIntervalMs?: number;
  /** SQLite file: when that thread starts after the open (default 1 s). */
  checkpointStartAfterMs?: number;
  /** SQLite file: told if that thread fails (the connection then checkpoints itself, as SQLite does by default). */
  onCheckpointerFailure?: (error: unknown) => void;
}

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<Database> {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'postgres') {
    // Loaded only here: a SQLite service never pays for loading `pg` at start.
    const { openPostgresDatabase } = await import('./open-postgres-database.js');
    return openPostgresDatabase(target.connectionString, options.poolSize ?? 10);
  }
  const handle = openSqliteFile(target.file, options.busyTimeoutMs ?? 5_000);
  // A file's WAL is checkpointed by a worker thread, not inside some job's COMMIT.
  const checkpointer =
    target.file === inMemorySqlite
      ? undefined
      : new SqliteCheckpointer(handle, target.file, {
          intervalMs: options.checkpointIntervalMs ?? 250,
          startAfterMs: options.checkpointStartAfterMs ?? 1_000,
          ...(options.onCheckpointerFailure ? { onFallback: options.onCheckpointerFailure } : {}),
        });
  const statements = new SqliteStatementCache(handle);
  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: statements }) });
  let closed = false;
  return {
    db,
    dialect: 'sqlite',
    description: describeDatabase(url),
    direct: new SqliteDirectExecutor(statements),
    async close() {
      if (closed) return;
      closed = true;
      await checkpointer?.stop();
      // Kysely's destroy closes the handle through the statement cache.
      await db.destroy();
    },
  };
}

function openSqliteFile(file: string, busyTimeoutMs: number): BetterSqlite3.Database {
  if (file !== inMemorySqlite) makeDatabaseFolder(file);
  let handle: BetterSqlite3.Database;
  try {
    handle = new BetterSqlite3(file);
  } catch (error) {
    throw new ChorusError(ErrorCode.INTERNAL, `Cannot open the SQLite database ${file}: ${(error as Error).message}`, {
      cause: error,
      details: { file },
      suggestion: 'Check that the folder exists and is writable, or change database.url.',
    });
  }
  handle.pragma('journal_mode = WAL');
  // With WAL, NORMAL syncs at checkpoints instead of at every commit. A killed process loses
  // nothing (committed pages are in the WAL, which the OS keeps); only a power cut or OS crash
  // can roll back the last few commits, never corrupt the file. We accept that: a job whose
  // last transition is lost is reconciled with ComfyUI on start like any unfinished job,
  // and FULL (an fsync per transition) would cap us far below the thousands of transitions a
  // second the service must sustain.
  handle.pragma('synchronous = NORMAL');
  handle.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
  handle.pragma('foreign_keys = ON');
  return handle;
}
