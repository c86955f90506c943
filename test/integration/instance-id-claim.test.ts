/**
 * One instance id, one process (running-several-instances.md: the id is unique per
 * instance): a second process registering an id that a live instance renews is refused
 * with STORE_LOCKED, and a restart under the id of a run that died without retiring waits
 * for that run's lease to lapse instead of driving its jobs beside it. And a run that stalls
 * past its lease (SIGSTOP, a GC pause, a VM pause) finds on waking that it lost the id:
 * it stops driving jobs and renews, scans and retires nothing. Real database (SQLite and
 * PostgreSQL), real timers, the lease keepers as the runtime makes them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInstanceCoordinator, type DatabaseJobStore } from '../../src/db/index.js';
import type { ChorusError } from '../../src/errors/index.js';
import type { Clock } from '../../src/jobs/clock.js';
import { JobLeaseKeeper, type JobLeaseKeeperOptions } from '../../src/jobs/job-lease-keeper.js';
import type { JobRow } from '../../src/jobs/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const ttlMs = 600;
const idleService = { adopt: async () => 0, cancelRequested: () => undefined, stopDriving: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The system clock, except that while frozen no timer of its fires: they fire, late and in
 * order, at thaw — what a process stopped by SIGSTOP sees of its timers when it resumes.
 */
class FreezableClock implements Clock {
  private frozen = false;
  private readonly held: Array<{ fn: () => void; cleared: boolean }> = [];
  now = () => Date.now();
  setTimeout(fn: () => void, ms: number): unknown {
    const entry = { fn, cleared: false, handle: undefined as NodeJS.Timeout | undefined };
    entry.handle = setTimeout(() => (this.frozen ? this.held.push(entry) : fn()), ms);
    return entry;
  }
  clearTimeout(handle: unknown): void {
    const entry = handle as { cleared: boolean; handle: NodeJS.Timeout } | undefined;
    if (entry === undefined) return;
    entry.cleared = true;
    clearTimeout(entry.handle);
  }
  freeze(): void {
    this.frozen = true;
  }
  thaw(): void {
    this.frozen = false;
    for (const entry of this.held.splice(0)) if (!entry.cleared) entry.fn();
  }
}

describe.each(databaseTargets)('instance id claims on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let store: DatabaseJobStore;
  const keepers: JobLeaseKeeper[] = [];

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    store = await home.open({ ownerInstance: 'shared' });
  });
  afterEach(async () => {
    for (const keeper of keepers.splice(0)) await keeper.stop();
    await home.cleanup();
  });

  function keeper(leaseTtlMs = ttlMs, options: Partial<JobLeaseKeeperOptions> = {}): JobLeaseKeeper {
    const made = new JobLeaseKeeper({ instanceId: 'shared', coordinator: createInstanceCoordinator(store), service: idleService, leaseTtlMs, ...options });
    keepers.push(made);
    return made;
  }

  /** A started keeper on a clock the test can freeze, recording what it tells the service and reports. */
  async function stallingRun() {
    const clock = new FreezableClock();
    const seen = { adopted: [] as JobRow[], stoppedDriving: 0, lost: undefined as ChorusError | undefined };
    const run = keeper(ttlMs, {
      clock,
      scanMs: 50,
      service: { adopt: async (rows) => seen.adopted.push(...rows), cancelRequested: () => undefined, stopDriving: () => (seen.stoppedDriving += 1) },
      onLost: (error) => (seen.lost = error),
    });
    await run.register();
    run.start();
    return { run, clock, seen };
  }

  const instanceRow = async () => (await createInstanceCoordinator(store).listInstances()).find((instance) => instance.id === 'shared');

  it('refuses a second process under an id a live instance renews', async () => {
    const longTtlMs = 4_000;
    const first = keeper(longTtlMs);
    await first.register();
    first.start();
    const started = Date.now();
    const refused = await keeper(longTtlMs)
      .register()
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'STORE_LOCKED', details: { instance_id: 'shared' } });
    expect((refused as Error).message).toMatch(/instance id "shared" is in use/);
    // Told apart from a dead run by the live one's next heartbeat (a quarter of a TTL), not after a whole lease.
    expect(Date.now() - started).toBeLessThan(longTtlMs / 2);
  });

  it('takes the id of a run that stopped without retiring once its lease lapsed', async () => {
    const dead = keeper();
    await dead.register();
    await dead.stop(); // no more heartbeats and no retire: as a process SIGKILLed right after its claim
    const coordinator = createInstanceCoordinator(store);
    const lapsesAt = Date.parse((await coordinator.listInstances()).find((instance) => instance.id === 'shared')!.lease_expires_at);
    await keeper().register();
    expect(Date.now()).toBeGreaterThanOrEqual(lapsesAt);
    expect((await coordinator.listInstances()).find((instance) => instance.id === 'shared')).toMatchObject({ alive: true });
  });

  it('renews the lease from the claim on, before start(): a slow start does not let another process take the id', async () => {
    const starting = keeper();
    await starting.register(); // `serve` then starts HTTP and NATS and restores before start(): longer than a lease, here
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 1.5));
    await expect(keeper().register()).rejects.toMatchObject({ code: 'STORE_LOCKED' });
  });

  it('takes a retired id at once', async () => {
    const before = keeper();
    await before.register();
    await before.retire();
    const started = Date.now();
    await keeper().register();
    expect(Date.now() - started).toBeLessThan(ttlMs / 2);
  });

  it('a run that stalled past its lease while another process took its id stops driving, and renews, scans and retires nothing', async () => {
    const { run, clock, seen } = await stallingRun();
    const unowned = await home.open();
    clock.freeze();
    await sleep(ttlMs * 1.5);
    const next = keeper();
    await next.register(); // the lease lapsed: another process takes the id
    const claimed = await instanceRow();
    const orphan = (await unowned.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job; // a job nobody drives, for a scan to find
    const nextJob = (await store.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job; // the new run's

    clock.thaw();
    await expect.poll(() => seen.lost, { timeout: 3_000, interval: 10 }).toBeDefined();
    expect(seen.lost).toMatchObject({ code: 'INSTANCE_LEASE_LOST', details: { instance_id: 'shared', reason: 'taken', lease_ttl_ms: ttlMs } });
    expect(seen.lost!.message).toMatch(/another process took instance id "shared" after this one stalled for \d+ ms beyond its lease/);
    expect(seen.stoppedDriving).toBe(1);
    expect(run.holdsInstance()).toBe(false);

    await sleep(ttlMs / 2); // several scan and heartbeat periods
    expect(seen.adopted).toEqual([]);
    expect((await unowned.getJob(orphan.id))?.owner_instance).toBeNull();
    expect(await instanceRow()).toMatchObject({ alive: true, started_at: claimed!.started_at });
    await run.retire(); // as `serve` stops: nothing of the new run's is given away
    expect(await instanceRow()).toMatchObject({ alive: true, stopped_at: null, started_at: claimed!.started_at });
    expect((await store.getJob(nextJob.id))?.owner_instance).toBe('shared');
  });

  it('a run whose lease lapsed while it stalled knows it on waking and does not renew it back to life, though nobody took the id', async () => {
    const { run, clock, seen } = await stallingRun();
    clock.freeze();
    await sleep(ttlMs * 1.5);
    // Awake, before any of its timers or a heartbeat's answer: it admits nothing more.
    expect(run.holdsInstance()).toBe(false);
    expect(seen.stoppedDriving).toBe(1);
    clock.thaw();
    await expect.poll(() => seen.lost, { timeout: 3_000, interval: 10 }).toBeDefined();
    expect(seen.lost).toMatchObject({ code: 'INSTANCE_LEASE_LOST', details: { instance_id: 'shared', reason: 'lapsed' } });
    expect(seen.lost!.message).toMatch(/lease of instance id "shared" lapsed: this instance stalled for \d+ ms beyond its lease/);

    await sleep(ttlMs / 2);
    // Still lapsed: other instances may take its jobs over, and a restart takes the id at once.
    expect(await instanceRow()).toMatchObject({ alive: false });
    const started = Date.now();
    await keeper().register();
    expect(Date.now() - started).toBeLessThan(ttlMs / 2);
  });
});
