/**
 * Benchmark 3 — pool utilization: 8 simulated backends whose every prompt takes 200 ms.
 * Ideal: each backend always busy, i.e. ceil(jobs / 8) × 200 ms of wall time. Achieved:
 * from the first admission to the last `completed` event at the NATS subscriber.
 * max_concurrent 2 per backend lets the next prompt wait in ComfyUI's own queue, so the
 * service's reaction time does not leave a backend idle between prompts.
 */
import { startApp } from '../src/app/chorus-visual-app.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, nowMs, startSimulators, uniqueRunNames } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import type { BenchResult } from './result-table.js';
import { busyShare, runTimesOf } from './simulator-finish-times.js';

export interface PoolUtilizationBenchOptions {
  jobs?: number;
}

const backends = 8;
const jobMs = 200;
const maxConcurrentPerBackend = 2;

export async function runPoolUtilizationBench(options: PoolUtilizationBenchOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 480;
  const sims = await startSimulators(backends, { stepDelayMs: 0, nodeDelayMs: 0, previews: false });
  for (const sim of sims) sim.faults.executionDelayMs(jobMs);
  const dir = await createBenchDir('utilization');
  const names = uniqueRunNames('utilization');
  const nc = await connectBenchNats();
  const subscriber = new CompletionSubscriber(nc, names.subjectPrefix);
  const config = benchConfig({
    dir: dir.path,
    backends: sims.map((sim) => ({ url: sim.url, outputDir: sim.outputDir })),
    names,
    maxConcurrent: maxConcurrentPerBackend,
    maxQueueSize: jobs + 10,
  });
  const app = await startApp({ config, bus: 'nats', http: false, waitForNats: true });
  try {
    const startedAt = nowMs();
    for (let i = 0; i < jobs; i++) await app.runtime.service.generate(benchJob(i));
    await subscriber.waitForFinal(jobs, 600_000);
    const wallMs = nowMs() - startedAt;
    const completed = [...subscriber.arrivals.values()].filter((a) => a.state === 'completed').length;
    const perBackend = new Map<string, number>();
    for (const arrival of subscriber.arrivals.values()) perBackend.set(arrival.backend ?? '?', (perBackend.get(arrival.backend ?? '?') ?? 0) + 1);
    const executions = sims.reduce((total, sim) => total + sim.stats().totalExecutions, 0);
    // How busy the simulators really were, and how long each prompt really ran: tells a slow
    // service (idle backends) from slow simulators (prompts longer than 200 ms).
    const endedAt = startedAt + wallMs;
    const runs = await Promise.all(sims.map((sim) => runTimesOf(sim.url)));
    const busy = runs.map((perSim) => busyShare(perSim.values(), startedAt, endedAt));
    const durations = runs.flatMap((perSim) => [...perSim.values()].map((run) => run.finishedAt - run.startedAt));
    const meanRunMs = durations.reduce((a, b) => a + b, 0) / durations.length;
    const idealWallMs = Math.ceil(jobs / backends) * jobMs;
    const idealRate = (backends * 1000) / jobMs;
    const achievedRate = (completed * 1000) / wallMs;
    const utilization = idealWallMs / wallMs;
    return {
      name: 'utilization',
      setup: { jobs, backends, job_ms: jobMs, max_concurrent_per_backend: maxConcurrentPerBackend },
      rows: [
        {
          completed,
          executions,
          wall_s: wallMs / 1000,
          ideal_wall_s: idealWallMs / 1000,
          achieved_jobs_per_s: achievedRate,
          ideal_jobs_per_s: idealRate,
          utilization_pct: utilization * 100,
          backend_busy_pct: (busy.reduce((a, b) => a + b, 0) / busy.length) * 100,
          mean_prompt_run_ms: meanRunMs,
          jobs_per_backend_min: Math.min(...perBackend.values()),
          jobs_per_backend_max: Math.max(...perBackend.values()),
        },
      ],
      target: { description: 'achieved ≥ 98 % of ideal', met: utilization >= 0.98 && completed === jobs },
      notes: [
        'backend_busy_pct: share of the wall time the simulators spent executing (execution_start → execution_success in /history)',
        'ideal = ceil(jobs / backends) × 200 ms; the wall time also holds the first prompt’s submit and the last one’s move and event',
      ],
    };
  } finally {
    subscriber.close();
    await app.stop();
    await deleteRunStream(nc, names);
    await nc.close();
    await Promise.all(sims.map((sim) => sim.close()));
    await dir.remove();
  }
}
