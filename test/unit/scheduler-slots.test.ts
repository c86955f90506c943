import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BackendPool } from '../../src/comfy/index.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';
import type { SlotLedger } from '../../src/contracts/instance-coordination-port.js';

function setup(...backends: FakeComfyBackend[]) {
  const clock = new SimulatedClock();
  const pool = new BackendPool(backends);
  return { clock, scheduler: new Scheduler(pool, { clock, recheckMs: 100 }) };
}

const settled = async <T>(p: Promise<T>) => {
  let value: T | undefined;
  void p.then((v) => (value = v));
  await new Promise((r) => setImmediate(r));
  return value;
};

describe('Scheduler', () => {
  it('grants up to max_concurrent per backend, then queues FIFO', async () => {
    const { scheduler } = setup(new FakeComfyBackend('gpu0', 2));
    expect(await scheduler.acquire('a', 0)).toBe('gpu0');
    expect(await scheduler.acquire('b', 0)).toBe('gpu0');
    const c = scheduler.acquire('c', 0);
    const d = scheduler.acquire('d', 0);
    expect(await settled(c)).toBeUndefined();
    expect(scheduler.waiting()).toBe(2);
    scheduler.release('a');
    expect(await settled(c)).toBe('gpu0');
    expect(await settled(d)).toBeUndefined();
    scheduler.release('a'); // idempotent: a holds nothing now
    expect(await settled(d)).toBeUndefined();
    scheduler.release('b');
    expect(await settled(d)).toBe('gpu0');
  });

  it('serves higher priority first, FIFO within a priority', async () => {
    const { scheduler } = setup(new FakeComfyBackend('gpu0', 1));
    await scheduler.acquire('busy', 0);
    const order: string[] = [];
    for (const [id, p] of [
      ['low1', -1],
      ['mid1', 0],
      ['high', 5],
      ['mid2', 0],
    ] as const)
      void scheduler.acquire(id, p).then(() => order.push(id));
    for (const holder of ['busy', 'high', 'mid1', 'mid2']) {
      scheduler.release(holder);
      await new Promise((r) => setImmediate(r));
    }
    expect(order).toEqual(['high', 'mid1', 'mid2', 'low1']);
  });

  it('chooses the healthy backend with most free capacity', async () => {
    const a = new FakeComfyBackend('a', 1);
    const b = new FakeComfyBackend('b', 3);
    const { scheduler } = setup(a, b);
    expect(await scheduler.acquire('1', 0)).toBe('b');
    expect(await scheduler.acquire('2', 0)).toBe('b');
    expect(await scheduler.acquire('3', 0)).toBe('a'); // a: 1 free, b: 1 free → first listed
    b.healthy = false;
    const next = scheduler.acquire('4', 0);
    expect(await settled(next)).toBeUndefined(); // a full, b unhealthy
    expect(scheduler.inUse('b')).toBe(2);
  });

  it('looks again when a backend comes back', async () => {
    const a = new FakeComfyBackend('a', 1);
    a.healthy = false;
    const { scheduler, clock } = setup(a);
    const p = scheduler.acquire('1', 0);
    expect(await settled(p)).toBeUndefined();
    a.healthy = true;
    clock.increment(100);
    expect(await settled(p)).toBe('a');
  });

  it('an aborted waiter is skipped and does not hold a slot', async () => {
    const { scheduler } = setup(new FakeComfyBackend('gpu0', 1));
    await scheduler.acquire('a', 0);
    const ctrl = new AbortController();
    const b = scheduler.acquire('b', 0, ctrl.signal);
    const c = scheduler.acquire('c', 0);
    ctrl.abort();
    expect(scheduler.waiting()).toBe(1);
    scheduler.release('a');
    expect(await settled(c)).toBe('gpu0');
    expect(await settled(b)).toBeUndefined();
    expect(scheduler.holds('b')).toBe(false);
  });

  it('occupy counts a restored job against its backend', async () => {
    const { scheduler } = setup(new FakeComfyBackend('gpu0', 1));
    scheduler.occupy('restored', 'gpu0');
    const p = scheduler.acquire('new', 0);
    expect(await settled(p)).toBeUndefined();
    scheduler.release('restored');
    expect(await settled(p)).toBe('gpu0');
  });
});

/** Slots in memory as the database keeps them: one row per granted job, claimed only while free. */
function memoryLedger(): SlotLedger & { rows: Map<string, string> } {
  const rows = new Map<string, string>(); // jobId → backend
  const count = (backend: string) => [...rows.values()].filter((b) => b === backend).length;
  return {
    rows,
    defineSlots: async () => undefined,
    slotsInUse: async () => {
      const used = new Map<string, number>();
      for (const backend of rows.values()) used.set(backend, (used.get(backend) ?? 0) + 1);
      return used;
    },
    claimSlot: async (backend, jobId, _instance, max) => {
      rows.delete(jobId);
      if (count(backend) >= max) return false;
      rows.set(jobId, backend);
      return true;
    },
    adoptSlot: async () => undefined,
    releaseSlot: async (jobId) => void rows.delete(jobId),
  };
}

describe('Scheduler: a waiter pinned to one backend (a restored job that backend may hold)', () => {
  it('is granted that backend only: it waits while it is full though another has room, and goes first once it frees', async () => {
    const gpu0 = new FakeComfyBackend('gpu0', 1);
    const gpu1 = new FakeComfyBackend('gpu1', 3);
    const { scheduler } = setup(gpu0, gpu1);
    scheduler.occupy('busy', 'gpu0');
    const pinned = scheduler.acquire('pinned', 0, undefined, [], 'gpu0');
    expect(await settled(pinned)).toBeUndefined();
    // Others still go where there is room.
    expect(await scheduler.acquire('other', 0)).toBe('gpu1');
    expect(await scheduler.acquire('other2', 0)).toBe('gpu1');
    expect(await scheduler.acquire('other3', 0)).toBe('gpu1');
    const older = scheduler.acquire('unpinned', 5); // higher priority, waiting for any backend
    expect(await settled(older)).toBeUndefined();
    scheduler.release('busy');
    expect(await settled(pinned)).toBe('gpu0');
    expect(await settled(older)).toBeUndefined();
    expect(scheduler.inUse('gpu0')).toBe(1);
    scheduler.release('other');
    expect(await settled(older)).toBe('gpu1');
  });

  it('waits while its backend is down, and is granted it when it comes back', async () => {
    const gpu0 = new FakeComfyBackend('gpu0', 2);
    const gpu1 = new FakeComfyBackend('gpu1', 2);
    gpu0.healthy = false;
    const { scheduler, clock } = setup(gpu0, gpu1);
    const pinned = scheduler.acquire('pinned', 0, undefined, [], 'gpu0');
    clock.increment(100);
    expect(await settled(pinned)).toBeUndefined();
    expect(scheduler.waiting()).toBe(1);
    gpu0.healthy = true;
    clock.increment(100);
    expect(await settled(pinned)).toBe('gpu0');
    expect(scheduler.waiting()).toBe(0);
  });

  it('an unknown backend is no pin (the caller decides what that means)', async () => {
    const { scheduler } = setup(new FakeComfyBackend('gpu1', 1));
    expect(await scheduler.acquire('pinned', 0, undefined, [], 'gone')).toBe('gpu1');
  });

  it('several instances: the pinned grant is claimed in the slot table, on that backend only', async () => {
    const gpu0 = new FakeComfyBackend('gpu0', 1);
    const gpu1 = new FakeComfyBackend('gpu1', 4);
    const ledger = memoryLedger();
    ledger.rows.set('elsewhere', 'gpu0'); // another instance's job holds gpu0's one slot
    const clock = new SimulatedClock();
    const scheduler = new Scheduler(new BackendPool([gpu0, gpu1]), { clock, shared: { ledger, instanceId: 'me', pollMs: 20 } });
    const pinned = scheduler.acquire('pinned', 0, undefined, [], 'gpu0');
    clock.increment(20);
    expect(await settled(pinned)).toBeUndefined();
    expect(await scheduler.acquire('free', 0)).toBe('gpu1');
    ledger.rows.delete('elsewhere'); // freed by the other instance: seen by polling
    clock.increment(20);
    await settled(pinned); // the poll reads the table, then claims: a few turns
    expect(await settled(pinned)).toBe('gpu0');
    expect(ledger.rows.get('pinned')).toBe('gpu0');
    scheduler.close();
  });
});
