import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../../bench/bench-options.js';
import { percentileOfSorted, summarize } from '../../bench/latency-stats.js';
import { originalPollDelayMs, baselineGraph } from '../../bench/original-design-poller.js';
import { renderTable } from '../../bench/result-table.js';
import { busyShare } from '../../bench/simulator-finish-times.js';

describe('benchmark options', () => {
  it('runs every benchmark by default and reads --jobs', () => {
    expect(parseBenchOptions([])).toEqual({
      names: ['latency', 'throughput', 'utilization', 'memory', 'recovery', 'affinity', 'startup'],
      jobs: undefined,
      json: undefined,
    });
    expect(parseBenchOptions(['latency', '--jobs', '500'])).toEqual({ names: ['latency'], jobs: 500, json: undefined });
    expect(parseBenchOptions(['--jobs=20', 'memory']).jobs).toBe(20);
  });

  it('takes --json with or without a file', () => {
    expect(parseBenchOptions(['latency', '--json']).json).toBe('-');
    expect(parseBenchOptions(['--json', '--jobs', '3']).json).toBe('-');
    expect(parseBenchOptions(['--json', 'out.json', 'recovery'])).toMatchObject({ names: ['recovery'], json: 'out.json' });
  });

  it('refuses unknown benchmarks, options and bad counts', () => {
    expect(() => parseBenchOptions(['speed'])).toThrow(/bad benchmark options/);
    expect(() => parseBenchOptions(['--fast'])).toThrow(/unknown option/);
    expect(() => parseBenchOptions(['--jobs', '0'])).toThrow(/bad benchmark options/);
    expect(() => parseBenchOptions(['--jobs'])).toThrow(/needs a number/);
  });
});

describe('latency statistics', () => {
  it('uses the nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentileOfSorted(sorted, 50)).toBe(50);
    expect(percentileOfSorted(sorted, 99)).toBe(99);
    expect(percentileOfSorted(sorted, 100)).toBe(100);
    expect(percentileOfSorted([7], 99)).toBe(7);
    expect(percentileOfSorted([], 50)).toBeNaN();
  });

  it('summarizes unsorted samples', () => {
    expect(summarize([5, 1, 3, 2, 4])).toEqual({ count: 5, min: 1, p50: 3, p95: 5, p99: 5, max: 5, mean: 3 });
  });
});

describe('original design poll schedule', () => {
  it('waits 2 s, then 5 s after 30 s, then 10 s after 60 s', () => {
    expect(originalPollDelayMs(0)).toBe(2_000);
    expect(originalPollDelayMs(29_999)).toBe(2_000);
    expect(originalPollDelayMs(30_000)).toBe(5_000);
    expect(originalPollDelayMs(59_999)).toBe(5_000);
    expect(originalPollDelayMs(60_000)).toBe(10_000);
    expect(originalPollDelayMs(600_000)).toBe(10_000);
  });

  it('builds the no-model graph with no placeholder left', async () => {
    const graph = await baselineGraph('a red cube', 42);
    const text = JSON.stringify(graph);
    expect(text).not.toMatch(/PLACEHOLDER/);
    expect(text).toContain('a red cube');
    expect(text).toContain('no_model_42');
    expect(graph).not.toHaveProperty('metadata');
  });
});

describe('result tables and busy share', () => {
  it('aligns columns and right-aligns numbers', () => {
    const table = renderTable([
      { path: 'websocket', p99_ms: 12.345 },
      { path: 'baseline', p99_ms: 1999 },
    ]);
    expect(table.split('\n')).toEqual(['path       p99_ms', '---------  ------', 'websocket    12.3', 'baseline     1999', '']);
  });

  it('counts only the part of each run inside the window', () => {
    const runs = [
      { startedAt: 0, finishedAt: 100 },
      { startedAt: 150, finishedAt: 250 },
    ];
    expect(busyShare(runs, 50, 200)).toBeCloseTo(100 / 150);
  });
});
