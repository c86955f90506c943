/**
 * A profiling aid for benchmark 1, not part of `npm run bench`: where the time between the
 * simulator's execution_success and the `completed` event at NATS goes. For each job it
 * notes when the service committed `moving` and `completed` (JobService 'transition'
 * notices, emitted after the SQLite commit) and when NATS delivered `completed`.
 *   npx tsx bench/latency-stages-probe.ts --jobs 300 --backends 8 --in-flight 16
 *   npx tsx bench/latency-stages-probe.ts --jobs 300 --backends 2 --in-flight 1 --closed-loop
 *   node --cpu-prof --import tsx bench/latency-stages-probe.ts …   (to profile it)
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startApp } from '../src/app/chorus-visual-app.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, nowMs, startSimulators, uniqueRunNames } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import { summarize } from './latency-stats.js';
import { renderTable } from './result-table.js';
import { finishTimesOfAll } from './simulator-finish-times.js';

const argsSchema = z.object({
  jobs: z.coerce.number().int().min(1).default(300),
  backends: z.coerce.number().int().min(1).max(64).default(8),
  'in-flight': z.coerce.number().int().min(1).max(64).default(16),
  'execution-ms': z.coerce.number().int().min(0).default(50),
  /** Admit the next job only when the previous one's event arrived (one worker per slot). */
  'closed-loop': z.boolean().default(false),
});

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string' },
      backends: { type: 'string' },
      'in-flight': { type: 'string' },
      'execution-ms': { type: 'string' },
      'closed-loop': { type: 'boolean' },
    },
  });
  const args = argsSchema.parse(values);
  const sims = await startSimulators(args.backends, { stepDelayMs: 0, nodeDelayMs: 0, previews: false });
  for (const sim of sims) sim.faults.executionDelayMs(args['execution-ms']);
  const dir = await createBenchDir('stages');
  const names = uniqueRunNames('stages');
  const nc = await connectBenchNats();
  const subscriber = new CompletionSubscriber(nc, names.subjectPrefix);
  const config = benchConfig({
    dir: dir.path,
    backends: sims.map((s) => ({ url: s.url, outputDir: s.outputDir })),
    names,
    maxConcurrent: args['in-flight'],
    maxQueueSize: args.jobs + 10,
  });
  const app = await startApp({ config, bus: 'nats', http: false, waitForNats: true });
  const committed = new Map<string, Map<string, number>>();
  app.runtime.service.on('transition', (notice) => {
    const marks = committed.get(notice.jobId) ?? new Map<string, number>();
    marks.set(notice.job.state, nowMs());
    committed.set(notice.jobId, marks);
  });
  try {
    if (args['closed-loop']) {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < args.jobs; i = next++) {
          const { job } = await app.runtime.service.generate(benchJob(i));
          await subscriber.waitForJob(job.id, 60_000);
        }
      };
      await Promise.all(Array.from({ length: args.backends * args['in-flight'] }, worker));
    } else {
      for (let i = 0; i < args.jobs; i++) await app.runtime.service.generate(benchJob(i));
    }
    await subscriber.waitForFinal(args.jobs, 600_000);
    const finished = await finishTimesOfAll(sims.map((s) => s.url));
    const stages = { moving_committed: [] as number[], completed_committed: [] as number[], completed_at_nats: [] as number[] };
    for (const arrival of subscriber.arrivals.values()) {
      const at = arrival.promptId ? finished.get(arrival.promptId) : undefined;
      const marks = committed.get(arrival.jobId);
      if (at === undefined || !marks?.has('moving') || !marks.has('completed')) continue;
      stages.moving_committed.push(marks.get('moving')! - at);
      stages.completed_committed.push(marks.get('completed')! - at);
      stages.completed_at_nats.push(arrival.at - at);
    }
    const rows = Object.entries(stages).map(([stage, samples]) => {
      const s = summarize(samples);
      return { since_execution_success: stage, jobs: s.count, p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99, max_ms: s.max };
    });
    process.stdout.write(
      `jobs=${args.jobs} backends=${args.backends} in_flight_per_backend=${args['in-flight']} execution_ms=${args['execution-ms']} closed_loop=${args['closed-loop']}\n${renderTable(rows)}`,
    );
  } finally {
    subscriber.close();
    await app.stop();
    await deleteRunStream(nc, names);
    await nc.close();
    await Promise.all(sims.map((s) => s.close()));
    await dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
