/**
 * InstanceCoordinator and SlotLedger on Kysely: each method is one short transaction of the
 * repository functions in `instance.repository.ts`, `job-claim.repository.ts` and
 * `backend-slot.repository.ts`. Meant for PostgreSQL; it also runs on SQLite (one writer at
 * a time makes every method trivially atomic), which is how the store tests cover it twice.
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
import type { ServiceInstanceRecord } from './coordination.tables.js';
import {
  claimInstance,
  dropLease,
  dropLeasesOf,
  renewInstanceRun,
  selectInstance,
  selectInstances,
  stopInstanceRun,
  takeLease,
} from './instance.repository.js';
import { claimOrphanedJobs, disownJobs, markCancelRequested, selectOwnersOfUnfinished, takeCancelRequestsOf } from './job-claim.repository.js';
import { toJobRow } from './job-row-codec.js';

export class KyselyInstanceCoordinator implements InstanceCoordinator, SlotLedger {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #dialect: DatabaseDialect;
  readonly #now: () => number;

  constructor(db: Kysely<DatabaseSchema>, dialect: DatabaseDialect, now: () => number = Date.now) {
    this.#db = db;
    this.#dialect = dialect;
    this.#now = now;
  }

  async claimInstance(instanceId: string, runToken: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: InstanceInfo }> {
    const now = this.#now();
    if (await claimInstance(this.#db, instanceId, runToken, iso(now), iso(now + ttlMs))) return { claimed: true };
    const row = await selectInstance(this.#db, instanceId);
    // Gone between the two statements (a retire does not delete it, but an operator might): try again.
    if (row === undefined) return this.claimInstance(instanceId, runToken, ttlMs);
    return { claimed: false, holder: infoOf(row, iso(this.#now())) };
  }

  async heartbeat(instanceId: string, runToken: string, ttlMs: number): Promise<RunStanding> {
    const now = this.#now();
    if (await renewInstanceRun(this.#db, instanceId, runToken, iso(now), iso(now + ttlMs))) return { standing: 'held' };
    return this.runStanding(instanceId, runToken);
  }

  async runStanding(instanceId: string, runToken: string): Promise<RunStanding> {
    const row = await selectInstance(this.#db, instanceId);
    if (row === undefined) return { standing: 'gone' };
    const holder = infoOf(row, iso(this.#now()));
    if (row.run_token !== runToken) return { standing: 'taken', holder };
    return holder.alive ? { standing: 'held' } : { standing: 'lapsed', holder };
  }

  async retire(instanceId: string, runToken: string): Promise<boolean> {
    const now = iso(this.#now());
    return this.#db.transaction().execute(async (trx) => {
      // The row first: on PostgreSQL it stays locked until the commit, so a process claiming
      // the id meanwhile waits, and a run whose id was taken gives away nothing of the new run's.
      if (!(await stopInstanceRun(trx, instanceId, runToken, now))) return false;
      await disownJobs(trx, instanceId);
      await dropLeasesOf(trx, instanceId);
      return true;
    });
  }

  async claimJobs(instanceId: string, limit: number, options: { includeOwn?: boolean; runToken?: string } = {}): Promise<JobRow[]> {
    const now = iso(this.#now());
    const records = await this.#db
      .transaction()
      .execute((trx) => claimOrphanedJobs(trx, this.#dialect, instanceId, now, Math.max(1, limit), options.includeOwn ?? false, options.runToken));
    return records.map(toJobRow);
  }

  requestCancel(jobId: string): Promise<boolean> {
    return markCancelRequested(this.#db, jobId, iso(this.#now()));
  }

  takeCancelRequests(instanceId: string, runToken?: string): Promise<string[]> {
    return takeCancelRequestsOf(this.#db, instanceId, runToken === undefined ? undefined : { runToken, now: iso(this.#now()) });
  }

  async holdLease(name: string, instanceId: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    return takeLease(this.#db, name, instanceId, iso(now), iso(now + ttlMs));
  }

  releaseLease(name: string, instanceId: string): Promise<void> {
    return dropLease(this.#db, name, instanceId);
  }

  async listInstances(): Promise<InstanceInfo[]> {
    const now = iso(this.#now());
    return (await selectInstances(this.#db)).map((row) => infoOf(row, now));
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
    const now = iso(this.#now());
    if (this.#dialect === 'postgres') return claimSlotInOneStatement(this.#db, backend, maxConcurrent, jobId, instanceId, now);
    return this.#db.transaction().execute(async (trx) => {
      // A job holds at most one slot: a resubmission (or a taken-over job that had a slot
      // granted but unused) gives its old one back first.
      await freeAllSlotsOfJob(trx, jobId);
      const slot = await findFreeSlot(trx, this.#dialect, backend, maxConcurrent);
      if (slot === undefined) return false;
      await holdSlot(trx, backend, slot, jobId, instanceId, now);
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

const iso = (ms: number) => new Date(ms).toISOString();

/** The row as others see it: the run token stays in the database (a fence, not something to show). */
function infoOf(row: ServiceInstanceRecord, now: string): InstanceInfo {
  const { id, started_at, heartbeat_at, lease_expires_at, stopped_at } = row;
  return { id, started_at, heartbeat_at, lease_expires_at, stopped_at, alive: stopped_at === null && lease_expires_at > now };
}
