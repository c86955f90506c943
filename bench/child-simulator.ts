/**
 * A simulator in its own process (`chorus-visual simulate`), so the throughput benchmark can
 * tell the service's CPU from the simulators'. CPU time is read from /proc (Linux).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { once } from 'node:events';

const repoRoot = resolve(import.meta.dirname, '..');
/** USER_HZ: /proc reports CPU time in clock ticks, 100 per second on Linux. */
const ticksPerSecond = 100;

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
    async cpuMs() {
      // Fields after the ")" that ends the command name: utime and stime are 14th and 15th overall.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
