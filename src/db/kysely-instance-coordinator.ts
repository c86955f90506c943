/**
 * InstanceCoordinator and SlotLedger on Kysely: each method is one short transaction of the
 * repository functions in `instance.repository.ts`, `job-claim.repository.ts` and
 * `backend-slot.repository.ts`. Meant for PostgreSQL; it also runs on SQLite (one writer at
 * a time makes every method trivially atomic), which is how the store tests cover it twice.
 * Lease times come from a LeaseClock: on PostgreSQL the database's clock, in the statements
 * themselves (lease-clock.ts).
 */
import type { Kysely } from 'kysely';
import type { InstanceCoordinator, InstanceInfo, RunStanding, SlotLedger } from '../contracts/instance-coordination-port.js';
import type { JobRow } from '../contracts/job-store-port.js';
import type { DatabaseSchema } from './database-schema.js';
import type { DatabaseDialect } from './database-url.js';
import {
  claimSlotInOneStatement,
  countHeldSlots,
  findFreeSlot,
  freeAllSlotsOfJob,
  freeSlotsOf,
  holdSlot,
  insertSlotRows,
  moveSlotsTo,
} from './backend-slot.repository.js';
import {
  claimInstance,
  dropLease,
  dropLeasesOf,
  renewInstanceRun,
  selectInstance,
  selectInstances,
  stopInstanceRun,
  takeLease,
  type InstanceReading,
} from './instance.repository.js';
import { claimOrphanedJobs, disownJobs, markCancelRequested, selectOwnersOfUnfinished, takeCancelRequestsOf } from './job-claim.repository.js';
import { toJobRow } from './job-row-codec.js';
import { leaseClockOf, type LeaseClock } from './lease-clock.js';

export class KyselyInstanceCoordinator implements InstanceCoordinator, SlotLedger {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #dialect: DatabaseDialect;
  readonly #clock: LeaseClock;

  /** `clock`: by default the database's on PostgreSQL, the process's on SQLite (leaseClockOf). */
  constructor(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect, clock: LeaseClock = leaseClockOf(dialect)) {
    this.#db = db;
    this.#dialect = dialect;
    this.#clock = clock;
  }

  async claimInstance(instanceId: string, runToken: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: InstanceInfo }> {
    if (await claimInstance(this.#db, instanceId, runToken, this.#clock.read(), ttlMs)) return { claimed: true };
    const row = await selectInstance(this.#db, instanceId, this.#clock.read());
    // Gone between the two statements (a retire does not delete it, but an operator might): try again.
    if (row === undefined) return this.claimInstance(instanceId, runToken, ttlMs);
    return { claimed: false, holder: infoOf(row) };
  }

  async heartbeat(instanceId: string, runToken: string, ttlMs: number): Promise<RunStanding> {
    if (await renewInstanceRun(this.#db, instanceId, runToken, this.#clock.read(), ttlMs)) return { standing: 'held' };
    return this.runStanding(instanceId, runToken);
  }

  async runStanding(instanceId: string, runToken: string): Promise<RunStanding> {
    const row = await selectInstance(this.#db, instanceId, this.#clock.read());
    if (row === undefined) return { standing: 'gone' };
    const holder = infoOf(row);
    if (row.run_token !== runToken) return { standing: 'taken', holder };
    return holder.alive ? { standing: 'held' } : { standing: 'lapsed', holder };
  }

  async retire(instanceId: string, runToken: string): Promise<boolean> {
    const time = this.#clock.read();
    return this.#db.transaction().execute(async (trx) => {
      // The row first: on PostgreSQL it stays locked until the commit, so a process claiming
      // the id meanwhile waits, and a run whose id was taken gives away nothing of the new run's.
      if (!(await stopInstanceRun(trx, instanceId, runToken, time))) return false;
      await disownJobs(trx, instanceId);
      await dropLeasesOf(trx, instanceId);
      return true;
    });
  }

  async claimJobs(instanceId: string, limit: number, options: { includeOwn?: boolean; runToken?: string } = {}): Promise<JobRow[]> {
    const time = this.#clock.read();
    const records = await this.#db
      .transaction()
      .execute((trx) => claimOrphanedJobs(trx, this.#dialect, instanceId, time, Math.max(1, limit), options.includeOwn ?? false, options.runToken));
    return records.map(toJobRow);
  }

  requestCancel(jobId: string): Promise<boolean> {
    return markCancelRequested(this.#db, jobId, this.#clock.read());
  }

  takeCancelRequests(instanceId: string, runToken?: string): Promise<string[]> {
    return takeCancelRequestsOf(this.#db, instanceId, runToken === undefined ? undefined : { runToken, time: this.#clock.read() });
  }

  holdLease(name: string, instanceId: string, ttlMs: number): Promise<boolean> {
    return takeLease(this.#db, name, instanceId, this.#clock.read(), ttlMs);
  }

  releaseLease(name: string, instanceId: string): Promise<void> {
    return dropLease(this.#db, name, instanceId);
  }

  async listInstances(): Promise<InstanceInfo[]> {
    return (await selectInstances(this.#db, this.#clock.read())).map(infoOf);
  }

  async ownersOfUnfinished(): Promise<Map<string, string>> {
    const rows = await selectOwnersOfUnfinished(this.#db);
    return new Map(rows.flatMap((row) => (row.owner_instance === null ? [] : [[row.id, row.owner_instance] as const])));
  }

  async defineSlots(backends: ReadonlyArray<{ name: string; maxConcurrent: number }>): Promise<void> {
    for (const backend of backends) await insertSlotRows(this.#db, backend.name, backend.maxConcurrent);
  }

  slotsInUse(): Promise<Map<string, number>> {
    return countHeldSlots(this.#db);
  }

  async claimSlot(backend: string, jobId: string, instanceId: string, maxConcurrent: number): Promise<boolean> {
    const time = this.#clock.read();
    if (this.#dialect === 'postgres') return claimSlotInOneStatement(this.#db, backend, maxConcurrent, jobId, instanceId, time);
    return this.#db.transaction().execute(async (trx) => {
      // A job holds at most one slot: a resubmission (or a taken-over job that had a slot
      // granted but unused) gives its old one back first.
      await freeAllSlotsOfJob(trx, jobId);
      const slot = await findFreeSlot(trx, this.#dialect, backend, maxConcurrent);
      if (slot === undefined) return false;
      await holdSlot(trx, backend, slot, jobId, instanceId, time);
      return true;
    });
  }

  adoptSlot(jobId: string, instanceId: string): Promise<void> {
    return moveSlotsTo(this.#db, jobId, instanceId);
  }

  releaseSlot(jobId: string, instanceId: string): Promise<void> {
    return freeSlotsOf(this.#db, jobId, instanceId);
  }
}

/**
 * The row as others see it, judged by the clock it was read with: the run token stays in the
 * database (a fence, not something to show).
 */
function infoOf(row: InstanceReading): InstanceInfo {
  const { id, started_at, heartbeat_at, lease_expires_at, stopped_at, read_at } = row;
  return {
    id,
    started_at,
    heartbeat_at,
    lease_expires_at,
    stopped_at,
    alive: stopped_at === null && lease_expires_at > read_at,
    lease_left_ms: Date.parse(lease_expires_at) - Date.parse(read_at),
  };
}
