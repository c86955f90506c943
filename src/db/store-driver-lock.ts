/**
 * One driver per SQLite job store. The process that drives the jobs of a database file holds
 * an exclusive SQLite lock on a sidecar file beside it (`<db>.driver-lock`, taken by
 * `sqlite-file-lock.ts`, which the migration lock shares): SQLite takes it
 * with fcntl() byte-range locks (LockFileEx on Windows), which the kernel drops when the
 * process ends, however it ends (SIGKILL included), so a crash never leaves a stale lock.
 * A lock file written by the process (pid files, mkdir + mtime, as proper-lockfile does)
 * outlives a SIGKILL until some staleness timeout; flock addons (fs-ext, os-lock) would add
 * a native build for what better-sqlite3, already here, does.
 *
 * Who holds the lock, and how to reach it, is in a plain JSON file beside it
 * (`<db>.driver.json`): a locked SQLite file cannot be read, and a second process needs the
 * holder's instance id, pid, host, HTTP URL and NATS prefix to say who it is or to route a
 * command to it.
 */
import { hostname } from 'node:os';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { inMemorySqlite, parseDatabaseUrl } from './database-url.js';
import { makeDatabaseFolder, tryExclusiveFileLock } from './sqlite-file-lock.js';

export interface DriverHolder {
  instance_id: string;
  pid: number;
  host: string;
  started_at: string;
  /** `starting` until every listener is up; then `serving`. */
  state: 'starting' | 'serving';
  /** The holder's HTTP API, once it listens (null when it has none). */
  http_url: string | null;
  /** The holder's NATS command service, once it serves one (never for a one-shot command). */
  nats: { servers: string[]; subject_prefix: string } | null;
  /** What holds it: `serve` (or `demo`), or a one-shot `generate` or `jobs cancel`. */
  command: string;
}

/**
 * A one-shot command (`generate`, `jobs cancel`) drives only its own job for as long as it
 * runs and takes no commands: another command cannot be sent to it, only wait for it to end.
 */
export function isOneShotHolder(holder: DriverHolder): boolean {
  return holder.command === 'generate' || holder.command === 'jobs cancel';
}

export interface DriverLockPaths {
  lockFile: string;
  holderFile: string;
}

/** Where the lock of a database lives; undefined where no lock is needed (PostgreSQL, :memory:). */
export function driverLockPathsFor(databaseUrl: string): DriverLockPaths | undefined {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.dialect !== 'sqlite' || target.file === inMemorySqlite) return undefined;
  return { lockFile: `${target.file}.driver-lock`, holderFile: `${target.file}.driver.json` };
}

export class StoreDriverLock {
  private holder: DriverHolder;

  private constructor(
    private readonly handle: BetterSqlite3.Database,
    readonly paths: DriverLockPaths,
    holder: DriverHolder,
  ) {
    this.holder = holder;
  }

  /**
   * Takes the lock at once or throws STORE_LOCKED naming the holder. Never waits: a second
   * driver must be refused, not queued behind the first.
   */
  static acquire(paths: DriverLockPaths, holder: Omit<DriverHolder, 'pid' | 'host' | 'started_at' | 'state'>): StoreDriverLock {
    makeDatabaseFolder(paths.lockFile);
    const handle = tryExclusiveFileLock(paths.lockFile, 'driver lock');
    if (!handle) throw storeLocked(paths, readHolderAfterRefusal(paths));
    const lock = new StoreDriverLock(handle, paths, { ...holder, pid: process.pid, host: hostname(), started_at: new Date().toISOString(), state: 'starting' });
    lock.writeHolder();
    return lock;
  }

  /**
   * The process that drives the database now, or undefined when none does. Probes the lock
   * (taking and dropping it at once), so a holder file left by a dead process is ignored.
   */
  static currentHolder(paths: DriverLockPaths): DriverHolder | undefined {
    const handle = tryExclusiveFileLock(paths.lockFile, 'driver lock');
    if (handle) {
      handle.close();
      return undefined;
    }
    return readHolderAfterRefusal(paths) ?? undefined;
  }

  get current(): DriverHolder {
    return this.holder;
  }

  /** Records how to reach this driver (its HTTP URL, NATS prefix, serving state). */
  describe(update: Partial<Pick<DriverHolder, 'state' | 'http_url' | 'nats'>>): void {
    this.holder = { ...this.holder, ...update };
    this.writeHolder();
  }

  /** Drops the lock (closing the handle ends the transaction that holds it). */
  release(): void {
    if (!this.handle.open) return;
    // The holder file goes first, while the lock still keeps any next holder from writing its own.
    try {
      rmSync(this.paths.holderFile, { force: true });
    } finally {
      this.handle.close();
    }
  }

  private writeHolder(): void {
    // Written whole under another name, then renamed: a reader never sees half a file.
    const temp = `${this.paths.holderFile}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.holder, null, 2)}\n`);
    renameSync(temp, this.paths.holderFile);
  }
}

/**
 * The holder file of a refused lock. Its writer takes the lock and writes the file in the
 * same tick, so a missing or dead holder means a race with a start: read it again a few times.
 */
function readHolderAfterRefusal(paths: DriverLockPaths): DriverHolder | null {
  for (let attempt = 0; attempt < 20; attempt++) {
    const holder = readHolder(paths.holderFile);
    if (holder && (holder.host !== hostname() || pidAlive(holder.pid))) return holder;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
  }
  return null;
}

function readHolder(file: string): DriverHolder | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DriverHolder;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder named by a STORE_LOCKED error, when the error is one. */
export function lockHolderOf(error: unknown): DriverHolder | undefined {
  if (!(error instanceof ChorusError) || error.code !== ErrorCode.STORE_LOCKED) return undefined;
  const holder = (error.details as { holder?: DriverHolder | null } | undefined)?.holder;
  return holder ?? undefined;
}

function storeLocked(paths: DriverLockPaths, holder: DriverHolder | null): ChorusError {
  const database = paths.lockFile.slice(0, -'.driver-lock'.length);
  const who = holder ? `${holder.command} instance ${holder.instance_id} (pid ${holder.pid} on ${holder.host})` : 'another process (it left no holder file)';
  const reach = holder
    ? [holder.http_url ? `HTTP ${holder.http_url}` : null, holder.nats ? `NATS ${holder.nats.subject_prefix}.cmd.*` : null].filter(Boolean).join(', ')
    : '';
  return new ChorusError(ErrorCode.STORE_LOCKED, `the job database ${database} is driven by ${who}${reach ? `; reach it at ${reach}` : ''}`, {
    recoverable: true,
    details: { database, lock_file: paths.lockFile, holder },
  });
}
