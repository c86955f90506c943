/**
 * Benchmark 1 — completion latency: from ComfyUI's `execution_success` to the job's
 * `completed` event at a NATS subscriber (history read, file move, two persisted
 * transitions and the outbox relay included).
 *
 * Light load, the number the target is about (side-by-side-latency.ts): chorus-visual and
 * a bare client (its own socket, POST /prompt, end marker, GET /history — nothing stored)
 * alternated one prompt at a time on the same ComfyUI — by default a simulator in a child
 * process, or any ComfyUI with `--comfy-url` (`--output-dir` its output folder, so the
 * service moves files as in production). `--light` (implied by `--comfy-url`) runs only this.
 *
 * Busy and degraded paths, on fresh in-process simulators (they need the simulator's faults):
 *   websocket — the normal path, 8 simulators × 16 prompts in flight (busy);
 *   fallback  — every simulator socket muted right after connecting (`dropSocketsSilently`)
 *               with heartbeats set to an hour, so the client keeps a socket it believes is
 *               open but that never speaks again: only the prompt watcher's /queue + /history
 *               polling (shipped config: 2 s, doubling to 10 s while nothing changes) can
 *               notice completion;
 *   baseline  — the original design's poller (original-design-poller.ts), no service,
 *               same busy shape.
 */
import { tmpdir } from 'node:os';
import { measureDurabilityFloor } from './durability-floor.js';
import { join } from 'node:path';
import { startApp } from '../src/app/chorus-visual-app.js';
import type { SimulatorHandle } from '../src/simulator/index.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, nowMs, startSimulators, uniqueRunNames } from './bench-environment.js';
import { startChildSimulator } from './child-simulator.js';
import { CompletionSubscriber } from './completion-subscriber.js';
import { compareWithReference, referenceGapLimitMs, summarize, withinReferenceGap, type LatencySummary } from './latency-stats.js';
import { baselineGraph, runBaselineJob } from './original-design-poller.js';
import type { BenchResult, Cell } from './result-table.js';
import type { ServicePlacement } from './service-process.js';
import { measureSideBySide, type ComfyTarget, type SideBySideSamples } from './side-by-side-latency.js';
import { finishTimesOfAll } from './simulator-finish-times.js';

export interface LatencyBenchOptions {
  jobs?: number;
  /** Jobs for the two polling paths (default: the same as `jobs`). */
  pollingJobs?: number;
  /** Prompts per method side by side (default: `jobs` when given, else 200). */
  sideBySideJobs?: number;
  /** Measure side by side against this ComfyUI instead of a simulator (implies `light`). */
  comfyUrl?: string;
  /** That ComfyUI's output folder on this machine; without it the service downloads through /view. */
  outputDir?: string;
  /** Only the side-by-side light-load rows. */
  light?: boolean;
  /** Side by side with the service inside this process instead of `serve` in its own. */
  serviceInBench?: boolean;
  /**
   * Pairs run first and not counted (default 5: connections, the first /object_info read).
   * Hundreds let V8 compile the service's hot code first, as in a service that has been up
   * for a while: a fresh `serve` still runs much of it unoptimised for its first ~1,000 jobs.
   */
  warmupPairs?: number | undefined;
}

const backends = 8;
const inFlightPerBackend = 16;
/** Each prompt runs ~50 ms, so finishes are spread over the polling phase, as in real use. */
const executionMs = 50;

type PathName = 'websocket' | 'fallback' | 'baseline';

/** How many simulators and prompts in flight each: the same busy shape for every path. */
interface LoadShape {
  backends: number;
  inFlightPerBackend: number;
}
const busy: LoadShape = { backends, inFlightPerBackend };
/** The simulator the side-by-side rows run against by default: ComfyUI-like node times (ms). */
const sideBySideSimulator = { stepMs: 0, nodeMs: 1 };

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

async function measureService(path: 'websocket' | 'fallback', jobs: number): Promise<PathMeasurement> {
  const shape = busy;
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
      for (let i = 0; i < jobs; i++) await app.runtime.service.generate(benchJob(i));
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

function placementOf(options: LatencyBenchOptions): ServicePlacement {
  return options.serviceInBench === true ? 'bench' : 'process';
}

/** Side by side against the given ComfyUI, or a simulator started in a child process for the run. */
async function measureAgainst(options: LatencyBenchOptions, pairs: number): Promise<{ samples: SideBySideSamples; target: string }> {
  if (options.comfyUrl !== undefined) {
    const target: ComfyTarget = { url: options.comfyUrl.replace(/\/+$/, ''), outputDir: options.outputDir };
    return { samples: await measureSideBySide(target, pairs, options.warmupPairs, placementOf(options)), target: target.url };
  }
  const sim = await startChildSimulator(sideBySideSimulator);
  try {
    return {
      samples: await measureSideBySide({ url: sim.url, outputDir: sim.outputDir }, pairs, options.warmupPairs, placementOf(options)),
      target: 'simulator (child process)',
    };
  } finally {
    await sim.stop();
  }
}

function summaryCells(s: LatencySummary): Record<string, Cell> {
  return { jobs: s.count, p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99, max_ms: s.max, mean_ms: s.mean };
}

export async function runLatencyBench(options: LatencyBenchOptions = {}): Promise<BenchResult> {
  const lightOnly = options.light === true || options.comfyUrl !== undefined;
  const jobs = options.jobs ?? 500;
  const pollingJobs = options.pollingJobs ?? jobs;
  const pairs = options.sideBySideJobs ?? options.jobs ?? 200;
  const measured = lightOnly
    ? []
    : [await measureService('websocket', jobs), await measureService('fallback', pollingJobs), await measureBaseline(pollingJobs)];
  // Measured before the side-by-side run, on the file system the service's data folder is on (the temp folder).
  const floor = await measureDurabilityFloor(tmpdir());
  const side = await measureAgainst(options, pairs);
  const comparison = compareWithReference(side.samples.bare, side.samples.chorus);
  const sideRows: Array<Record<string, Cell>> = [
    {
      path: 'bare client (side by side)',
      in_flight: 1,
      failed: side.samples.bareFailed,
      ...summaryCells(comparison.reference),
      wall_s: side.samples.wallMs / 1000,
    },
    {
      path: 'chorus-visual (side by side)',
      in_flight: 1,
      failed: side.samples.chorusFailed,
      ...summaryCells(comparison.candidate),
      wall_s: side.samples.wallMs / 1000,
    },
    { path: 'chorus − bare', in_flight: null, failed: null, jobs: null, p50_ms: comparison.gap.p50, p95_ms: comparison.gap.p95, p99_ms: comparison.gap.p99 },
    { path: 'durability floor (this disk)', in_flight: 1, failed: 0, ...summaryCells(floor.total), wall_s: null },
  ];
  const busyRows = measured.map((m): Record<string, Cell> => {
    const s = summarize(m.latencies);
    return { path: m.path, in_flight: busy.backends * busy.inFlightPerBackend, failed: m.failed, ...summaryCells(s), wall_s: m.wallMs / 1000 };
  });
  const failures = side.samples.bareFailed + side.samples.chorusFailed;
  return {
    name: 'latency',
    setup: {
      comfyui: side.target,
      collect_mode: side.samples.collectMode,
      service: side.samples.service === 'process' ? 'serve (compiled) in its own process, jobs over NATS' : "in the benchmark's process",
      side_by_side_jobs: pairs,
      warmup_pairs: side.samples.warmupPairs,
      ...(lightOnly ? {} : { backends, in_flight_per_backend: inFlightPerBackend, execution_ms: executionMs, jobs, polling_jobs: pollingJobs }),
    },
    rows: [...busyRows, ...sideRows],
    target: {
      description: `side by side, one in flight: chorus-visual within ${referenceGapLimitMs.p50} ms of the bare client at p50 and ${referenceGapLimitMs.p99} ms at p99, no failure`,
      met: withinReferenceGap(comparison) && failures === 0,
    },
    notes: [
      'side by side: bare client and chorus-visual alternated one prompt at a time (pairs in ABBA order) on the same ComfyUI, closed loop, one in flight; unique prompt text and seed per prompt, so the cache never answers',
      'bare client: own WebSocket (/ws?clientId=), POST /prompt, wait for executing {node: null} of its prompt, GET /history/{id}; latency = entry parsed − its execution_success timestamp',
      'chorus-visual: latency = completed CloudEvent at a NATS subscriber − the execution_success timestamp of its prompt (read from /history afterwards)',
      'clock: ComfyUI stamps execution_success with its wall clock, truncated to the ms (so both rows carry +0…1 ms alike); the arrivals use this process’s wall clock — the same clock only when ComfyUI runs on this host',
      `warm-up: the first ${side.samples.warmupPairs} pairs are run and not counted (connections, the service's first /object_info read; --warmup N for more, so V8 has compiled the service's hot code)`,
      `durability floor: a 2 KB file written and fsynced, renamed, its folder fsynced, ${floor.total.count} times in the temp folder before the run (file p50 ${floor.fileFsync.p50.toFixed(2)} ms, folder p50 ${floor.folderFsync.p50.toFixed(2)} ms): chorus-visual waits for part of it after execution_success (its last fsyncs run side by side: about the larger of the two) and the bare client for none of it; issue 16 set the 3 ms target on a machine whose fsyncs averaged 0.16 ms`,
      ...(lightOnly
        ? []
        : [
            'busy rows: latency = NATS arrival − simulator execution_success timestamp (in-process simulators, same clock); reported, not judged',
            'fallback: sockets muted after connect, heartbeat 1 h, service polling at the shipped 2 s → 10 s',
            'websocket / fallback: all jobs admitted up front, so their admission events and the busy pool queue in the outbox ahead of completions',
            'baseline: POST /prompt, GET /history/{id} at 2 s (5 s after 30 s, 10 s after 60 s), rename files, core-NATS publish',
          ]),
    ],
  };
}
