/**
 * Model affinity: a freed slot prefers a waiter whose models the backend last ran, within
 * bounds (passed over at most maxSkip times, never longer than maxWaitMs after the first
 * time); priority always wins; 0 means arrival order.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BackendPool } from '../../src/comfy/index.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';

const A = ['ckpt-a.safetensors'];
const B = ['ckpt-b.safetensors', 'lora-b.safetensors'];

function setup(affinity: { maxSkip: number; maxWaitMs: number } | undefined, onIdle?: (b: string) => void) {
  const clock = new SimulatedClock();
  clock.set(1_000);
  const pool = new BackendPool([new FakeComfyBackend('gpu0', 1)]);
  const scheduler = new Scheduler(pool, { clock, ...(affinity ? { affinity } : {}), ...(onIdle ? { onIdle } : {}) });
  return { clock, scheduler };
}

const tick = () => new Promise((r) => setImmediate(r));

/** Queues jobs behind a running one, then releases one slot at a time; returns the grant order. */
async function runQueue(scheduler: Scheduler, first: readonly string[], queue: Array<[string, readonly string[], number?]>): Promise<string[]> {
  await scheduler.acquire('first', 0, undefined, first);
  const order: string[] = [];
  for (const [id, models, priority] of queue) void scheduler.acquire(id, priority ?? 0, undefined, models).then(() => order.push(id));
  await tick();
  let holder = 'first';
  for (let i = 0; i < queue.length; i++) {
    scheduler.release(holder);
    await tick();
    holder = order[order.length - 1]!;
  }
  return order;
}

describe('Scheduler: model affinity', () => {
  it('runs the jobs whose models are loaded first, then the others', async () => {
    const { scheduler } = setup({ maxSkip: 3, maxWaitMs: 60_000 });
    const order = await runQueue(scheduler, A, [
      ['b1', B],
      ['a1', A],
      ['b2', B],
      ['a2', A],
    ]);
    expect(order).toEqual(['a1', 'a2', 'b1', 'b2']);
    expect(scheduler.affinityCounters()).toEqual([{ backend: 'gpu0', grants: 5, ahead: 2, switches: 1 }]);
  });

  it('passes a waiter over at most maxSkip times', async () => {
    const { scheduler } = setup({ maxSkip: 2, maxWaitMs: 60_000 });
    const order = await runQueue(scheduler, A, [
      ['b1', B],
      ['a1', A],
      ['a2', A],
      ['a3', A],
      ['a4', A],
    ]);
    // b1 is passed over by a1 and a2, then it is its turn whatever the models.
    expect(order).toEqual(['a1', 'a2', 'b1', 'a3', 'a4']);
  });

  it('passes a waiter over only until maxWaitMs after the first time', async () => {
    const { clock, scheduler } = setup({ maxSkip: 10, maxWaitMs: 5_000 });
    await scheduler.acquire('first', 0, undefined, A);
    const order: string[] = [];
    for (const [id, models] of [
      ['b1', B],
      ['a1', A],
      ['a2', A],
    ] as const)
      void scheduler.acquire(id, 0, undefined, models).then(() => order.push(id));
    await tick();
    scheduler.release('first');
    await tick();
    expect(order).toEqual(['a1']);
    clock.increment(5_000);
    scheduler.release('a1');
    await tick();
    expect(order).toEqual(['a1', 'b1']);
    const grant = scheduler.takeGrant('b1');
    expect(grant).toEqual({ matched: false, wentAhead: 0, passedOver: 1 });
    expect(scheduler.takeGrant('b1')).toBeUndefined();
  });

  it('priority wins over affinity', async () => {
    const { scheduler } = setup({ maxSkip: 3, maxWaitMs: 60_000 });
    const order = await runQueue(scheduler, A, [
      ['a-low', A, 0],
      ['b-high', B, 5],
      ['a-low2', A, 0],
    ]);
    expect(order).toEqual(['b-high', 'a-low', 'a-low2']);
  });

  it('maxSkip 0 (or no affinity) keeps arrival order', async () => {
    for (const affinity of [{ maxSkip: 0, maxWaitMs: 60_000 }, undefined]) {
      const { scheduler } = setup(affinity);
      const order = await runQueue(scheduler, A, [
        ['b1', B],
        ['a1', A],
        ['b2', B],
        ['a2', A],
      ]);
      expect(order).toEqual(['b1', 'a1', 'b2', 'a2']);
    }
  });

  it('a cancelled waiter is not granted and does not block the others', async () => {
    const { scheduler } = setup({ maxSkip: 3, maxWaitMs: 60_000 });
    await scheduler.acquire('first', 0, undefined, A);
    const abort = new AbortController();
    const order: string[] = [];
    void scheduler.acquire('b1', 0, undefined, B).then(() => order.push('b1'));
    void scheduler.acquire('a1', 0, abort.signal, A).then(() => order.push('a1'));
    void scheduler.acquire('a2', 0, undefined, A).then(() => order.push('a2'));
    await tick();
    abort.abort();
    scheduler.release('first');
    await tick();
    expect(order).toEqual(['a2']);
    expect(scheduler.waiting()).toBe(1);
  });

  it('tells when a backend has nothing in it and nothing waiting', async () => {
    const idle: string[] = [];
    const { scheduler } = setup(undefined, (b) => idle.push(b));
    await scheduler.acquire('x', 0);
    const y = scheduler.acquire('y', 0);
    await tick();
    scheduler.release('x');
    await y;
    expect(idle).toEqual([]);
    scheduler.release('y');
    expect(idle).toEqual(['gpu0']);
  });
});
