/**
 * Benchmark 7 — start: `chorus-visual serve` launched as a process, as a deployment launches
 * it, against a simulator in its own process and the local NATS. Measured from the spawn to
 * the "chorus-visual listening" line, which serve writes only once the database is open (and
 * migrated), NATS is connected with its stream and command service ("NATS commands and events
 * ready" comes first, checked), every backend's socket made its first attempt, and the
 * unfinished jobs are restored. Right after the line, GET /readyz must answer 200 with the
 * backend healthy, or the launch counts as failed. Each launcher runs with a fresh database
 * (a new SQLite file: migrations run) and with an existing one (migrated by an earlier
 * launch), alternated in one run so both see the same machine. The TypeScript loader row
 * (`node --import tsx src/cli.ts`, what bin/chorus-visual.js ran before it ran compiled
 * JavaScript) and bare `node -e 0` are references.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildDist } from '../scripts/build.js';
import { startChildSimulator } from './child-simulator.js';
import { processCpuMs } from './proc-cpu.js';
import { connectBenchNats, createBenchDir, deleteRunStream, natsUrl, uniqueRunNames } from './bench-environment.js';
import { summarize } from './latency-stats.js';
import type { BenchResult } from './result-table.js';

export interface StartupBenchOptions {
  /** Launches per launcher and database (default 10). */
  launches?: number;
}

const repoRoot = resolve(import.meta.dirname, '..');
const targetMs = 1_000;

interface Launcher {
  name: string;
  args: string[];
}

const launchers: Launcher[] = [
  { name: 'compiled (bin/chorus-visual.js → dist)', args: [join(repoRoot, 'bin', 'chorus-visual.js'), 'serve'] },
  { name: 'tsx src/cli.ts (TypeScript loader)', args: ['--import', 'tsx', join(repoRoot, 'src', 'cli.ts'), 'serve'] },
];

interface Launch {
  /** Wall-clock milliseconds from spawn to "chorus-visual listening". */
  readyMs: number;
  /** CPU milliseconds (user + system) the process had used by then: less sensitive to a busy machine. */
  cpuMs: number;
}

/** Spawn to "chorus-visual listening", after checking what the line promises. */
async function launchOnce(launcher: Launcher, configFile: string): Promise<Launch> {
  const startedAt = performance.now();
  const child = spawn(process.execPath, [...launcher.args, '--config', configFile, '--http-port', '0'], {
    cwd: repoRoot,
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CHORUS_VISUAL_'))),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let output = '';
  try {
    const { readyMs, line } = await new Promise<{ readyMs: number; line: string }>((resolveReady, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const line = output.split('\n').find((l) => l.includes('"msg":"chorus-visual listening"'));
        if (line) resolveReady({ readyMs: performance.now() - startedAt, line });
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(([code]) => reject(new Error(`serve exited (${code}) before it was ready:\n${output.slice(-2000)}`)));
      setTimeout(() => reject(new Error(`serve not ready within 30 s:\n${output.slice(-2000)}`)), 30_000).unref();
    });
    const cpuMs = await processCpuMs(child.pid!);
    if (!output.includes('"msg":"NATS commands and events ready"')) throw new Error(`ready without NATS:\n${output.slice(-2000)}`);
    const http = (JSON.parse(line) as { http: string | null }).http;
    const response = await fetch(`${http}/readyz`);
    const body = (await response.json()) as { checks?: { backends?: Array<{ healthy: boolean }> } };
    if (response.status !== 200 || !body.checks?.backends?.every((b) => b.healthy)) {
      throw new Error(`listening but /readyz says ${response.status} ${JSON.stringify(body)}`);
    }
    return { readyMs, cpuMs };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  }
}

async function nodeFloor(): Promise<Launch> {
  const startedAt = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  return { readyMs: performance.now() - startedAt, cpuMs: Number.NaN };
}

export async function runStartupBench(options: StartupBenchOptions = {}): Promise<BenchResult> {
  const launches = options.launches ?? 10;
  // What bin/chorus-visual.js runs, built from the source as it is now (never a stale dist/).
  await buildDist();
  const dir = await createBenchDir('startup');
  const names = uniqueRunNames('startup');
  const simulator = await startChildSimulator({ stepMs: 0, nodeMs: 0 });
  const nc = await connectBenchNats();
  try {
    /** One config per run of serve: its own database path (fresh, or the shared existing one). */
    const configFor = async (label: string, databaseFile: string): Promise<string> => {
      const file = join(dir.path, `${label}.yaml`);
      const config = {
        comfyui: { url: simulator.url, file_management: { output_directory: simulator.outputDir } },
        data_dir: join(dir.path, 'data'),
        workflows_dir: join(repoRoot, 'workflows'),
        characters_dir: join(repoRoot, 'config', 'characters'),
        database: { url: `sqlite:${databaseFile}` },
        nats: { servers: [natsUrl], subject_prefix: names.subjectPrefix, stream: { name: names.streamName, max_age_seconds: 3600 } },
        log_level: 'info',
      };
      // JSON is YAML: the config file reader takes it as it is.
      await writeFile(file, JSON.stringify(config));
      return file;
    };
    await mkdir(join(dir.path, 'fresh'), { recursive: true });
    const existingConfig = await configFor('existing', join(dir.path, 'existing.db'));
    // The existing database: migrated by one launch that is not counted (also warms the disk cache).
    await launchOnce(launchers[0]!, existingConfig);

    const samples = new Map<string, Launch[]>();
    const record = (key: string, launch: Launch) => samples.set(key, [...(samples.get(key) ?? []), launch]);
    for (let i = 0; i < launches; i++) {
      record('node -e 0|-', await nodeFloor());
      // Alternated: each launcher and database meets the same moment of the machine.
      for (const [index, launcher] of launchers.entries()) {
        const freshConfig = await configFor(`fresh-${i}-${index}`, join(dir.path, 'fresh', `launch-${i}-${index}.db`));
        record(`${launcher.name}|fresh`, await launchOnce(launcher, freshConfig));
        record(`${launcher.name}|existing`, await launchOnce(launcher, existingConfig));
      }
    }

    const rows = [...samples].map(([key, values]) => {
      const [launcher, database] = key.split('|');
      const wall = summarize(values.map((v) => v.readyMs));
      const cpu = summarize(values.map((v) => v.cpuMs));
      return {
        launcher: launcher!,
        database: database!,
        launches: values.length,
        'p50 ms': wall.p50,
        'max ms': wall.max,
        'min ms': wall.min,
        'cpu p50 ms': Number.isNaN(cpu.p50) ? null : cpu.p50,
      };
    });
    const compiled = rows.filter((row) => row.launcher === launchers[0]!.name);
    return {
      name: 'startup',
      setup: { launches, backends: 1, simulator: 'child process', database: 'sqlite', nats: natsUrl },
      rows,
      target: {
        description: `compiled serve ready (database, NATS, backends) ≤ ${targetMs} ms after launch: p50 and max, fresh and existing database`,
        met: compiled.length === 2 && compiled.every((row) => row['max ms'] <= targetMs),
      },
      notes: [
        'ready = the "chorus-visual listening" line (after "NATS commands and events ready"), then /readyz 200 with the backend healthy',
        'fresh: a new SQLite file per launch (migrations run); existing: one file migrated by an earlier launch',
        'node -e 0: spawn to exit of a bare node, the floor any launch pays',
        'cpu: user + system time of the serve process at the moment it was ready (/proc), a busy machine stretches wall time far more',
      ],
    };
  } finally {
    await deleteRunStream(nc, names);
    await nc.close();
    await simulator.stop();
    await dir.remove();
  }
}
