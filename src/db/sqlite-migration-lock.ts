/**
 * One migrating process at a time per SQLite file. Kysely takes no lock around SQLite
 * migrations (its SQLite adapter runs them outside a transaction and its migration lock does
 * nothing), so two processes opening a new or outdated database at once — `serve` and a CLI
 * command, or two CLI commands — could interleave them: seen in CI, one process's table
 * rebuild (2026_11_29_090000) met the other's added column (`comfy_graph`) and failed. The
 * process that migrates holds an exclusive SQLite lock on a sidecar file, `<db>.migrate-lock`
 * (fcntl locks, dropped by the kernel however the process ends, as for `<db>.driver-lock`);
 * the others wait for it — polling, so their event loop stays free — and then find the schema
 * current.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { ChorusError, ErrorCode } from '../errors/index.js';

const retryMs = 25;

export async function withSqliteMigrationLock<T>(databaseFile: string, migrate: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const lockFile = `${databaseFile}.migrate-lock`;
  const deadline = Date.now() + timeoutMs;
  let handle: BetterSqlite3.Database | undefined;
  while (handle === undefined) {
    handle = tryLock(lockFile);
    if (handle !== undefined) break;
    if (Date.now() > deadline) {
      throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `another process has been migrating ${databaseFile} for over ${Math.round(timeoutMs / 1000)} s`, {
        recoverable: true,
        details: { file: lockFile },
        suggestion: 'Wait for the other chorus-visual process to finish starting, then try again.',
      });
    }
    await sleep(retryMs);
  }
  try {
    return await migrate();
  } finally {
    handle.close();
  }
}

/** The lock, or undefined while another process holds it. */
function tryLock(lockFile: string): BetterSqlite3.Database | undefined {
  let handle: BetterSqlite3.Database;
  try {
    handle = new BetterSqlite3(lockFile, { timeout: 0 });
  } catch (error) {
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `cannot open the migration lock ${lockFile}: ${(error as Error).message}`, {
      cause: error,
      recoverable: true,
      details: { file: lockFile },
      suggestion: 'Check that the database folder exists and is writable, or change database.url.',
    });
  }
  try {
    // The journal in memory: the lock file stays empty and leaves no -journal file behind.
    handle.pragma('journal_mode = MEMORY');
    handle.pragma('locking_mode = EXCLUSIVE');
    handle.exec('BEGIN EXCLUSIVE');
    return handle;
  } catch (error) {
    handle.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return undefined;
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `cannot take the migration lock ${lockFile}: ${(error as Error).message}`, {
      cause: error,
      recoverable: true,
      details: { file: lockFile },
    });
  }
}
