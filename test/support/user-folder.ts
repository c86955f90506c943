/**
 * A person's working folder for end-to-end runs: the shipped workflows and characters
 * copied in, no config file (defaults apply), and the CLI started the way `npx chorus-visual`
 * starts it (bin/chorus-visual.js), from that folder, as a separate process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(repoRoot, 'bin', 'chorus-visual.js');

export interface UserFolder {
  dir: string;
  remove(): Promise<void>;
}

export async function makeUserFolder(): Promise<UserFolder> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-user-'));
  await cp(join(repoRoot, 'workflows'), join(dir, 'workflows'), { recursive: true });
  await mkdir(join(dir, 'config'), { recursive: true });
  await cp(join(repoRoot, 'config', 'characters'), join(dir, 'config', 'characters'), { recursive: true });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Only the variables a test names: the CHORUS_VISUAL_* of the person running the tests stay out. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('CHORUS_VISUAL_')));
  return { ...base, ...env };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: options.cwd, env: cleanEnv(options.env ?? {}), timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching; rejects when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the process has ended and its output is read to the end. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** `options.bin`: another copy of bin/chorus-visual.js (an image's file set); default the repository's. */
export function startCli(args: string[], options: { cwd: string; env?: Record<string, string>; bin?: string }): CliProcess {
  const child = spawn(process.execPath, [options.bin ?? bin, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // 'close' (both streams read to their end), not 'exit', which can come before the last output.
  const exited = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    exited,
    output: () => text,
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text
            .split('\n')
            .map((line) => line.match(pattern))
            .find(Boolean);
          if (!match) return false;
          done();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms:\n${text.slice(-3000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = () => void check();
        if (check()) return;
        listeners.add(listener);
        void exited.then((code) => {
          if (!listeners.has(listener)) return;
          done();
          reject(new Error(`exited (${code}) before output matching ${pattern}:\n${text.slice(-3000)}`));
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
