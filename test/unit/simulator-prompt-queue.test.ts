import { describe, expect, it } from 'vitest';
import { PromptQueue, type QueueEntry } from '../../src/simulator/prompt-queue.js';
import { HistoryStore, maximumHistorySize, type HistoryEntry } from '../../src/simulator/history-store.js';

const entry = (number: number, id: string): QueueEntry => [number, id, {}, {}, []];

describe('PromptQueue (Python heapq semantics)', () => {
  it('shows the raw heap like T11 and runs in (number, prompt_id) order', () => {
    let changes = 0;
    const queue = new PromptQueue(() => changes++);
    // T11: 46, 47, 48 queued, then front (-49) and number 2.5 → raw heap [-49, 2.5, 48, 47, 46]
    for (const [n, id] of [
      [46, 'a'],
      [47, 'b'],
      [48, 'c'],
      [-49, 'd'],
      [2.5, 'e'],
    ] as const)
      queue.put(entry(n, id));
    expect(queue.pendingRaw().map((e) => e[0])).toEqual([-49, 2.5, 48, 47, 46]);
    const order: number[] = [];
    for (let e = queue.take(); e; e = queue.take()) {
      order.push(e[0]);
      expect(queue.remaining()).toBe(5 - order.length + 1);
      queue.finishRunning();
    }
    expect(order).toEqual([-49, 2.5, 46, 47, 48]);
    expect(changes).toBe(15);
  });

  it('deletes only the first pending entry with an id and keeps heap order', () => {
    const queue = new PromptQueue(() => undefined);
    for (const [n, id] of [
      [1, 'x'],
      [2, 'dup'],
      [3, 'dup'],
      [4, 'y'],
    ] as const)
      queue.put(entry(n, id));
    expect(queue.deletePending('dup')).toBe(true);
    expect(queue.deletePending('unknown')).toBe(false);
    expect(
      queue
        .pendingRaw()
        .filter((e) => e[1] === 'dup')
        .map((e) => e[0]),
    ).toEqual([3]);
    const first = queue.take()?.[0];
    queue.finishRunning();
    expect([first, queue.take()?.[0]]).toEqual([1, 3]);
  });
});

describe('HistoryStore', () => {
  const fake = (id: string) => ({ prompt: entry(0, id) }) as unknown as HistoryEntry;

  it('caps at 10,001 entries, dropping the oldest, and keeps a re-run in its first position', () => {
    const history = new HistoryStore();
    for (let i = 0; i < maximumHistorySize + 3; i++) history.put(`p${i}`, fake(`p${i}`));
    const keys = Object.keys(history.list(null, -1));
    expect(keys).toHaveLength(maximumHistorySize + 1);
    expect(keys[0]).toBe('p2');
    // like Python: the size check drops the oldest (p2) even when the key already exists
    history.put('p5', fake('p5'));
    expect(Object.keys(history.list(null, -1)).slice(0, 3)).toEqual(['p3', 'p4', 'p5']);
    expect(Object.keys(history.list(2, -1))).toEqual([`p${maximumHistorySize + 1}`, `p${maximumHistorySize + 2}`]);
    expect(Object.keys(history.list(1, 1))).toEqual(['p4']);
  });
});
