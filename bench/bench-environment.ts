/**
 * What every benchmark stands on: a temp folder (SQLite file, data dir), simulators, a
 * service config pointing at them, and per-run NATS names (a unique subject prefix and
 * JetStream stream, deleted afterwards) so runs never see each other's events.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { generateCommandSchema, type GenerateCommand } from '../src/commands/index.js';
import { parseServiceConfig, type ResolvedConfig } from '../src/config/index.js';
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '../src/simulator/index.js';

export const natsUrl = process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const repoRoot = resolve(import.meta.dirname, '..');

export interface BenchRunNames {
  subjectPrefix: string;
  streamName: string;
}

export function uniqueRunNames(label: string): BenchRunNames {
  const id = `${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  return { subjectPrefix: `bench.${id}`, streamName: `BENCH_${id}`.toUpperCase() };
}

export interface BenchDir {
  path: string;
  remove(): Promise<void>;
}

export async function createBenchDir(label: string): Promise<BenchDir> {
  const path = await mkdtemp(join(tmpdir(), `chorus-bench-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A backend as the config sees it: where it listens and where its files land. */
export interface BenchBackendTarget {
  url: string;
  /** Absent: a ComfyUI whose folder this machine cannot see (collect through /view). */
  outputDir?: string | undefined;
}

export async function startSimulators(count: number, options: SimulatorOptions): Promise<SimulatorHandle[]> {
  return Promise.all(Array.from({ length: count }, () => startSimulator({ port: 0, ...options })));
}

export interface BenchConfigOptions {
  dir: string;
  backends: BenchBackendTarget[];
  names: BenchRunNames;
  maxConcurrent: number;
  maxQueueSize: number;
  /** The service's fallback polling (seconds); default is the shipped 2 s → 10 s. */
  polling?: { initial: number; max: number };
  /** Long heartbeats keep a silently dead socket "open", so only polling can notice completion. */
  heartbeatMs?: { interval: number; timeout: number };
  /** `comfyui.file_management.mode`; default: the shipped `auto`. */
  collectMode?: 'auto' | 'move' | 'download';
  /** A thumbnail beside every image (the shipped default: true). */
  thumbnails?: boolean;
}

export function benchConfig(options: BenchConfigOptions): ResolvedConfig {
  return parseServiceConfig(benchConfigInput(options));
}

/**
 * The same config as a config file holds it (before parsing): what `serve` reads when a
 * benchmark runs the service in its own process (service-process.ts). Logging is the
 * caller's to set; in-process it is silent.
 */
export function benchConfigInput(options: BenchConfigOptions): Record<string, unknown> {
  const { dir, names } = options;
  return {
    comfyui: {
      backends: options.backends.map((backend, i) => ({
        name: `sim${i}`,
        url: backend.url,
        max_concurrent: options.maxConcurrent,
        ...(backend.outputDir === undefined ? {} : { output_directory: backend.outputDir }),
        ...(options.heartbeatMs ? { heartbeat_interval_ms: options.heartbeatMs.interval, heartbeat_timeout_ms: options.heartbeatMs.timeout } : {}),
      })),
      queue: { max_concurrent_jobs: options.maxConcurrent, max_queue_size: options.maxQueueSize },
      ...(options.collectMode ? { file_management: { mode: options.collectMode } } : {}),
      ...(options.polling ? { polling: { initial_interval_seconds: options.polling.initial, max_interval_seconds: options.polling.max } } : {}),
    },
    data_dir: join(dir, 'data'),
    // BENCH_THUMBNAILS=off: as a deployment with `thumbnails.enabled: false` (to show what they cost).
    ...((options.thumbnails ?? thumbnailsFromEnv()) === undefined ? {} : { thumbnails: { enabled: options.thumbnails ?? thumbnailsFromEnv() } }),
    workflows_dir: benchWorkflowsDir(dir),
    characters_dir: join(repoRoot, 'config', 'characters'),
    database: { url: `sqlite:${join(dir, 'jobs.db')}` },
    nats: {
      enabled: true,
      servers: [natsUrl],
      name: `chorus-bench-${names.subjectPrefix}`,
      subject_prefix: names.subjectPrefix,
      stream: { name: names.streamName, max_age_seconds: 3600 },
    },
    http: { enabled: false },
    log_level: 'silent',
  };
}

function thumbnailsFromEnv(): boolean | undefined {
  const value = process.env['BENCH_THUMBNAILS'];
  if (value === undefined || value === '') return undefined;
  if (value === 'off' || value === 'on') return value === 'on';
  throw new Error(`BENCH_THUMBNAILS must be "on" or "off", not "${value}"`);
}

/**
 * The shipped workflows, or with `BENCH_IMAGE_SIZE=N` a copy in the run's folder whose
 * model-free workflow (`no_model_test`, 512×512 as shipped) makes N×N images: the issue 16
 * reference runs on a real ComfyUI used EmptyImage 64×64. Every benchmark that makes its
 * config here (service and side-by-side bare client alike) then sends that graph.
 */
export function benchWorkflowsDir(dir: string): string {
  const shipped = join(repoRoot, 'workflows');
  const size = process.env['BENCH_IMAGE_SIZE'];
  if (size === undefined || size === '') return shipped;
  const side = Number(size);
  if (!Number.isInteger(side) || side < 1 || side > 8192) throw new Error(`BENCH_IMAGE_SIZE must be a whole number of pixels (1–8192), not "${size}"`);
  const copy = join(dir, 'workflows');
  mkdirSync(copy, { recursive: true });
  for (const name of readdirSync(shipped)) copyFileSync(join(shipped, name), join(copy, name));
  const file = join(copy, 'no_model_test.json');
  const graph = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  for (const node of Object.values(graph)) {
    if (node.class_type === 'EmptyImage') Object.assign(node.inputs, { width: side, height: side });
  }
  writeFileSync(file, JSON.stringify(graph, null, 2));
  return copy;
}

/** One benchmark job: the workflow that needs no model files, a finished prompt (no LLM). */
export function benchJob(index: number): GenerateCommand {
  return generateCommandSchema.parse({
    conversation_id: `bench-conv-${index % 16}`,
    workflow: 'no_model_test',
    prompt: `benchmark image ${index}`,
    seed: index,
  });
}

export async function connectBenchNats(): Promise<NatsConnection> {
  return connect({ servers: natsUrl, name: 'chorus-bench-subscriber' });
}

/** The stream the service created for this run; a missing one is fine (NATS never came up). */
export async function deleteRunStream(nc: NatsConnection, names: BenchRunNames): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(names.streamName).catch(() => false);
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable with Date.now(). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
