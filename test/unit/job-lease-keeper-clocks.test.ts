/**
 * The keeper measures its hold on the instance id with a monotonic clock: a step of the wall
 * clock (an NTP step on a VM, a changed system time) neither ends a run whose database lease
 * is current nor keeps one going past it. Fake timers: `vi.setSystemTime` steps the wall clock
 * (Date) alone, `advanceTimersByTime` moves both it and the monotonic one (performance.now),
 * as real time passing does. The keeper runs on its default clock, as `serve` makes it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InstanceCoordinator, RunStanding } from '../../src/contracts/instance-coordination-port.js';
import type { ChorusError } from '../../src/errors/index.js';
import { JobLeaseKeeper } from '../../src/jobs/job-lease-keeper.js';

const ttlMs = 1_000;

/**
 * The database's side: it holds the lease while heartbeats arrive (its clock did not step), or
 * (`answering = false`) it does not answer, as when it is unreachable or the process stalled.
 */
function fakeDatabase() {
  const state = { answering: true, heartbeats: 0 };
  const never = new Promise<never>(() => undefined);
  const held = async (): Promise<RunStanding> => (state.answering ? { standing: 'held' } : never);
  const coordinator = {
    claimInstance: async () => ({ claimed: true as const }),
    heartbeat: async () => {
      state.heartbeats += 1;
      return held();
    },
    runStanding: held,
    claimJobs: async () => [],
    takeCancelRequests: async () => [],
    retire: async () => true,
  } as unknown as InstanceCoordinator;
  return { state, coordinator };
}

describe('JobLeaseKeeper clocks', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function startedRun() {
    const database = fakeDatabase();
    const seen = { stoppedDriving: 0, lost: undefined as ChorusError | undefined };
    const keeper = new JobLeaseKeeper({
      instanceId: 'gpu-box-1',
      coordinator: database.coordinator,
      service: { adopt: async () => 0, cancelRequested: () => undefined, stopDriving: () => (seen.stoppedDriving += 1) },
      leaseTtlMs: ttlMs,
      onLost: (error) => (seen.lost = error),
    });
    await keeper.register();
    keeper.start();
    await vi.advanceTimersByTimeAsync(ttlMs * 0.6);
    return { keeper, seen, database };
  }

  it('a wall clock stepping forward by more than the TTL does not end a run whose lease the database renews', async () => {
    const { keeper, seen, database } = await startedRun();
    vi.setSystemTime(Date.now() + 5 * ttlMs);
    expect(keeper.holdsInstance()).toBe(true);
    const beats = database.state.heartbeats;
    await vi.advanceTimersByTimeAsync(3 * ttlMs);
    expect(keeper.holdsInstance()).toBe(true);
    expect(seen).toEqual({ stoppedDriving: 0, lost: undefined });
    expect(database.state.heartbeats).toBeGreaterThan(beats + 8); // still renewing, every quarter TTL
    await keeper.stop();
  });

  it('a wall clock stepping back does not keep a run going past its lease when renewals stop', async () => {
    const { keeper, seen, database } = await startedRun();
    database.state.answering = false;
    vi.setSystemTime(Date.now() - 5 * ttlMs);
    await vi.advanceTimersByTimeAsync(ttlMs);
    expect(keeper.holdsInstance()).toBe(false);
    expect(seen.stoppedDriving).toBe(1);
    await vi.advanceTimersByTimeAsync(ttlMs); // the standing read gives up (the database does not answer)
    expect(seen.lost).toMatchObject({ code: 'INSTANCE_LEASE_LOST', details: { reason: 'unknown' } });
  });

  it('monotonic time past the TTL without a confirmed renewal still loses the run', async () => {
    const { keeper, seen, database } = await startedRun();
    database.state.answering = false;
    await vi.advanceTimersByTimeAsync(ttlMs * 0.3);
    expect(keeper.holdsInstance()).toBe(true); // within the hold of the last renewal (asked at 0.5 TTL)
    await vi.advanceTimersByTimeAsync(ttlMs * 0.7);
    expect(keeper.holdsInstance()).toBe(false);
    expect(seen.stoppedDriving).toBe(1);
    await vi.advanceTimersByTimeAsync(ttlMs);
    expect(seen.lost).toMatchObject({ code: 'INSTANCE_LEASE_LOST', details: { reason: 'unknown', lease_ttl_ms: ttlMs } });
  });
});
