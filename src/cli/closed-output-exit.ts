/**
 * A command whose reader went away (`chorus-visual workflows list | head -1`) ends the way
 * `cat`, `seq` or `git log` do: killed by SIGPIPE, which a shell reports as status 141, and
 * no stack. Node ignores SIGPIPE, so a write to a closed pipe fails with EPIPE instead, and an
 * unhandled 'error' event on stdout would crash with a stack (and, for `simulate`, only after
 * the next write). Installed once, in src/cli.ts, for every command; `serve` runs on.
 */

/** Ends this process as a SIGPIPE would; exits 141 (128 + SIGPIPE) if the signal does not. */
function dieOfSigpipe(): never {
  // Node set SIGPIPE to "ignore" at start; libuv puts the default action (terminate) back
  // when the last listener of a signal is removed, so the signal sent next kills us.
  const restoreDefault = () => {};
  process.on('SIGPIPE', restoreDefault);
  process.off('SIGPIPE', restoreDefault);
  try {
    process.kill(process.pid, 'SIGPIPE');
  } catch {
    // No signals here (Windows): the exit status alone says it.
  }
  process.exit(141);
}

export interface ClosedOutputOptions {
  /**
   * The service (`serve`): a log reader going away (a collector restarting, a closed
   * terminal) must not end it, least of all without its graceful stop (in-flight writes,
   * retiring its instance, the SQLite lock). Its log lines are lost meanwhile — as its
   * logger's own direct writes to the descriptor are — and it runs on.
   */
  keepRunning?: boolean;
}

export function exitQuietlyWhenOutputCloses(options: ClosedOutputOptions = {}): void {
  const onOutputError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') {
      if (options.keepRunning) return;
      dieOfSigpipe();
    }
    // Any other failure of the terminal or file is as unexpected as before: not swallowed.
    throw error;
  };
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
}
