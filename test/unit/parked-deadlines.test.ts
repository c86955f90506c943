import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ParkedDeadlines } from '../../src/jobs/parked-deadlines.js';

function setup() {
  const clock = new SimulatedClock();
  const parked = new Set<string>();
  const expired: string[] = [];
  const deadlines = new ParkedDeadlines(
    clock,
    (jobId) => parked.has(jobId),
    (jobId) => expired.push(jobId),
  );
  const park = (jobId: string, at: number) => {
    parked.add(jobId);
    deadlines.add(jobId, at);
  };
  return { clock, parked, expired, deadlines, park };
}

describe('ParkedDeadlines: one timer for every parked job', () => {
  it('expires parked jobs in deadline order, whatever order they were added in', () => {
    const t = setup();
    t.park('late', 300);
    t.park('early', 100);
    t.park('middle', 200);
    t.clock.increment(150);
    expect(t.expired).toEqual(['early']);
    t.clock.increment(200);
    expect(t.expired).toEqual(['early', 'middle', 'late']);
  });

  it('a job no longer parked (granted) is skipped when its deadline comes', () => {
    const t = setup();
    t.park('granted', 100);
    t.park('waiting', 100);
    t.parked.delete('granted');
    t.clock.increment(100);
    expect(t.expired).toEqual(['waiting']);
  });

  it('a job parked again with a later deadline (resubmitted) expires at the later one only', () => {
    const t = setup();
    t.park('job', 100);
    t.park('job', 500);
    t.clock.increment(200);
    expect(t.expired).toEqual([]);
    t.clock.increment(300);
    expect(t.expired).toEqual(['job']);
  });

  it('rebuilding the heap drops stale entries and keeps every live deadline', () => {
    const t = setup();
    for (let i = 0; i < 3000; i++) {
      t.park(`job${i}`, 1_000 + i);
      if (i % 3 !== 0) t.parked.delete(`job${i}`); // two in three were granted meanwhile
    }
    expect(t.deadlines.size).toBeLessThan(3000);
    t.clock.increment(10_000);
    expect(t.expired).toEqual(Array.from({ length: 1000 }, (_, i) => `job${i * 3}`));
  });
});
