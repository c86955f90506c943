/**
 * SQLite's WAL checkpoints, moved off the event loop. By default the connection that commits
 * the transaction crossing 1,000 WAL pages runs the checkpoint itself: it copies the WAL into
 * the database file and fsyncs it, inside that COMMIT, on the thread everything else shares
 * (measured here: one commit in ~250 took 6–14 ms, against 0.02 ms for the rest — a stall every
 * few dozen jobs, and a job's `completed` waiting behind it; BENCHMARKS.md §1).
 *
 * Instead a worker thread with its own connection to the same file runs
 * `wal_checkpoint(PASSIVE)` every `intervalMs`: passive checkpoints never block writers and
 * never wait for readers, and the next write after a complete one starts the WAL from its
 * beginning again, so the file stays small. The service's connection keeps a far threshold of
 * its own (`wal_autocheckpoint = 4000` pages, 16 MB) as a safety net: writes that never pause
 * long enough for a passive checkpoint to catch up would otherwise grow the WAL without end.
 * Durability is unchanged (synchronous = NORMAL: commits are in the WAL either way). Should
 * the worker fail or exit, the connection goes back to SQLite's default threshold.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The connection's own threshold while the worker runs; SQLite's default is 1,000 pages. */
const safetyNetPages = 4000;
const defaultPages = 1000;

/** Runs in the worker (CommonJS, evaluated): one connection, one passive checkpoint per tick. */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)');
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  try { checkpoint(); } finally { db.close(); parentPort.close(); }
});
parentPort.postMessage('ready');
`;

export interface SqliteCheckpointerOptions {
  /**
   * How often the worker checkpoints (default 250 ms): a page rewritten many times between two
   * checkpoints is copied once, so checkpointing far more often than SQLite would (every 1,000
   * pages) only repeats work; in the throughput benchmark 100 and 500 ms were within noise.
   */
  intervalMs?: number;
  /**
   * The worker starts this long after the database opened (default 1 s): a thread costs ~50 ms
   * of CPU to start, which neither `serve`'s start nor a short-lived command should pay. Until
   * it is ready the connection checkpoints as SQLite does by default.
   */
  startAfterMs?: number;
  /** The better-sqlite3 module the worker loads (tests: a path that fails). */
  driver?: string;
  /** Told once when the worker fails and the connection checkpoints itself again (for the log). */
  onFallback?: (error: unknown) => void;
}

/** The slice of a better-sqlite3 handle this needs. */
interface PragmaHandle {
  pragma(source: string): unknown;
}

export class SqliteCheckpointer {
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly startTimer: NodeJS.Timeout;
  private stopping = false;
  /** Whether the worker has taken over (false before it is ready and once it failed). */
  private active = false;
  private failed = false;

  constructor(
    private readonly handle: PragmaHandle,
    private readonly file: string,
    private readonly options: SqliteCheckpointerOptions = {},
  ) {
    this.startTimer = setTimeout(() => this.start(), options.startAfterMs ?? 1_000);
    this.startTimer.unref();
  }

  /** True while the worker checkpoints (the connection then only past its far threshold). */
  get running(): boolean {
    return this.active;
  }

  /** True once the worker failed and the connection went back to checkpointing itself. */
  get fellBack(): boolean {
    return this.failed;
  }

  /** A last checkpoint, then the worker's connection closes; call before closing the database. */
  async stop(): Promise<void> {
    clearTimeout(this.startTimer);
    if (this.stopping) return this.exited;
    this.stopping = true;
    const worker = this.worker;
    if (worker === undefined) return;
    // Held until it has exited: an unref'd worker is no reason to stay, and the process would
    // end (or a top-level await with it) before the last checkpoint and the close.
    worker.ref();
    if (this.failed) void worker.terminate();
    else worker.postMessage('stop');
    await this.exited;
  }

  private start(): void {
    if (this.stopping) return;
    const driver = this.options.driver ?? createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(workerSource, { eval: true, workerData: { file: this.file, driver, intervalMs: this.options.intervalMs ?? 250 } });
    this.worker = worker;
    // Never keeps the process alive by itself; the store's close() stops it.
    worker.unref();
    worker.on('message', (message) => {
      if (message !== 'ready' || this.failed || this.stopping) return;
      this.active = true;
      this.setThreshold(safetyNetPages);
    });
    worker.on('error', (error) => this.fallBack(error));
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (!this.stopping) this.fallBack(new Error('the checkpoint thread exited'));
    });
  }

  private fallBack(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.active = false;
    this.setThreshold(defaultPages);
    this.options.onFallback?.(error);
  }

  private setThreshold(pages: number): void {
    try {
      this.handle.pragma(`wal_autocheckpoint = ${pages}`);
    } catch {
      // The connection is closed already: nothing left to checkpoint for.
    }
  }
}
