/**
 * The service as a deployment runs it, for the benchmarks that measure it from outside:
 * `chorus-visual serve` (compiled, bin/chorus-visual.js → dist, built from the source as it is
 * now) in its own process with a config file, jobs sent as NATS `cmd.generate` requests the
 * way Chorus Engine sends them, events read by a subscriber in the benchmark's process. The
 * service's event loop is then its own: no subscriber, submitter or bare client shares it,
 * and its CPU time (read from /proc, Linux) is the service's alone.
 *
 * `BENCH_SERVICE_NODE_ARGS` passes Node flags to that process, e.g. to profile the service
 * alone: `BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` (Node refuses
 * --cpu-prof in NODE_OPTIONS). Split on spaces.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { JSONCodec, type NatsConnection } from 'nats';
import { startApp } from '../src/app/chorus-visual-app.js';
import type { GenerateCommand } from '../src/commands/index.js';
import { parseServiceConfig } from '../src/config/index.js';
import { buildDist } from '../scripts/build.js';
import { threadGroupCpuMs, type ThreadGroupCpu } from './proc-cpu.js';

const repoRoot = resolve(import.meta.dirname, '..');

/**
 * `process` (what the benchmarks do unless told otherwise): `chorus-visual serve`, compiled,
 * in its own process, sent `cmd.generate` over NATS as Chorus Engine drives it. `bench`: the
 * service inside the benchmark's process (the only way before `--service-in-bench`), kept to
 * compare the two.
 */
export type ServicePlacement = 'process' | 'bench';

/** The service a benchmark measures, wherever it runs. */
export interface ServiceUnderTest {
  /** Sends one job (`cmd.generate`, or JobService.generate in this process); resolves with its id. */
  generate(command: GenerateCommand): Promise<string>;
  /**
   * CPU milliseconds so far. `serve` in its own process: all its threads, the main one apart.
   * In this process: process.cpuUsage, which also counts the benchmark's subscriber and submitters.
   */
  cpu(): Promise<{ total: number; threads?: ThreadGroupCpu }>;
  /** SIGTERM to `serve` (as a deployment stops it) and wait for its exit; or stop the app here. */
  stop(): Promise<void>;
}

let built: Promise<void> | undefined;

/** The compiled entry point runs what dist/ holds: build it once per benchmark process. */
function ensureBuilt(): Promise<void> {
  built ??= buildDist();
  return built;
}

export interface StartServiceOptions {
  /** A folder of the run's own: the config file is written there. */
  dir: string;
  /** The config as a file holds it (bench-environment.ts `benchConfigInput`). */
  config: Record<string, unknown>;
  nc: NatsConnection;
  /** The config's `nats.subject_prefix`: where the commands are sent. */
  subjectPrefix: string;
}

export async function startServiceUnderTest(placement: ServicePlacement, options: StartServiceOptions): Promise<ServiceUnderTest> {
  if (placement === 'process') return startServiceProcess(options);
  const app = await startApp({ config: parseServiceConfig(options.config), bus: 'nats', http: false, waitForNats: true });
  return {
    generate: async (command) => (await app.runtime.service.generate(command)).job.id,
    async cpu() {
      const usage = process.cpuUsage();
      return { total: (usage.user + usage.system) / 1000 };
    },
    stop: () => app.stop(),
  };
}

async function startServiceProcess(options: StartServiceOptions): Promise<ServiceUnderTest> {
  await ensureBuilt();
  const configFile = join(options.dir, 'service-config.yaml');
  // JSON is YAML: the config file reader takes it as it is. `info` is the shipped level; the
  // service logs no line per job at it, and the "listening" line says it is ready.
  await writeFile(configFile, JSON.stringify({ ...options.config, log_level: 'info' }));
  const nodeArgs = (process.env['BENCH_SERVICE_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, join(repoRoot, 'bin', 'chorus-visual.js'), 'serve', '--config', configFile], {
    cwd: repoRoot,
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CHORUS_VISUAL_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  // Kept short, for the message when it fails; the pipes are always drained so a chatty
  // service never blocks on a full pipe.
  let recent = '';
  const onData = (chunk: Buffer) => {
    recent = (recent + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  try {
    await new Promise<void>((resolveReady, reject) => {
      const check = () => {
        if (recent.includes('"msg":"chorus-visual listening"')) resolveReady();
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      void exited.then(([code]) => reject(new Error(`serve exited (${code}) before it was ready:\n${recent}`)));
      setTimeout(() => reject(new Error(`serve not ready within 30 s:\n${recent}`)), 30_000).unref();
    });
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  }
  const pid = child.pid!;
  const codec = JSONCodec<Record<string, unknown>>();
  return {
    async cpu() {
      const threads = await threadGroupCpuMs(pid);
      return { total: threads.main + threads.others, threads };
    },
    async generate(command) {
      const reply = await options.nc.request(`${options.subjectPrefix}.cmd.generate`, codec.encode(command as Record<string, unknown>), { timeout: 30_000 });
      const body = codec.decode(reply.data) as { ok?: boolean; job?: { id?: string }; error?: unknown };
      if (body.ok !== true || typeof body.job?.id !== 'string') throw new Error(`cmd.generate refused: ${JSON.stringify(body)}`);
      return body.job.id;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
