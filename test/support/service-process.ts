/**
 * Runs `chorus-visual serve` as a real child process, as a deployment runs it, so tests can
 * SIGKILL it at any instant and start another on the same database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  /** Every line the service logged so far (JSON lines from pino, parsed when possible). */
  lines: string[];
  /** Resolves with the first logged line that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Resolves with the exit code (null when a signal ended it) once the process has ended and
   * its stdout and stderr are read to their end, so `lines` then holds everything it logged.
   */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startServiceProcess(args: string[], env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  // A line can arrive in two chunks (and stdout and stderr each in their own): keep each
  // stream's unfinished tail until its newline, so no line is seen cut in two.
  const onData =
    (tail: { text: string }) =>
    (chunk: Buffer): void => {
      const parts = (tail.text + chunk.toString('utf8')).split('\n');
      tail.text = parts.pop() ?? '';
      for (const line of parts) {
        if (!line.trim()) continue;
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    };
  const stdoutTail = { text: '' };
  const stderrTail = { text: '' };
  child.stdout!.on('data', onData(stdoutTail));
  child.stderr!.on('data', onData(stderrTail));
  child.stdout!.on('end', () => onData(stdoutTail)(Buffer.from('\n')));
  child.stderr!.on('end', () => onData(stderrTail)(Buffer.from('\n')));
  // 'close', not 'exit': Node can emit 'exit' while the last chunks of stdout/stderr are still
  // unread, and callers check the last lines logged once the process has ended. 'close' comes
  // after both streams ended (the 'end' handlers above have flushed each tail) and carries the
  // same (code, signal).
  const exited = once(child, 'close').then(([code]) => code as number | null);

  return {
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`service exited (${code}) before a line matching ${pattern}; output:\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
    async kill(signal = 'SIGKILL') {
      // Already ended (its output perhaps still draining): nothing to signal, wait as `exited` does.
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
