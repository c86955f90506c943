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
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { JSONCodec, type NatsConnection } from 'nats';
import type { GenerateCommand } from '../src/commands/index.js';
import { buildDist } from '../scripts/build.js';

const repoRoot = resolve(import.meta.dirname, '..');
/** USER_HZ: /proc reports CPU time in clock ticks, 100 per second on Linux. */
const ticksPerSecond = 100;

/** CPU milliseconds of one process's threads, grouped the way the costs split. */
export interface ThreadGroupCpu {
  /** The JavaScript thread: the event loop. */
  main: number;
  /** Everything else: V8's helpers (GC, compilation), libuv's pool (file system), workers. */
  others: number;
}

export interface ServiceProcess {
  pid: number;
  /** user + system CPU milliseconds this process has used so far, all threads. */
  cpuMs(): Promise<number>;
  /** The same, split into the main thread and the rest. */
  threadCpuMs(): Promise<ThreadGroupCpu>;
  /** `cmd.generate` as Chorus Engine sends it; resolves with the new job's id. */
  generate(command: GenerateCommand): Promise<string>;
  /** SIGTERM, as a deployment stops it; waits for the exit. */
  stop(): Promise<void>;
}

let built: Promise<void> | undefined;

/** The compiled entry point runs what dist/ holds: build it once per benchmark process. */
function ensureBuilt(): Promise<void> {
  built ??= buildDist();
  return built;
}

function ticksOf(stat: string): number {
  // Fields after the ")" that ends the command name: utime and stime are 14th and 15th overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export interface StartServiceProcessOptions {
  /** A folder of the run's own: the config file is written there. */
  dir: string;
  /** The config as a file holds it (bench-environment.ts `benchConfigInput`). */
  config: Record<string, unknown>;
  nc: NatsConnection;
  /** The config's `nats.subject_prefix`: where the commands are sent. */
  subjectPrefix: string;
}

export async function startServiceProcess(options: StartServiceProcessOptions): Promise<ServiceProcess> {
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
    pid,
    async cpuMs() {
      return (ticksOf(await readFile(`/proc/${pid}/stat`, 'utf8')) * 1000) / ticksPerSecond;
    },
    async threadCpuMs() {
      const cpu: ThreadGroupCpu = { main: 0, others: 0 };
      for (const tid of await readdir(`/proc/${pid}/task`)) {
        const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
        if (stat === undefined) continue; // a thread that ended in between
        cpu[tid === String(pid) ? 'main' : 'others'] += (ticksOf(stat) * 1000) / ticksPerSecond;
      }
      return cpu;
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
