import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InMemoryEventBus, ProgressPublisher, type BusMessage } from '../../src/events/index.js';

const decode = (m: BusMessage) => JSON.parse(new TextDecoder().decode(m.payload)) as { type: string; data: { progress: { value: number }; percent: number } };

describe('ProgressPublisher', () => {
  let bus: InMemoryEventBus;
  let got: BusMessage[];
  beforeEach(() => {
    vi.useFakeTimers();
    bus = new InMemoryEventBus();
    got = [];
    bus.subscribe('p.events.>', (m) => got.push(m));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends at most perSecond ticks per job and always the newest value last', () => {
    const publisher = new ProgressPublisher(bus, 'p', 4);
    const job = { id: 'j1', conversation_id: 'c1' };
    for (let v = 1; v <= 100; v++) {
      publisher.publish(job, { value: v, max: 100, node: '3' });
      vi.advanceTimersByTime(10); // 100 ticks in 1 s
    }
    vi.advanceTimersByTime(1000);
    // 4 per second over ~1 s, plus the first one sent at once and the trailing newest value.
    expect(got.length).toBeGreaterThanOrEqual(4);
    expect(got.length).toBeLessThanOrEqual(6);
    const values = got.map((m) => decode(m).data.progress.value);
    expect(values.at(-1)).toBe(100);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(got[0]?.subject).toBe('p.events.c1.j1.progress');
    expect(got.every((m) => !m.durable)).toBe(true);
    expect(decode(got.at(-1)!)).toMatchObject({ type: 'chorus.visual.job.progress', data: { percent: 100 } });
    publisher.close();
  });

  it('throttles jobs independently and forgets idle jobs', () => {
    const publisher = new ProgressPublisher(bus, 'p', 2);
    publisher.publish({ id: 'a', conversation_id: 'c' }, { value: 1, max: 2, node: null });
    publisher.publish({ id: 'b', conversation_id: 'c' }, { value: 1, max: 2, node: null });
    expect(got).toHaveLength(2);
    publisher.publish({ id: 'a', conversation_id: 'c' }, { value: 2, max: 2, node: null });
    expect(got).toHaveLength(2);
    vi.advanceTimersByTime(500);
    expect(got).toHaveLength(3);
    vi.advanceTimersByTime(2000);
    publisher.forget('b');
    expect(publisher.trackedJobs).toBe(0);
  });

  it('drops ticks while the transport is down instead of queueing them', () => {
    const publisher = new ProgressPublisher(bus, 'p', 100);
    bus.setConnected(false);
    for (let i = 0; i < 1000; i++) {
      publisher.publish({ id: 'j', conversation_id: 'c' }, { value: i, max: 1000, node: null });
      vi.advanceTimersByTime(20);
    }
    expect(got).toHaveLength(0);
    expect(publisher.trackedJobs).toBeLessThanOrEqual(1);
    bus.setConnected(true);
    publisher.publish({ id: 'j', conversation_id: 'c' }, { value: 5, max: 10, node: null });
    vi.advanceTimersByTime(100);
    expect(got.map((m) => decode(m).data.progress.value)).toEqual([5]);
  });
});
