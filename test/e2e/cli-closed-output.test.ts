/**
 * `chorus-visual workflows list | head -1`: when the reader of stdout goes away, every
 * command ends as `cat` or `git log` do — killed by SIGPIPE (status 141 in a shell), no
 * stack — and a long-running one (`simulate`) ends too instead of serving on, deaf; `serve`,
 * the service, runs on when its log reader goes away, and stops gracefully as ever.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUserFolder, repoRoot, type UserFolder } from '../support/user-folder.js';

let folder: UserFolder;
// A closed port: nothing here needs ComfyUI, and nothing may reach someone else's.
const env = { CHORUS_VISUAL_COMFYUI_URL: 'http://127.0.0.1:9', CHORUS_VISUAL_NATS_ENABLED: 'false' };

beforeAll(async () => {
  folder = await makeUserFolder();
});
afterAll(async () => {
  await folder.remove();
});

interface Ending {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const baseEnv = () => Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CHORUS_VISUAL_')));

/** Runs the compiled CLI with its stdout a pipe whose reading end is closed before it writes. */
function runWithClosedStdout(args: string[]): Promise<Ending> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'chorus-visual.js'), ...args], {
    cwd: folder.dir,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('a command whose stdout reader went away', () => {
  it('ends as by SIGPIPE, without a stack, whatever the command', async () => {
    const commands = [
      ['workflows', 'list'],
      ['--help'],
      ['--version'],
      ['jobs', 'list'],
      ['doctor'],
      ['simulate', '--port', '0', '--output-dir', join(folder.dir, 'comfy-output')],
    ];
    const endings: Ending[] = [];
    // Two at a time: the machine's cores are shared.
    for (let i = 0; i < commands.length; i += 2) endings.push(...(await Promise.all(commands.slice(i, i + 2).map(runWithClosedStdout))));
    endings.forEach((ending, i) => {
      const label = commands[i]!.join(' ');
      // A shell shows both as 141 (128 + SIGPIPE); the signal itself where Node can raise it.
      expect(ending.signal === 'SIGPIPE' || ending.code === 141, `${label}: ${JSON.stringify(ending)}`).toBe(true);
      // Nothing but what the command says on stderr anyway: jobs list in a folder where nothing
      // has run yet notes that there is no job database (and creates none). No stack, no EPIPE.
      const expected = label === 'jobs list' ? /^note: there is no job database at .*\(nothing was created\)\..*\n$/s : /^$/;
      expect(ending.stderr, label).toMatch(expected);
    });
  }, 120_000);

  it('serve runs on with both its stdout and stderr readers gone, and stops gracefully on SIGTERM', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    // A line on stderr a second in, as a Node warning or a console.error would write it.
    const lateLine = 'data:text/javascript,setTimeout(() => console.error("a late line"), 1000).unref();';
    const child = spawn(process.execPath, ['--import', lateLine, join(repoRoot, 'bin', 'chorus-visual.js'), 'serve'], {
      cwd: folder.dir,
      env: { ...baseEnv(), ...env, CHORUS_VISUAL_HTTP_PORT: String(port), CHORUS_VISUAL_DATA_DIR: join(folder.dir, 'serve-data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    child.stderr.destroy();
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    try {
      // It logs its start and a line a second while its backend is unreachable: writes into closed pipes.
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(ready).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(child.exitCode).toBeNull();
      expect(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status)).toBe(200);
      child.kill('SIGTERM');
      expect(await closed).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
