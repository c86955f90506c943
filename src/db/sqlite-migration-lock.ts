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
import { ChorusError, ErrorCode } from '../errors/index.js';
import { tryExclusiveFileLock } from './sqlite-file-lock.js';

const retryMs = 25;

export async function withSqliteMigrationLock<T>(databaseFile: string, migrate: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const lockFile = `${databaseFile}.migrate-lock`;
  const deadline = Date.now() + timeoutMs;
  let handle = tryExclusiveFileLock(lockFile, 'migration lock');
  while (handle === undefined) {
    if (Date.now() > deadline) {
      throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `another process has been migrating ${databaseFile} for over ${Math.round(timeoutMs / 1000)} s`, {
        recoverable: true,
        details: { file: lockFile },
        suggestion: 'Wait for the other chorus-visual process to finish starting, then try again.',
      });
    }
    await sleep(retryMs);
    handle = tryExclusiveFileLock(lockFile, 'migration lock');
  }
  try {
    return await migrate();
  } finally {
    handle.close();
  }
}
