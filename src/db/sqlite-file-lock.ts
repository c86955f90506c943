/**
 * An exclusive lock on a small sidecar file, held through SQLite: it takes fcntl() byte-range
 * locks (LockFileEx on Windows), which the kernel drops when the process ends however it
 * ends (SIGKILL included), so a crash never leaves a stale lock. Used for `<db>.driver-lock`
 * (one driver per database) and `<db>.migrate-lock` (one migrating process at a time).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { ChorusError, ErrorCode } from '../errors/index.js';

/**
 * Creates the folder of a database (or lock) file when it is missing. A folder that cannot be
 * made — a regular file in the way, no permission — is STORAGE_UNAVAILABLE naming it, not
 * an internal error: it is the configuration's to fix, not a bug.
 */
export function makeDatabaseFolder(file: string): void {
  const folder = path.dirname(file);
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `cannot create the database folder ${folder}: ${(error as Error).message}`, {
      cause: error,
      recoverable: false,
      details: { folder, reason: (error as { code?: string }).code ?? 'unknown' },
      suggestion: 'Something other than a folder is in the way, or the folder may not be created here: fix database.url (or data_dir) or the permissions.',
    });
  }
}

/**
 * The lock on `lockFile` (closing the handle drops it), or undefined while another process
 * holds it. `what` names it in errors ("driver lock", "migration lock").
 */
export function tryExclusiveFileLock(lockFile: string, what: string): BetterSqlite3.Database | undefined {
  let handle: BetterSqlite3.Database;
  try {
    handle = new BetterSqlite3(lockFile, { timeout: 0 });
  } catch (error) {
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `cannot open the ${what} ${lockFile}: ${(error as Error).message}`, {
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
    throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `cannot take the ${what} ${lockFile}: ${(error as Error).message}`, {
      cause: error,
      recoverable: true,
      details: { file: lockFile },
    });
  }
}
