import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BackendPool } from '../../src/comfy/index.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';

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
