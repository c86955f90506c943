/**
 * Throughput of several `chorus-visual serve` processes sharing one PostgreSQL database
 * (1, 2 and 3 instances) beside one instance on SQLite, measured in one run on the same
 * machine: the same four simulated backends, the same nats-server, the same jobs. Each
 * configuration gets a fresh database (its own PostgreSQL schema, or a new SQLite file) and
 * its own subject prefix and stream.
 *
 *   npx tsx bench/scale-throughput.ts [--jobs 200] [--json out.json]
 *
 * Throughput = jobs / (last completion event − first request), as Chorus Engine would see it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { startSimulator, type SimulatorHandle } from '../src/simulator/index.js';
import { createPostgresSchema } from '../test/integration/db-test-fixtures.js';
import { NatsTestServer } from '../test/support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../test/support/service-process.js';
import { nowMs } from './bench-environment.js';
import { CompletionSubscriber } from './completion-subscriber.js';

interface ScaleConfiguration {
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
}

const configurations: ScaleConfiguration[] = [
  { label: 'SQLite, 1 instance', dialect: 'sqlite', instances: 1 },
  { label: 'PostgreSQL, 1 instance', dialect: 'postgres', instances: 1 },
  { label: 'PostgreSQL, 2 instances', dialect: 'postgres', instances: 2 },
  { label: 'PostgreSQL, 3 instances', dialect: 'postgres', instances: 3 },
];

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
    for (let i = 0; i < configuration.instances; i += 1) {
      procs.push(
        startServiceProcess(['serve', '--lease-ttl', '5'], { ...env, CHORUS_VISUAL_LOG_LEVEL: 'info', CHORUS_VISUAL_INSTANCE_ID: `bench-${index}-${i}` }),
      );
    }
    await Promise.all(procs.map((proc) => proc.waitForLine(/NATS commands and events ready/, 60_000)));
    const subscriber = new CompletionSubscriber(nc, prefix);
    await nc.flush();

    const started = nowMs();
    await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        nc.request(`${prefix}.cmd.generate`, JSON.stringify({ conversation_id: `bench-${i % 20}`, workflow: 'no_model_test', prompt: `scale ${i}` }), {
          timeout: 60_000,
        }),
      ),
    );
    await subscriber.waitForFinal(jobs, 300_000);
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
    };
  } finally {
    await Promise.all(procs.map((proc) => proc.kill('SIGTERM')));
    await nc.close();
    await Promise.all(sims.map((sim) => sim.close()));
    await schema?.drop();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '200' }, json: { type: 'string' } } });
  const jobs = Number(values.jobs);
  const root = await mkdtemp(join(tmpdir(), 'cv-bench-scale-'));
  const nats = await NatsTestServer.start();
  const loadAtStart = loadavg()[0];
  const results: ScaleResult[] = [];
  try {
    for (const [index, configuration] of configurations.entries()) {
      const result = await measure(configuration, jobs, nats, root, index);
      results.push(result);
      console.log(
        `${result.label.padEnd(26)} ${String(result.jobs).padStart(5)} jobs  ${result.seconds.toFixed(2).padStart(7)} s  ${result.jobsPerSecond.toFixed(2).padStart(7)} jobs/s  peak per backend ${result.peakPerBackend.join('/')}  max runs per prompt ${result.maxExecutionsPerPrompt}`,
      );
    }
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
