/**
 * A simulator in its own process (`chorus-visual simulate`), so the throughput benchmark can
 * tell the service's CPU from the simulators'. CPU time is read from /proc (Linux).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { processCpuMs } from './proc-cpu.js';

const repoRoot = resolve(import.meta.dirname, '..');

export interface ChildSimulator {
  url: string;
  outputDir: string;
  pid: number;
  /** user + system CPU milliseconds this process has used so far. */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

export async function startChildSimulator(options: { stepMs: number; nodeMs: number }): Promise<ChildSimulator> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'simulate', '--port', '0', '--step-ms', String(options.stepMs), '--node-ms', String(options.nodeMs)],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  const ready = new Promise<{ url: string; outputDir: string }>((resolveReady, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const url = /listening on (\S+)/.exec(output)?.[1];
      const outputDir = /output: (.+)\n/.exec(output)?.[1];
      if (url && outputDir) resolveReady({ url, outputDir });
    });
    child.once('exit', (code) => reject(new Error(`simulator exited early (${code}): ${output}`)));
  });
  const { url, outputDir } = await ready;
  const pid = child.pid!;
  return {
    url,
    outputDir,
    pid,
    cpuMs: () => processCpuMs(pid),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
