/**
 * On PostgreSQL, lease times are the database's: a process whose clock is a lease TTL ahead
 * of or behind the others (clock skew between hosts, or a step of its own clock) neither
 * takes a live instance's jobs, id or relay lease early, nor writes a lease that others see
 * lapse early or late. Each coordinator gets the process clock (`now`) it would have on a
 * skewed host; the database's clock is the real one.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInstanceCoordinator, type DatabaseJobStore, type KyselyInstanceCoordinator } from '../../src/db/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const postgres = databaseTargets.find((target) => target.name === 'postgresql');
const ttlMs = 10_000;
const isoText = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.skipIf(postgres === undefined)('lease times by the database clock on PostgreSQL', () => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let storeA: DatabaseJobStore;
  let storeB: DatabaseJobStore;
  /** Instance a: a host whose clock is right (the database runs on this host too). */
  let onTime: KyselyInstanceCoordinator;
  /** Instance b's host, its clock 1.5 TTL ahead: a skewed host, or an NTP step forward. */
  let ahead: KyselyInstanceCoordinator;
  /** Instance b's host, its clock 1.5 TTL behind. */
  let behind: KyselyInstanceCoordinator;

  beforeEach(async () => {
    home = await createTestDatabaseHome(postgres!);
    storeA = await home.open({ ownerInstance: 'a' });
    storeB = await home.open({ ownerInstance: 'b' });
    onTime = createInstanceCoordinator(storeA, () => Date.now());
    ahead = createInstanceCoordinator(storeB, () => Date.now() + 1.5 * ttlMs);
    behind = createInstanceCoordinator(storeB, () => Date.now() - 1.5 * ttlMs);
  });
  afterEach(async () => {
    await home.cleanup();
  });

  const rowOf = async (coordinator: KyselyInstanceCoordinator, id: string) => (await coordinator.listInstances()).find((instance) => instance.id === id);

  it("a process whose clock runs a TTL ahead sees a live instance's lease as live: it takes none of its jobs, its id or its relay lease", async () => {
    expect(await onTime.claimInstance('a', 'run-a', ttlMs)).toEqual({ claimed: true });
    expect(await ahead.claimInstance('b', 'run-b', ttlMs)).toEqual({ claimed: true });
    const job = (await storeA.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
    expect(await onTime.holdLease('outbox-relay', 'a', ttlMs)).toBe(true);

    expect(await ahead.claimJobs('b', 10, { runToken: 'run-b' })).toEqual([]);
    expect((await storeA.getJob(job.id))?.owner_instance).toBe('a');
    expect(await ahead.claimInstance('a', 'run-intruder', ttlMs)).toMatchObject({ claimed: false, holder: { id: 'a', alive: true } });
    expect(await ahead.holdLease('outbox-relay', 'b', ttlMs)).toBe(false);
    expect(await rowOf(ahead, 'a')).toMatchObject({ alive: true });
    // a renews as usual, and its lease runs a TTL from the database's now, whoever looks.
    expect(await onTime.heartbeat('a', 'run-a', ttlMs)).toEqual({ standing: 'held' });
    expect((await rowOf(ahead, 'a'))!.lease_left_ms).toBeGreaterThan(ttlMs - 2_000);
  });

  it('a process whose clock runs a TTL behind writes a lease that lasts a TTL: nobody takes its jobs early, and its own heartbeat holds', async () => {
    expect(await behind.claimInstance('b', 'run-b', ttlMs)).toEqual({ claimed: true });
    const job = (await storeB.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
    await onTime.claimInstance('a', 'run-a', ttlMs);

    const row = (await rowOf(onTime, 'b'))!;
    expect(row.lease_expires_at).toMatch(isoText); // the format stored since the first coordination migration
    expect(Date.parse(row.lease_expires_at) - Date.now()).toBeGreaterThan(ttlMs - 2_000);
    expect(Date.parse(row.heartbeat_at) - Date.now()).toBeGreaterThan(-2_000);
    expect(row).toMatchObject({ alive: true });
    expect(await onTime.claimJobs('a', 10, { runToken: 'run-a' })).toEqual([]);
    expect(await onTime.claimInstance('b', 'run-intruder', ttlMs)).toMatchObject({ claimed: false });
    expect(await behind.heartbeat('b', 'run-b', ttlMs)).toEqual({ standing: 'held' });
    expect(await behind.takeCancelRequests('b', 'run-b')).toEqual([]); // its fence holds too
    expect((await storeB.getJob(job.id))?.owner_instance).toBe('b');
  });

  it('a lease lapses by the database clock, whatever the process clock says', async () => {
    await onTime.claimInstance('a', 'run-a', 200);
    const job = (await storeA.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
    await behind.claimInstance('b', 'run-b', ttlMs);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // b's clock says a's lease has 1.5 TTL to go; the database says it lapsed.
    expect(await rowOf(behind, 'a')).toMatchObject({ alive: false });
    expect((await behind.claimJobs('b', 10, { runToken: 'run-b' })).map((row) => [row.id, row.owner_instance])).toEqual([[job.id, 'b']]);
    expect(await onTime.heartbeat('a', 'run-a', 200)).toMatchObject({ standing: 'lapsed' });
  });

  it('rows written by the process clocks (before this change) are compared with the database clock', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const now = Date.now();
    await sql`insert into service_instances (id, started_at, heartbeat_at, lease_expires_at, stopped_at, run_token) values
      ('old-live', ${iso(now - 1_000)}, ${iso(now - 1_000)}, ${iso(now + 60_000)}, null, 'run-1'),
      ('old-gone', ${iso(now - 90_000)}, ${iso(now - 90_000)}, ${iso(now - 1_000)}, null, 'run-2')`.execute(storeA.database.db);
    const live = (await home.open({ ownerInstance: 'old-live' })).createJob(newJob(), newEvent(null, 'queued'), roomyQueue);
    const gone = (await home.open({ ownerInstance: 'old-gone' })).createJob(newJob(), newEvent(null, 'queued'), roomyQueue);
    const [liveJob, goneJob] = [(await live).job, (await gone).job];
    await onTime.claimInstance('a', 'run-a', ttlMs);

    expect((await onTime.listInstances()).map(({ id, alive }) => [id, alive])).toEqual([
      ['a', true],
      ['old-gone', false],
      ['old-live', true],
    ]);
    expect((await onTime.claimJobs('a', 10, { runToken: 'run-a' })).map((row) => row.id)).toEqual([goneJob.id]);
    expect((await storeA.getJob(liveJob.id))?.owner_instance).toBe('old-live');
    expect(await onTime.heartbeat('old-live', 'run-1', ttlMs)).toEqual({ standing: 'held' });
    expect((await rowOf(onTime, 'old-live'))!.lease_expires_at).toMatch(isoText);
  });
});
