/**
 * When the driver lock of a SQLite database is held by a one-shot command (another
 * `generate`, a `jobs cancel`) rather than by `serve`, there is no service to send a command
 * to: that process drives its own job and answers nothing. A `generate` waits for it to end
 * (bounded by --wait) and then runs in its own process; other commands are told who holds
 * the database and what to do.
 */
import type { CommandName } from '../commands/command-service.js';
import { StoreDriverLock, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';
import { ChorusError, ErrorCode } from '../errors/index.js';

/** How often a waiting command looks whether the one-shot holder has ended. */
const POLL_MS = 200;

/** The database a lock belongs to, as messages name it. */
export function databaseOf(paths: DriverLockPaths): string {
  return paths.lockFile.slice(0, -'.driver-lock'.length);
}

/** `generate (pid 123 on box, since 2026-…)`. */
export function describeOneShot(holder: DriverHolder): string {
  return `\`${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.started_at})`;
}

/** The stderr line of a generate that waits for a one-shot holder. */
export function waitingLine(paths: DriverLockPaths, holder: DriverHolder, waitMs: number): string {
  return `waiting: the job database ${databaseOf(paths)} is driven by another one-shot ${describeOneShot(holder)}; this generate runs here once it ends (waiting at most ${waitMs / 1000} s, --wait)\n`;
}

/** Resolves once `holder` no longer holds the lock (it ended, or another took it), or at `deadline`. */
export async function untilHolderChanges(paths: DriverLockPaths, holder: DriverHolder, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const current = StoreDriverLock.currentHolder(paths);
    if (!current || current.pid !== holder.pid || current.host !== holder.host) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

const whatToDo: Partial<Record<CommandName, (holder: DriverHolder) => string>> = {
  generate: () =>
    'Run it again once that command ends (or give --wait more seconds), or run `chorus-visual serve` on this database: beside a service, generates go to it and run side by side.',
  cancel: (holder) =>
    `That process drives only its own job: to stop it, stop that process (Ctrl-C where it runs, or kill ${holder.pid}); once it ends, run this again to cancel any other job.`,
  regenerate: () => 'Once that command ends, start `chorus-visual serve` on this database and run this again: regenerate needs a running service.',
};

/** Anything else sent to a driver: wait for the one-shot command to end. */
const waitForIt = () => 'Run it again once that command ends; `chorus-visual jobs list` and `jobs show` read the jobs meanwhile.';

/**
 * STORE_LOCKED naming the one-shot holder: no "running service" to blame, nothing to reach.
 * `waitedMs`: how long a generate waited before giving up.
 */
export function drivenByOneShot(paths: DriverLockPaths, holder: DriverHolder, command: CommandName, waitedMs?: number): ChorusError {
  const database = databaseOf(paths);
  const who = `another one-shot ${describeOneShot(holder)}`;
  const message =
    waitedMs === undefined
      ? `the job database ${database} is driven by ${who}, which takes no commands`
      : `the job database ${database} is still driven by ${who} after waiting ${Math.round(waitedMs / 1000)} s (--wait); it takes no commands`;
  return new ChorusError(ErrorCode.STORE_LOCKED, message, {
    recoverable: true,
    details: { database, holder, ...(waitedMs === undefined ? {} : { waited_ms: waitedMs }) },
    suggestion: (whatToDo[command] ?? waitForIt)(holder),
  });
}
