import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BackendPool } from '../../src/comfy/index.js';
import { Scheduler } from '../../src/jobs/scheduler.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';

const tick = () => new Promise((r) => setImmediate(r));

function setup(maxConcurrent = 1) {
  const clock = new SimulatedClock();
  const woken: string[] = [];
  const scheduler = new Scheduler(new BackendPool([new FakeComfyBackend('gpu0', maxConcurrent)]), { clock, wakeParked: (jobId) => woken.push(jobId) });
  return { scheduler, woken };
}

describe('Scheduler: parked waiters (a job with no live actor)', () => {
  it('a parked waiter keeps its place; its grant wakes it and its revived acquire takes that slot at once', async () => {
    const { scheduler, woken } = setup();
    await scheduler.acquire('busy', 0);
    const abort = new AbortController();
    void scheduler.acquire('a', 0, abort.signal);
    void scheduler.acquire('b', 0);
    expect(scheduler.park('a')).toBe(true);
    abort.abort(); // the actor stops: its waiter stays
    expect(scheduler.waiting()).toBe(2);
    expect(scheduler.isParked('a')).toBe(true);
    scheduler.release('busy');
    await tick();
    expect(woken).toEqual(['a']);
    expect(scheduler.holds('a')).toBe(true);
    expect(await scheduler.acquire('a', 0)).toBe('gpu0');
    expect(scheduler.inUse('gpu0')).toBe(1);
    expect(scheduler.waiting()).toBe(1);
  });

  it('priority holds across parked and live waiters, and for jobs queued straight from their rows', async () => {
    const { scheduler, woken } = setup();
    await scheduler.acquire('busy', 0);
    scheduler.enqueueParked('low', -1, []);
    scheduler.enqueueParked('high', 5, []);
    const order: string[] = [];
    void scheduler.acquire('mid', 0).then(() => order.push('mid'));
    for (const holder of ['busy', 'high', 'mid']) {
      scheduler.release(holder);
      await tick();
      order.push(...woken.splice(0));
    }
    expect(order).toEqual(['high', 'mid', 'low']);
  });

  it('unpark takes a parked job out for good: nothing wakes it, its acquire never resolves, others go on', async () => {
    const { scheduler, woken } = setup();
    await scheduler.acquire('busy', 0);
    scheduler.enqueueParked('gone', 0, []);
    scheduler.enqueueParked('next', 0, []);
    expect(scheduler.unpark('gone')).toBe(true);
    expect(scheduler.unpark('gone')).toBe(false);
    let resolved = false;
    void scheduler.acquire('gone', 0).then(() => (resolved = true));
    scheduler.release('busy');
    await tick();
    expect(woken).toEqual(['next']);
    expect(resolved).toBe(false);
    expect(scheduler.waiting()).toBe(0);
  });

  it('a waiter granted already cannot be parked; a live waiter cannot be unparked', async () => {
    const { scheduler } = setup();
    await scheduler.acquire('a', 0);
    expect(scheduler.park('a')).toBe(false);
    void scheduler.acquire('b', 0);
    expect(scheduler.unpark('b')).toBe(false);
    expect(scheduler.waiting()).toBe(1);
  });
});
