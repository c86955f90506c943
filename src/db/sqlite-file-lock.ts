/**
 * An exclusive lock on a small sidecar file, held through SQLite: it takes fcntl() byte-range
 * locks (LockFileEx on Windows), which the kernel drops when the process ends however it
 * ends (SIGKILL included), so a crash never leaves a stale lock. Used for `<db>.driver-lock`
 * (one driver per database) and `<db>.migrate-lock` (one migrating process at a time).
 */
import BetterSqlite3 from 'better-sqlite3';
import { ChorusError, ErrorCode } from '../errors/index.js';

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
