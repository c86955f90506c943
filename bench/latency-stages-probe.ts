/**
 * A profiling aid for benchmark 1, not part of `npm run bench`: where the time between
 * ComfyUI's execution_success and the `completed` event at NATS goes, mark by mark
 * (latency-stage-marks.ts): socket end marker → history read → `succeeded` to the actor →
 * `moving` committed → collector (file-system work by kind) → `completed` committed →
 * relay publish → subscriber. Simulators run in child processes (`chorus-visual simulate`),
 * so the service's event loop is its own, as against a real ComfyUI.
 *   npx tsx bench/latency-stages-probe.ts --jobs 200 --backends 1 --in-flight 1 --closed-loop
 *   npx tsx bench/latency-stages-probe.ts --jobs 200 --backends 1 --in-flight 1 --closed-loop --no-thumbnails
 *   npx tsx bench/latency-stages-probe.ts --jobs 300 --backends 8 --in-flight 16
 *   npx tsx bench/latency-stages-probe.ts … --comfy-url http://127.0.0.1:8188 --output-dir ~/ComfyUI/output
 *   node --cpu-prof --import tsx bench/latency-stages-probe.ts …   (to profile it)
 * File-system time is charged to the job being collected: exact with one job in flight.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startApp } from '../src/app/chorus-visual-app.js';
import { readHistoryEntry, executionSuccessAt } from './bare-comfy-client.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, uniqueRunNames } from './bench-environment.js';
import { startChildSimulator, type ChildSimulator } from './child-simulator.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import { collectorWork, stageMarks, stageMeaning, StageRecorder, stepDurations } from './latency-stage-marks.js';
import { summarize } from './latency-stats.js';
import { renderTable, type Cell } from './result-table.js';

const argsSchema = z.object({
  jobs: z.coerce.number().int().min(1).default(200),
  backends: z.coerce.number().int().min(1).max(64).default(1),
  'in-flight': z.coerce.number().int().min(1).max(64).default(1),
  /** Simulator time per node (the no-model workflow has four). */
  'node-ms': z.coerce.number().int().min(0).default(1),
  /** Admit the next job only when the previous one's event arrived (one worker per slot). */
  'closed-loop': z.boolean().default(false),
  'no-thumbnails': z.boolean().default(false),
  'comfy-url': z.url({ protocol: /^https?$/ }).optional(),
  'output-dir': z.string().optional(),
  /** Jobs run first and left out of the tables. */
  warmup: z.coerce.number().int().min(0).default(5),
});

function summaryRow(label: Record<string, Cell>, samples: number[]): Record<string, Cell> {
  const s = summarize(samples);
  return { ...label, jobs: s.count, p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99, max_ms: s.max, mean_ms: s.mean };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string' },
      backends: { type: 'string' },
      'in-flight': { type: 'string' },
      'node-ms': { type: 'string' },
      'closed-loop': { type: 'boolean' },
      'no-thumbnails': { type: 'boolean' },
      'comfy-url': { type: 'string' },
      'output-dir': { type: 'string' },
      warmup: { type: 'string' },
    },
  });
  const args = argsSchema.parse(values);
  const sims: ChildSimulator[] = [];
  const targets = args['comfy-url']
    ? [{ url: args['comfy-url'].replace(/\/+$/, ''), outputDir: args['output-dir'] }]
    : await Promise.all(
        Array.from({ length: args.backends }, async () => {
          const sim = await startChildSimulator({ stepMs: 0, nodeMs: args['node-ms'] });
          sims.push(sim);
          return { url: sim.url, outputDir: sim.outputDir };
        }),
      );
  const dir = await createBenchDir('stages');
  const names = uniqueRunNames('stages');
  const nc = await connectBenchNats();
  const subscriber = new CompletionSubscriber(nc, names.subjectPrefix);
  const total = args.warmup + args.jobs;
  const config = benchConfig({
    dir: dir.path,
    backends: targets,
    names,
    maxConcurrent: args['in-flight'],
    maxQueueSize: total + 10,
    collectMode: targets[0]!.outputDir === undefined ? 'download' : 'move',
    thumbnails: !args['no-thumbnails'],
  });
  const app = await startApp({ config, bus: 'nats', http: false, waitForNats: true });
  const recorder = new StageRecorder(app);
  recorder.install();
  const load = loadavg();
  const counted = new Set<string>();
  // Unique seeds across runs, so a real ComfyUI's cache never answers.
  const seedBase = Date.now() * 1000;
  const run = async (i: number) => {
    const { job } = await app.runtime.service.generate({ ...benchJob(i), seed: seedBase + i });
    if (i >= args.warmup) counted.add(job.id);
    return job.id;
  };
  try {
    if (args['closed-loop']) {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < total; i = next++) await subscriber.waitForJob(await run(i), 60_000);
      };
      await Promise.all(Array.from({ length: args.backends * args['in-flight'] }, worker));
    } else {
      for (let i = 0; i < total; i++) await run(i);
    }
    await subscriber.waitForFinal(total, 600_000);
    for (const arrival of subscriber.arrivals.values()) {
      const job = recorder.jobs.get(arrival.jobId);
      if (!job || !arrival.promptId || arrival.state !== 'completed') continue;
      recorder.mark(arrival.jobId, 'at_subscriber', arrival.at);
      const backend = app.runtime.pool.list().find((b) => b.name === arrival.backend) ?? app.runtime.pool.list()[0]!;
      const successAt = executionSuccessAt(await readHistoryEntry(backend.url, arrival.promptId));
      if (successAt !== undefined) recorder.mark(arrival.jobId, 'execution_success', successAt);
    }
    const jobs = [...recorder.jobs.entries()].filter(
      ([id, job]) => counted.has(id) && job.marks.execution_success !== undefined && job.marks.at_subscriber !== undefined,
    );

    const cumulative = stageMarks
      .filter((mark) => mark !== 'execution_success')
      .map((mark) =>
        summaryRow(
          { mark },
          jobs.flatMap(([, job]) => (job.marks[mark] === undefined ? [] : [job.marks[mark]! - job.marks.execution_success!])),
        ),
      );
    const stepSamples = new Map<string, number[]>();
    for (const [, job] of jobs) {
      for (const step of stepDurations(job.marks)) {
        const key = `${step.from} → ${step.to}`;
        stepSamples.set(key, [...(stepSamples.get(key) ?? []), step.ms]);
      }
    }
    const steps = [...stepSamples].map(([step, samples]) => summaryRow({ step }, samples));
    const collectSamples = (pick: (job: (typeof jobs)[number][1]) => number | undefined) =>
      jobs.flatMap(([, job]) => (pick(job) === undefined ? [] : [pick(job)!]));
    const collectorRows = [
      ...collectorWork.map((work) => ({
        ...summaryRow(
          { collector_work: work },
          collectSamples((job) => job.collectorMs[work] ?? 0),
        ),
        calls_p50: summarize(collectSamples((job) => job.collectorCalls[work] ?? 0)).p50,
      })),
      summaryRow(
        { collector_work: 'rest (CPU: hashing, thumbnail encode, JSON; awaits)' },
        collectSamples((job) => {
          const { collect_start: start, collect_end: end } = job.marks;
          if (start === undefined || end === undefined) return undefined;
          return end - start - collectorWork.reduce((sum, work) => sum + (job.collectorMs[work] ?? 0), 0);
        }),
      ),
    ];
    process.stdout.write(
      [
        `jobs=${args.jobs} (+${args.warmup} warm-up) backends=${targets.length} in_flight_per_backend=${args['in-flight']} node_ms=${args['node-ms']} closed_loop=${args['closed-loop']} thumbnails=${!args['no-thumbnails']} comfyui=${args['comfy-url'] ?? 'simulator (child process)'} load_at_start=${load.map((l) => l.toFixed(2)).join(' ')} load_at_end=${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
        '',
        'milliseconds since execution_success, by mark:',
        renderTable(cumulative),
        'step to step (each job’s consecutive marks):',
        renderTable(steps),
        'inside the collector (time in each kind of file-system call, per job):',
        renderTable(collectorRows),
        ...stageMarks.map((mark) => `  ${mark}: ${stageMeaning[mark]}`),
        '',
      ].join('\n'),
    );
  } finally {
    recorder.uninstall();
    subscriber.close();
    await app.stop();
    await deleteRunStream(nc, names);
    await nc.close();
    await Promise.all(sims.map((s) => s.stop()));
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
