/**
 * The coordination pieces of several instances against a real PostgreSQL schema, without
 * the rest of the service: two Schedulers sharing one backend's slots through the database,
 * and a JobLeaseKeeper taking over the jobs of an instance that stopped heart-beating.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComfyBackend } from '../../src/comfy/backend-port.js';
import { createInstanceCoordinator, type DatabaseJobStore, type KyselyInstanceCoordinator } from '../../src/db/index.js';
import { JobLeaseKeeper, Scheduler, systemClock, type BackendPoolPort, type JobRow } from '../../src/jobs/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const postgres = databaseTargets.find((target) => target.name === 'postgresql');

/** One always-healthy backend; choose() as the real pool does it. */
function onePool(maxConcurrent: number): BackendPoolPort {
  const backend = { name: 'gpu', maxConcurrent, health: () => ({ healthy: true }) } as unknown as ComfyBackend;
  return {
    list: () => [backend],
    get: (name) => (name === 'gpu' ? backend : undefined),
    choose: (inUse) => (maxConcurrent - inUse('gpu') > 0 ? backend : undefined),
  };
}

describe.skipIf(postgres === undefined)('slots and leases shared through PostgreSQL', () => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let store: DatabaseJobStore;
  let coordinator: KyselyInstanceCoordinator;
  const schedulers: Scheduler[] = [];

  beforeEach(async () => {
    home = await createTestDatabaseHome(postgres!);
    store = await home.open();
    coordinator = createInstanceCoordinator(store);
  });
  afterEach(async () => {
    for (const scheduler of schedulers.splice(0)) scheduler.close();
    await home.cleanup();
  });

  it('two instances never hold more than max_concurrent slots; a release on one serves the other', async () => {
    await coordinator.defineSlots([{ name: 'gpu', maxConcurrent: 2 }]);
    const jobs = await Promise.all(Array.from({ length: 5 }, async () => (await store.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job.id));
    const [a, b] = ['a', 'b'].map((instanceId) => {
      const scheduler = new Scheduler(onePool(2), { clock: systemClock, shared: { ledger: coordinator, instanceId, pollMs: 20 } });
      schedulers.push(scheduler);
      return scheduler;
    }) as [Scheduler, Scheduler];

    const granted: string[] = [];
    const waits = jobs.map((jobId, i) => (i % 2 === 0 ? a : b).acquire(jobId, 0).then(() => granted.push(jobId)));
    await expect.poll(() => granted.length, { timeout: 5_000 }).toBe(2);
    // Give the losers a few polls: still two.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(granted).toHaveLength(2);
    expect((await coordinator.slotsInUse()).get('gpu')).toBe(2);

    // Free slots one by one, from whichever instance holds them; each frees exactly one waiter.
    for (let released = 0; released < 3; released += 1) {
      const holder = granted[released]!;
      (a.holds(holder) ? a : b).release(holder);
      await expect.poll(() => granted.length, { timeout: 5_000 }).toBe(3 + released);
      expect((await coordinator.slotsInUse()).get('gpu')).toBe(2);
    }
    await Promise.all(waits);
  });

  it('takes over the jobs of an instance whose lease lapsed, and only those', async () => {
    const owned = await home.open({ ownerInstance: 'quiet' });
    const alive = await home.open({ ownerInstance: 'busy' });
    await coordinator.claimInstance('quiet', 'run-quiet', 300);
    await coordinator.claimInstance('busy', 'run-busy', 60_000);
    const orphan = (await owned.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
    const kept = (await alive.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;

    const adopted: JobRow[] = [];
    const keeper = new JobLeaseKeeper({
      instanceId: 'survivor',
      coordinator,
      leaseTtlMs: 300,
      service: { adopt: async (rows) => adopted.push(...rows), cancelRequested: () => undefined, stopDriving: () => undefined },
    });
    await keeper.register();
    keeper.start();
    try {
      await expect.poll(() => adopted.map((row) => row.id), { timeout: 5_000, interval: 20 }).toEqual([orphan.id]);
      expect(adopted[0]!.owner_instance).toBe('survivor');
      expect((await store.getJob(kept.id))?.owner_instance).toBe('busy');
      // The quiet instance wakes up: its writes to the job it lost are refused.
      await expect(owned.recordTransition(orphan.id, { status: 'submitted' }, newEvent('queued', 'submitted'))).rejects.toMatchObject({
        code: 'OWNERSHIP_LOST',
        details: { reason: 'owner_changed', owner: 'survivor' },
      });
    } finally {
      await keeper.retire();
    }
    expect((await coordinator.listInstances()).find((instance) => instance.id === 'survivor')).toMatchObject({ alive: false });
  });
});
