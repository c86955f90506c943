/**
 * Benchmark 1 — completion latency: from the simulator's `execution_success` to the job's
 * `completed` event at a NATS subscriber (history read, file move, two persisted
 * transitions and the outbox relay included). Three paths, each on fresh simulators:
 *   websocket — the normal path, 8 simulators × 16 prompts in flight (busy);
 *   websocket-light — the normal path, 2 simulators, a closed loop of 2 jobs (no backlog);
 *   fallback  — every simulator socket muted right after connecting (`dropSocketsSilently`)
 *               with heartbeats set to an hour, so the client keeps a socket it believes is
 *               open but that never speaks again: only the prompt watcher's /queue + /history
 *               polling (shipped config: 2 s, doubling to 10 s while nothing changes) can
 *               notice completion;
 *   baseline  — the original design's poller (original-design-poller.ts), no service,
 *               same busy shape.
 */
import { join } from 'node:path';
import { startApp } from '../src/app/chorus-visual-app.js';
import type { SimulatorHandle } from '../src/simulator/index.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, nowMs, startSimulators, uniqueRunNames } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import { summarize } from './latency-stats.js';
import { baselineGraph, runBaselineJob } from './original-design-poller.js';
import type { BenchResult, Cell } from './result-table.js';
import { finishTimesOfAll } from './simulator-finish-times.js';

export interface LatencyBenchOptions {
  jobs?: number;
  /** Jobs for the two polling paths (default: the same as `jobs`). */
  pollingJobs?: number;
}

const backends = 8;
const inFlightPerBackend = 16;
/** Each prompt runs ~50 ms, so finishes are spread over the polling phase, as in real use. */
const executionMs = 50;

type PathName = 'websocket' | 'websocket-light' | 'fallback' | 'baseline';

/** How many simulators and prompts in flight each: the same busy shape for every path… */
interface LoadShape {
  backends: number;
  inFlightPerBackend: number;
}
const busy: LoadShape = { backends, inFlightPerBackend };
/** …and a light one (one prompt at a time on each of two simulators) for the WebSocket path alone. */
const light: LoadShape = { backends: 2, inFlightPerBackend: 1 };

interface PathMeasurement {
  path: PathName;
  latencies: number[];
  failed: number;
  wallMs: number;
}

async function withSimulators<T>(shape: LoadShape, work: (sims: SimulatorHandle[]) => Promise<T>): Promise<T> {
  const sims = await startSimulators(shape.backends, { stepDelayMs: 0, nodeDelayMs: 0, previews: false });
  for (const sim of sims) sim.faults.executionDelayMs(executionMs);
  try {
    return await work(sims);
  } finally {
    await Promise.all(sims.map((sim) => sim.close()));
  }
}

function latenciesOf(subscriber: CompletionSubscriber, finishTimes: Map<string, number>): { latencies: number[]; failed: number } {
  const latencies: number[] = [];
  let failed = 0;
  for (const arrival of subscriber.arrivals.values()) {
    const finishedAt = arrival.promptId ? finishTimes.get(arrival.promptId) : undefined;
    if (arrival.state !== 'completed' || finishedAt === undefined) failed++;
    else latencies.push(arrival.at - finishedAt);
  }
  return { latencies, failed };
}

async function measureService(path: 'websocket' | 'websocket-light' | 'fallback', jobs: number): Promise<PathMeasurement> {
  const shape = path === 'websocket-light' ? light : busy;
  return withSimulators(shape, async (sims) => {
    const dir = await createBenchDir(`latency-${path}`);
    const names = uniqueRunNames(`lat_${path}`);
    const nc = await connectBenchNats();
    const subscriber = new CompletionSubscriber(nc, names.subjectPrefix);
    const config = benchConfig({
      dir: dir.path,
      backends: sims.map((sim) => ({ url: sim.url, outputDir: sim.outputDir })),
      names,
      maxConcurrent: shape.inFlightPerBackend,
      maxQueueSize: jobs + 10,
      ...(path === 'fallback' ? { heartbeatMs: { interval: 3_600_000, timeout: 3_600_000 } } : {}),
    });
    const app = await startApp({ config, bus: 'nats', http: false, waitForNats: true });
    try {
      if (path === 'fallback') for (const sim of sims) sim.faults.dropSocketsSilently();
      const startedAt = nowMs();
      if (path === 'websocket-light') {
        // A closed loop: each worker admits its next job only when the last one's event arrived,
        // so no backlog (ours or ComfyUI's) sits in front of the job being measured.
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < jobs; i = next++) {
            const { job } = await app.runtime.service.generate(benchJob(i));
            await subscriber.waitForJob(job.id, 60_000);
          }
        };
        await Promise.all(Array.from({ length: light.backends * light.inFlightPerBackend }, worker));
      } else {
        for (let i = 0; i < jobs; i++) await app.runtime.service.generate(benchJob(i));
      }
      await subscriber.waitForFinal(jobs, 600_000);
      const wallMs = nowMs() - startedAt;
      const finishTimes = await finishTimesOfAll(sims.map((sim) => sim.url));
      return { path, ...latenciesOf(subscriber, finishTimes), wallMs };
    } finally {
      subscriber.close();
      await app.stop();
      await deleteRunStream(nc, names);
      await nc.close();
      await dir.remove();
    }
  });
}

async function measureBaseline(jobs: number): Promise<PathMeasurement> {
  return withSimulators(busy, async (sims) => {
    const dir = await createBenchDir('latency-baseline');
    const names = uniqueRunNames('lat_baseline');
    const nc = await connectBenchNats();
    const subject = `${names.subjectPrefix}.baseline.completed`;
    const arrivals = new Map<string, number>();
    const subscription = nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) arrivals.set((msg.json() as { prompt_id: string }).prompt_id, nowMs());
      },
    });
    try {
      await nc.flush();
      const startedAt = nowMs();
      let next = 0;
      // Same shape as the service runs: `inFlightPerBackend` prompts per simulator at a time.
      const worker = async (sim: SimulatorHandle) => {
        for (let i = next++; i < jobs; i = next++) {
          const graph = await baselineGraph(`benchmark image ${i}`, i);
          await runBaselineJob({ backend: { url: sim.url, outputDir: sim.outputDir }, nc, subject, destinationDir: join(dir.path, 'data'), graph });
        }
      };
      await Promise.all(sims.flatMap((sim) => Array.from({ length: inFlightPerBackend }, () => worker(sim))));
      await nc.flush();
      const wallMs = nowMs() - startedAt;
      const finishTimes = await finishTimesOfAll(sims.map((sim) => sim.url));
      const latencies: number[] = [];
      let failed = 0;
      for (const [promptId, at] of arrivals) {
        const finishedAt = finishTimes.get(promptId);
        if (finishedAt === undefined) failed++;
        else latencies.push(at - finishedAt);
      }
      return { path: 'baseline', latencies, failed: failed + (jobs - arrivals.size), wallMs };
    } finally {
      subscription.unsubscribe();
      await nc.close();
      await dir.remove();
    }
  });
}

export async function runLatencyBench(options: LatencyBenchOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 500;
  const pollingJobs = options.pollingJobs ?? jobs;
  const measured = [
    await measureService('websocket', jobs),
    await measureService('fallback', pollingJobs),
    await measureBaseline(pollingJobs),
    await measureService('websocket-light', jobs),
  ];
  const rows = measured.map((m): Record<string, Cell> => {
    const s = summarize(m.latencies);
    const shape = m.path === 'websocket-light' ? light : busy;
    return {
      path: m.path,
      in_flight: shape.backends * shape.inFlightPerBackend,
      jobs: s.count,
      failed: m.failed,
      p50_ms: s.p50,
      p95_ms: s.p95,
      p99_ms: s.p99,
      max_ms: s.max,
      mean_ms: s.mean,
      wall_s: m.wallMs / 1000,
    };
  });
  const websocket = summarize(measured[0]!.latencies);
  const websocketLight = summarize(measured[3]!.latencies);
  return {
    name: 'latency',
    setup: { backends, in_flight_per_backend: inFlightPerBackend, execution_ms: executionMs, jobs, polling_jobs: pollingJobs },
    rows,
    target: {
      description: 'p99 ≤ 20 ms on the WebSocket path (busy and light load)',
      met: websocket.p99 <= 20 && websocketLight.p99 <= 20 && measured[0]!.failed === 0 && measured[3]!.failed === 0,
    },
    notes: [
      'latency = NATS arrival (subscriber, performance clock) − simulator execution_success timestamp (Date.now(), same process)',
      'fallback: sockets muted after connect, heartbeat 1 h, service polling at the shipped 2 s → 10 s',
      'websocket-light: 2 simulators, a closed loop of 2 workers (next job admitted when the last one’s completed event arrived): no backlog in front of the measured job',
      'websocket / fallback: all jobs admitted up front, so their admission events and the busy pool queue in the outbox ahead of completions',
      'baseline: POST /prompt, GET /history/{id} at 2 s (5 s after 30 s, 10 s after 60 s), rename files, core-NATS publish',
    ],
  };
}
