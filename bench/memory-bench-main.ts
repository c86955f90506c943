/**
 * The memory benchmark's measuring process, started by memory-bench.ts with --expose-gc so
 * the heap it reports is after a full collection and holds nothing of earlier benchmarks.
 * Prints one JSON line: the measurement.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { startApp } from '../src/app/chorus-visual-app.js';
import { listCommandSchema } from '../src/commands/index.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, uniqueRunNames } from './bench-environment.js';
import { freePortThatRefuses, type MemoryMeasurement } from './memory-measurement.js';

const gc = (globalThis as { gc?: () => void }).gc;

function settle(): { heapUsed: number; rss: number } {
  for (let i = 0; i < 3; i++) gc!();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, rss: usage.rss };
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with --expose-gc');
  const jobs = Number(process.argv[2] ?? 10_000);
  const dir = await createBenchDir('memory');
  const names = uniqueRunNames('memory');
  const nc = await connectBenchNats();
  // A backend that is down: nothing is ever submitted, every job stays queued.waiting.
  const deadUrl = `http://127.0.0.1:${await freePortThatRefuses()}`;
  const config = benchConfig({ dir: dir.path, backends: [{ url: deadUrl, outputDir: dir.path }], names, maxConcurrent: 1, maxQueueSize: jobs + 10 });
  const app = await startApp({ config, bus: 'nats', http: false, waitForNats: true });
  try {
    // Warm up: one job admitted so code paths, statement caches and the actor system exist.
    await app.runtime.service.generate(benchJob(jobs + 1));
    await app.relay.drain();
    const before = settle();
    const startedAt = performance.now();
    for (let i = 0; i < jobs; i++) await app.runtime.service.generate(benchJob(i));
    const admitMs = performance.now() - startedAt;
    // The warm-up job is queued too; the measurement counts only the jobs admitted after it.
    await app.relay.drain();
    // A waiting job parks (its actor stops) once its wait is stored: let the last ones do so.
    for (let i = 0; i < 200 && app.runtime.service.parkedCount() < jobs + 1; i++) await new Promise((r) => setTimeout(r, 10));
    const after = settle();
    // For finding what a queued job holds: BENCH_HEAP_SNAPSHOT=1 writes one (Chrome DevTools format).
    if (process.env['BENCH_HEAP_SNAPSHOT'])
      process.stderr.write(`heap snapshot: ${writeHeapSnapshot(join(tmpdir(), `chorus-bench-memory-${process.pid}.heapsnapshot`))}\n`);
    const { total } = await app.runtime.service.list(listCommandSchema.parse({ limit: 1, state: 'queued' }));
    const measurement: MemoryMeasurement = {
      jobs,
      queued: total - 1,
      liveActors: app.runtime.service.activeCount(),
      parked: app.runtime.service.parkedCount(),
      heapBeforeBytes: before.heapUsed,
      heapAfterBytes: after.heapUsed,
      rssBeforeBytes: before.rss,
      rssAfterBytes: after.rss,
      admitMs,
    };
    process.stdout.write(`${JSON.stringify(measurement)}\n`);
  } finally {
    await app.stop();
    await deleteRunStream(nc, names);
    await nc.close();
    await dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`memory benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
