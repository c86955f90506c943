import { describe, expect, it } from 'vitest';
import { FifoLock } from '../../src/db/fifo-lock.js';

describe('FifoLock', () => {
  it('runs work one at a time in arrival order', async () => {
    const lock = new FifoLock();
    const log: string[] = [];
    let inside = 0;
    const task = (name: string, ticks: number) =>
      lock.run(async () => {
        inside += 1;
        expect(inside).toBe(1);
        log.push(`start ${name}`);
        for (let i = 0; i < ticks; i += 1) await Promise.resolve();
        log.push(`end ${name}`);
        inside -= 1;
        return name;
      });
    const results = await Promise.all([task('a', 5), task('b', 1), task('c', 3)]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(lock.waiting).toBe(0);
  });

  it('passes the lock on after a failure', async () => {
    const lock = new FifoLock();
    const failed = lock.run(async () => {
      throw new Error('boom');
    });
    const next = lock.run(async () => 'ran');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });

  it('stays fair and bounded over many waiters', async () => {
    const lock = new FifoLock();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => lock.run(async () => void order.push(i))));
    expect(order).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(lock.waiting).toBe(0);
    // Free again: the next run starts without waiting.
    let ran = false;
    const pending = lock.run(async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    await pending;
  });
});
