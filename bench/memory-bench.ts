/**
 * Benchmark 4 — memory per queued job: 10,000 jobs admitted while the only backend is down
 * (max_queue_size large), so every job waits for a slot: a stored row plus a scheduler entry,
 * its actor stopped once the wait is stored (issue 16: a queued job costs a row). Measured in
 * a fresh child process with --expose-gc: heap and RSS after forced collections, before and
 * after admission, divided by the job count.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { memoryMeasurementSchema } from './memory-measurement.js';
import type { BenchResult } from './result-table.js';

export interface MemoryBenchOptions {
  jobs?: number;
}

const targetHeapBytesPerJob = 2 * 1024;

export async function runMemoryBench(options: MemoryBenchOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 10_000;
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', resolve(import.meta.dirname, 'memory-bench-main.ts'), String(jobs)], {
    cwd: resolve(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  if (code !== 0) throw new Error(`memory benchmark process exited with ${code}`);
  const m = memoryMeasurementSchema.parse(JSON.parse(output.trim().split('\n').at(-1) ?? '{}'));
  const heapPerJob = (m.heapAfterBytes - m.heapBeforeBytes) / m.jobs;
  const rssPerJob = (m.rssAfterBytes - m.rssBeforeBytes) / m.jobs;
  return {
    name: 'memory',
    setup: { jobs, backend: 'down (connection refused)', gc: 'forced (--expose-gc)' },
    rows: [
      {
        queued: m.queued,
        live_actors: m.liveActors,
        parked: m.parked,
        heap_before_mb: m.heapBeforeBytes / 2 ** 20,
        heap_after_mb: m.heapAfterBytes / 2 ** 20,
        rss_before_mb: m.rssBeforeBytes / 2 ** 20,
        rss_after_mb: m.rssAfterBytes / 2 ** 20,
        heap_kb_per_job: heapPerJob / 1024,
        rss_kb_per_job: rssPerJob / 1024,
        admit_jobs_per_s: (m.jobs * 1000) / m.admitMs,
      },
    ],
    target: {
      description: '≤ 2 KB of heap per queued job at 10,000 queued, every waiting job parked (no live actor)',
      met: heapPerJob <= targetHeapBytesPerJob && m.queued >= m.jobs && m.parked >= m.jobs && m.liveActors === 0,
    },
    notes: ['RSS also holds SQLite’s page cache and allocator slack, which the heap figure does not'],
  };
}
