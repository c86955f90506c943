/**
 * Throughput of several `chorus-visual serve` processes sharing one PostgreSQL database
 * (1, 2 and 3 instances) beside one instance on SQLite, measured in one run on the same
 * machine: the same four simulated backends, the same nats-server, the same jobs. Each
 * configuration gets a fresh database (its own PostgreSQL schema, or a new SQLite file) and
 * its own subject prefix and stream.
 *
 *   npx tsx bench/scale-throughput.ts [--jobs 200] [--configs sqlite,pg1,pg2,pg3] [--rounds 1] [--json out.json]
 *
 * `--rounds N` runs the chosen configurations N times, alternating, so a neighbour's load
 * spike hits all of them alike. Throughput = jobs / (last completion event − first request),
 * as Chorus Engine would see it. Also per job: the service processes' CPU over that window
 * (from /proc), and on PostgreSQL the database round trips (every `pg.Client#query`, counted
 * by bench/pg-round-trip-counter.mjs preloaded into the services).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { startSimulator, type SimulatorHandle } from '../src/simulator/index.js';
import { createPostgresSchema } from '../test/integration/db-test-fixtures.js';
import { NatsTestServer } from '../test/support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../test/support/service-process.js';
import { nowMs } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';

interface ScaleConfiguration {
  key: string;
  label: string;
  dialect: 'sqlite' | 'postgres';
  instances: number;
}

interface ScaleResult extends ScaleConfiguration {
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  peakPerBackend: number[];
  maxExecutionsPerPrompt: number;
  /** Service processes' CPU (user + system) between the first request and the last completion. */
  serviceCpuMsPerJob: number;
  /** PostgreSQL only: round trips to the server over the same window, all instances together. */
  roundTripsPerJob?: number;
  /** PostgreSQL only: the most frequent statement shapes, per job. */
  topStatements?: Array<{ shape: string; perJob: number }>;
}

const configurations: ScaleConfiguration[] = [
  { key: 'sqlite', label: 'SQLite, 1 instance', dialect: 'sqlite', instances: 1 },
  { key: 'pg1', label: 'PostgreSQL, 1 instance', dialect: 'postgres', instances: 1 },
  { key: 'pg2', label: 'PostgreSQL, 2 instances', dialect: 'postgres', instances: 2 },
  { key: 'pg3', label: 'PostgreSQL, 3 instances', dialect: 'postgres', instances: 3 },
];

const roundTripCounter = fileURLToPath(new URL('./pg-round-trip-counter.mjs', import.meta.url));
const clockTicksPerSecond = 100;

/** utime + stime of a process in ms (Linux /proc; clock ticks are 1/100 s here). */
async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

interface RoundTripCounts {
  total: number;
  shapes: Record<string, number>;
}

/**
 * Asks each service's counter to write its counts now (SIGUSR2) and sums them. The old file
 * is removed first and the new one waited for: comparing its mtime with the moment of asking
 * hung the run whenever the file system's coarse clock stamped it a few ms "before" (seen
 * twice in six PostgreSQL runs, each waiting until the run's timeout).
 */
async function readRoundTrips(procs: ServiceProcess[], files: string[]): Promise<RoundTripCounts> {
  await Promise.all(files.map((file) => rm(file, { force: true })));
  for (const proc of procs) proc.child.kill('SIGUSR2');
  const sum: RoundTripCounts = { total: 0, shapes: {} };
  const deadline = Date.now() + 10_000;
  for (const file of files) {
    let text: string | undefined;
    while (text === undefined) {
      text = await readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined) break;
      if (Date.now() > deadline) throw new Error(`the round-trip counter did not write ${file} within 10 s of SIGUSR2`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const counts = JSON.parse(text) as RoundTripCounts;
    sum.total += counts.total;
    for (const [shape, count] of Object.entries(counts.shapes)) sum.shapes[shape] = (sum.shapes[shape] ?? 0) + count;
  }
  return sum;
}

const BACKENDS = 4;
const MAX_CONCURRENT = 2;

async function measure(configuration: ScaleConfiguration, jobs: number, nats: NatsTestServer, root: string, index: number): Promise<ScaleResult> {
  const prefix = `bench.scale${index}`;
  const dir = join(root, `run-${index}`);
  const sims: SimulatorHandle[] = await Promise.all(
    Array.from({ length: BACKENDS }, (_, i) => startSimulator({ outputDir: join(dir, `comfy-${i}`, 'output'), stepDelayMs: 5, previews: false })),
  );
  const schema = configuration.dialect === 'postgres' ? await createPostgresSchema() : undefined;
  const procs: ServiceProcess[] = [];
  const nc = await connect({ servers: nats.url, name: 'bench-engine' });
  try {
    const env = {
      CHORUS_VISUAL_DATABASE_URL: schema ? schema.url : `sqlite:${join(dir, 'jobs.db')}`,
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: prefix,
      CHORUS_VISUAL_NATS_STREAM_NAME: `BENCH_SCALE_${index}`,
      CHORUS_VISUAL_COMFYUI_BACKENDS: JSON.stringify(
        sims.map((sim, i) => ({ name: `gpu-${i}`, url: sim.url, max_concurrent: MAX_CONCURRENT, output_directory: sim.outputDir })),
      ),
      CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE: String(jobs * 2),
      CHORUS_VISUAL_DATA_DIR: join(dir, 'data'),
      CHORUS_VISUAL_HTTP_ENABLED: 'false',
      CHORUS_VISUAL_LOG_LEVEL: 'warn',
    };
    const countFiles = schema ? Array.from({ length: configuration.instances }, (_, i) => join(dir, `pg-round-trips-${i}.json`)) : [];
    for (let i = 0; i < configuration.instances; i += 1) {
      const countFile = countFiles[i];
      const counting: Record<string, string> = countFile ? { NODE_OPTIONS: `--import ${roundTripCounter}`, CHORUS_BENCH_PG_COUNT_FILE: countFile } : {};
      procs.push(
        startServiceProcess(['serve', '--lease-ttl', '5'], {
          ...env,
          ...counting,
          CHORUS_VISUAL_LOG_LEVEL: 'info',
          CHORUS_VISUAL_INSTANCE_ID: `bench-${index}-${i}`,
        }),
      );
    }
    await Promise.all(procs.map((proc) => proc.waitForLine(/NATS commands and events ready/, 60_000)));
    const subscriber = new CompletionSubscriber(nc, prefix);
    await nc.flush();

    const tripsBefore = schema ? await readRoundTrips(procs, countFiles) : undefined;
    const cpuBefore = await Promise.all(procs.map((proc) => processCpuMs(proc.child.pid)));
    const started = nowMs();
    await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        nc.request(`${prefix}.cmd.generate`, JSON.stringify({ conversation_id: `bench-${i % 20}`, workflow: 'no_model_test', prompt: `scale ${i}` }), {
          timeout: 60_000,
        }),
      ),
    );
    await subscriber.waitForFinal(jobs, 300_000);
    const cpuAfter = await Promise.all(procs.map((proc) => processCpuMs(proc.child.pid)));
    const tripsAfter = tripsBefore ? await readRoundTrips(procs, countFiles) : undefined;
    const cpuMs = cpuAfter.reduce((sum, after, i) => sum + after - (cpuBefore[i] ?? 0), 0);
    const last = Math.max(...[...subscriber.arrivals.values()].map((arrival) => arrival.at));
    const seconds = (last - started) / 1000;
    const executions = sims.flatMap((sim) => Object.values(sim.stats().executions));
    return {
      ...configuration,
      jobs,
      seconds: round(seconds),
      jobsPerSecond: round(jobs / seconds),
      peakPerBackend: sims.map((sim) => sim.stats().peakQueueDepth),
      maxExecutionsPerPrompt: Math.max(...executions),
      serviceCpuMsPerJob: round(cpuMs / jobs),
      ...(tripsBefore && tripsAfter ? roundTripsOf(tripsBefore, tripsAfter, jobs) : {}),
    };
  } finally {
    await Promise.all(procs.map((proc) => proc.kill('SIGTERM')));
    await nc.close();
    await Promise.all(sims.map((sim) => sim.close()));
    await schema?.drop();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

function roundTripsOf(before: RoundTripCounts, after: RoundTripCounts, jobs: number): Pick<ScaleResult, 'roundTripsPerJob' | 'topStatements'> {
  const perShape = Object.entries(after.shapes)
    .map(([shape, count]) => ({ shape, perJob: round((count - (before.shapes[shape] ?? 0)) / jobs) }))
    .filter((entry) => entry.perJob > 0)
    .sort((a, b) => b.perJob - a.perJob);
  return { roundTripsPerJob: round((after.total - before.total) / jobs), topStatements: perShape.slice(0, 12) };
}

/** Each PostgreSQL row against SQLite's in the same round (the issue's target: one instance ≥ 50 %). */
function printRatios(results: ScaleResult[]): void {
  const perRound = results.length / new Set(results.map((result) => result.key)).size;
  const sqlite = results.filter((result) => result.key === 'sqlite');
  if (sqlite.length === 0) return;
  for (const key of ['pg1', 'pg2', 'pg3']) {
    const rows = results.filter((result) => result.key === key);
    if (rows.length === 0) continue;
    const ratios = rows.map((row, i) => Math.round((row.jobsPerSecond / (sqlite[i] ?? sqlite[0]!).jobsPerSecond) * 100));
    console.log(`${key} / sqlite, per round (of ${perRound}): ${ratios.map((ratio) => `${ratio} %`).join(', ')}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '200' },
      configs: { type: 'string', default: configurations.map((configuration) => configuration.key).join(',') },
      rounds: { type: 'string', default: '1' },
      json: { type: 'string' },
    },
  });
  const jobs = Number(values.jobs);
  const chosen = values.configs.split(',').map((key) => {
    const configuration = configurations.find((candidate) => candidate.key === key.trim());
    if (!configuration) throw new Error(`unknown configuration "${key}" (one of ${configurations.map((c) => c.key).join(', ')})`);
    return configuration;
  });
  const runs = Array.from({ length: Math.max(1, Number(values.rounds)) }, () => chosen).flat();
  const root = await mkdtemp(join(tmpdir(), 'cv-bench-scale-'));
  const nats = await NatsTestServer.start();
  const loadAtStart = loadavg()[0];
  const results: ScaleResult[] = [];
  try {
    for (const [index, configuration] of runs.entries()) {
      const result = await measure(configuration, jobs, nats, root, index);
      results.push(result);
      const trips = result.roundTripsPerJob === undefined ? '' : `  ${result.roundTripsPerJob.toFixed(1)} round trips/job`;
      console.log(
        `${result.label.padEnd(26)} ${String(result.jobs).padStart(5)} jobs  ${result.seconds.toFixed(2).padStart(7)} s  ${result.jobsPerSecond.toFixed(2).padStart(7)} jobs/s  ${result.serviceCpuMsPerJob.toFixed(1).padStart(6)} CPU ms/job${trips}  peak per backend ${result.peakPerBackend.join('/')}  max runs per prompt ${result.maxExecutionsPerPrompt}`,
      );
      for (const { shape, perJob } of result.topStatements ?? []) console.log(`    ${perJob.toFixed(2).padStart(6)}  ${shape}`);
    }
    printRatios(results);
  } finally {
    await nats.cleanup();
    await rm(root, { recursive: true, force: true });
  }
  const report = {
    benchmark: 'scale-throughput',
    backends: BACKENDS,
    maxConcurrent: MAX_CONCURRENT,
    loadAverage: { start: loadAtStart, end: loadavg()[0] },
    results,
  };
  if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
}

await main();
