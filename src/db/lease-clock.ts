/**
 * Where the times of the coordination tables come from (lease expiries, heartbeats, stops,
 * cancel requests, slot claims). On PostgreSQL: the database's own clock, read inside the
 * statement that writes or compares them, so instances on several hosts agree on when a lease
 * lapses whatever their own clocks say, a host whose clock steps keeps its lease, and no
 * statement or round trip is added. On SQLite (one host; its file lock keeps one process) the
 * process's clock, passed as values. The repositories take a `LeaseTime` either way.
 *
 * Both give the text stored since migration 2026_11_26_090000 (`Date#toISOString`):
 * "2026-11-26T09:00:00.000Z", UTC, milliseconds. One fixed-width format of digits, so text
 * order is time order (in any collation), and rows written by either clock, or before this
 * module, compare with each other.
 */
import { sql, type RawBuilder } from 'kysely';
import type { DatabaseDialect } from './database-url.js';

/** One reading of the clock, for one statement or transaction: `now`, and instants after it. */
export interface LeaseTime {
  readonly now: RawBuilder<string>;
  after(ms: number): RawBuilder<string>;
}

export interface LeaseClock {
  read(): LeaseTime;
}

/**
 * PostgreSQL's `now()`: the start of the transaction (one statement, for the single-statement
 * writes), so a statement sees one time throughout. A written expiry counts from after the
 * request was sent (the keeper's hold counts from before), and a lapse is judged no earlier
 * than the statement began: both err on the side of the live holder.
 */
export const databaseLeaseClock: LeaseClock = {
  read: () => ({ now: isoText(sql`now()`), after: (ms) => isoText(sql`now() + ${ms}::float8 * interval '1 millisecond'`) }),
};

/** The process's clock (ms since the epoch), for SQLite. */
export function localLeaseClock(now: () => number = Date.now): LeaseClock {
  return {
    read: () => {
      const at = now();
      return { now: sql.val(iso(at)), after: (ms) => sql.val(iso(at + ms)) };
    },
  };
}

/** The database's clock on PostgreSQL; `now` (the process's clock) serves SQLite only. */
export function leaseClockOf(dialect: DatabaseDialect, now?: () => number): LeaseClock {
  return dialect === 'postgres' ? databaseLeaseClock : localLeaseClock(now);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A timestamptz as `Date#toISOString` writes it (to_char's MS truncates, as a Date holds whole ms). */
function isoText(at: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char((${at}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
