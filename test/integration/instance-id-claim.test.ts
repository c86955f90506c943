/**
 * One instance id, one process (running-several-instances.md: the id is unique per
 * instance): a second process registering an id that a live instance renews is refused
 * with STORE_LOCKED, and a restart under the id of a run that died without retiring waits
 * for that run's lease to lapse instead of driving its jobs beside it. Real database
 * (SQLite and PostgreSQL), real timers, the lease keepers as the runtime makes them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createInstanceCoordinator, type DatabaseJobStore } from '../../src/db/index.js';
import { JobLeaseKeeper } from '../../src/jobs/job-lease-keeper.js';
import { createTestDatabaseHome, databaseTargets } from './db-test-fixtures.js';

const ttlMs = 600;
const idleService = { adopt: async () => 0, cancelRequested: () => undefined };

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

  function keeper(leaseTtlMs = ttlMs): JobLeaseKeeper {
    const made = new JobLeaseKeeper({ instanceId: 'shared', coordinator: createInstanceCoordinator(store), service: idleService, leaseTtlMs });
    keepers.push(made);
    return made;
  }

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
});
