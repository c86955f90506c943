import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../../bench/bench-options.js';
import { executionSuccessAt, outputFilesOf } from '../../bench/bare-comfy-client.js';
import { stepDurations } from '../../bench/latency-stage-marks.js';
import { compareWithReference, percentileOfSorted, summarize, withinReferenceGap } from '../../bench/latency-stats.js';
import { originalPollDelayMs, baselineGraph } from '../../bench/original-design-poller.js';
import { renderTable } from '../../bench/result-table.js';
import { busyShare } from '../../bench/simulator-finish-times.js';

describe('benchmark options', () => {
  it('runs every benchmark by default and reads --jobs', () => {
    expect(parseBenchOptions([])).toEqual({
      names: ['latency', 'throughput', 'utilization', 'memory', 'recovery', 'affinity', 'startup'],
      jobs: undefined,
      json: undefined,
      light: false,
      serviceInBench: false,
    });
    expect(parseBenchOptions(['latency', '--jobs', '500'])).toEqual({ names: ['latency'], jobs: 500, json: undefined, light: false, serviceInBench: false });
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

describe('latency benchmark options', () => {
  it('reads --comfy-url, --output-dir and --light, with or without =', () => {
    expect(parseBenchOptions(['latency', '--comfy-url', 'http://127.0.0.1:8188', '--output-dir', '/srv/ComfyUI/output'])).toMatchObject({
      names: ['latency'],
      comfyUrl: 'http://127.0.0.1:8188',
      outputDir: '/srv/ComfyUI/output',
      light: false,
    });
    expect(parseBenchOptions(['latency', '--comfy-url=https://gpu.local:8188', '--jobs=50'])).toMatchObject({ comfyUrl: 'https://gpu.local:8188', jobs: 50 });
    expect(parseBenchOptions(['latency', '--light']).light).toBe(true);
  });

  it('reads --service-in-bench for latency and throughput only', () => {
    expect(parseBenchOptions(['latency', '--light', '--service-in-bench']).serviceInBench).toBe(true);
    expect(parseBenchOptions(['throughput', '--service-in-bench']).serviceInBench).toBe(true);
    expect(() => parseBenchOptions(['memory', '--service-in-bench'])).toThrow(/belongs to the latency and throughput benchmarks/);
    expect(() => parseBenchOptions(['--service-in-bench'])).toThrow(/belongs to the latency and throughput benchmarks/);
  });

  it('reads --warmup for latency and throughput only', () => {
    expect(parseBenchOptions(['latency', '--light', '--warmup', '500']).warmup).toBe(500);
    expect(parseBenchOptions(['throughput', '--warmup=0']).warmup).toBe(0);
    expect(parseBenchOptions(['throughput']).warmup).toBeUndefined();
    expect(() => parseBenchOptions(['memory', '--warmup', '5'])).toThrow(/belongs to the latency and throughput benchmarks/);
    expect(() => parseBenchOptions(['latency', '--warmup'])).toThrow(/--warmup needs a number/);
    expect(() => parseBenchOptions(['latency', '--warmup='])).toThrow(/--warmup needs a number/);
    expect(() => parseBenchOptions(['latency', '--warmup', '-3'])).toThrow(/bad benchmark options/);
  });

  it('keeps them to the latency benchmark and refuses what cannot be measured', () => {
    expect(() => parseBenchOptions(['--light'])).toThrow(/belong to the latency benchmark/);
    expect(() => parseBenchOptions(['latency', 'throughput', '--comfy-url', 'http://127.0.0.1:8188'])).toThrow(/belong to the latency benchmark/);
    expect(() => parseBenchOptions(['latency', '--output-dir', '/tmp/out'])).toThrow(/--output-dir is the output folder/);
    expect(() => parseBenchOptions(['latency', '--comfy-url', 'ftp://host/'])).toThrow(/bad benchmark options/);
    expect(() => parseBenchOptions(['latency', '--comfy-url'])).toThrow(/--comfy-url needs a value/);
    expect(() => parseBenchOptions(['latency', '--comfy-url', '--light'])).toThrow(/--comfy-url needs a value/);
  });
});

describe('side-by-side comparison', () => {
  it('gives the candidate minus the reference at each percentile', () => {
    const bare = Array.from({ length: 100 }, (_, i) => 4 + i / 100);
    const chorus = bare.map((v, i) => v + 2 + (i === 99 ? 20 : 0));
    const comparison = compareWithReference(bare, chorus);
    expect(comparison.reference.p50).toBeCloseTo(4.49);
    expect(comparison.gap.p50).toBeCloseTo(2);
    expect(comparison.gap.p99).toBeCloseTo(2);
    expect(comparison.candidate.max - comparison.reference.max).toBeCloseTo(22);
    expect(withinReferenceGap(comparison)).toBe(true);
  });

  it('misses the target on either percentile, and with no samples', () => {
    const bare = Array.from({ length: 100 }, () => 4);
    expect(
      withinReferenceGap(
        compareWithReference(
          bare,
          bare.map((v) => v + 3.5),
        ),
      ),
    ).toBe(false);
    const tail = bare.map((v, i) => (i >= 95 ? v + 12 : v + 1));
    expect(compareWithReference(bare, tail).gap).toMatchObject({ p50: 1, p99: 12 });
    expect(withinReferenceGap(compareWithReference(bare, tail))).toBe(false);
    expect(withinReferenceGap(compareWithReference(bare, []))).toBe(false);
    expect(withinReferenceGap(compareWithReference([], bare))).toBe(false);
  });
});

describe('history entries read by the bare client', () => {
  const entry = {
    outputs: {
      '2': { text: ['hello'] },
      '4': { images: [{ filename: 'no_model_7_00001_.png', subfolder: 'chorus', type: 'output' }], animated: [false] },
      '5': { images: [{ filename: 'ComfyUI_temp_x_00001_.png', subfolder: '', type: 'temp' }] },
    },
    status: {
      status_str: 'success',
      completed: true,
      messages: [
        ['execution_start', { prompt_id: 'p', timestamp: 1000 }],
        ['execution_cached', { nodes: [], prompt_id: 'p', timestamp: 1001 }],
        ['execution_success', { prompt_id: 'p', timestamp: 1023 }],
      ],
    },
  };

  it('takes ComfyUI’s own execution_success timestamp', () => {
    expect(executionSuccessAt(entry)).toBe(1023);
    const failed = { ...entry, status: { status_str: 'error', messages: [['execution_error', { timestamp: 1020 }]] } };
    expect(executionSuccessAt(failed)).toBeUndefined();
    expect(executionSuccessAt(undefined)).toBeUndefined();
  });

  it('lists the output files under any key, not the temp previews', () => {
    expect(outputFilesOf(entry)).toEqual([{ filename: 'no_model_7_00001_.png', subfolder: 'chorus' }]);
    expect(outputFilesOf({})).toEqual([]);
  });
});

describe('latency stage marks', () => {
  it('measures each step from the previous mark present, leaving out the JetStream ack', () => {
    const steps = stepDurations({ execution_success: 100, end_marker: 102, history_read: 105, moving_committed: 108, at_subscriber: 130, publish_acked: 131 });
    expect(steps).toEqual([
      { from: 'execution_success', to: 'end_marker', ms: 2 },
      { from: 'end_marker', to: 'history_read', ms: 3 },
      { from: 'history_read', to: 'moving_committed', ms: 3 },
      { from: 'moving_committed', to: 'at_subscriber', ms: 22 },
    ]);
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
