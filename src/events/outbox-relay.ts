/**
 * Moves `job_events` rows from the outbox to the event transport, oldest first, and marks
 * them published. Rules that keep events whole and in order:
 * - one pass at a time (a lock); inside a pass different jobs' rows are in flight together
 *   (bounded by `maxInFlight`) but each job's rows go one after the other, never two of one
 *   job in flight, so a failed publish cannot be overtaken by a later event of the same job
 *   (see job-lane-publisher.ts);
 * - a job's first failure ends that job's run in the pass; other jobs carry on, rows
 *   already confirmed are marked in one batch, the failed job's rest wait for the next pass
 *   after a growing back-off;
 * - a crash between publish and mark re-sends the row with the same id (`{job}:{seq}`),
 *   which JetStream drops as a duplicate.
 */
import type { JobEventRow, OutboxStore } from '../contracts/job-store-port.js';
import { encodeCloudEvent, eventName, toCloudEvent } from './cloud-event.js';
import { eventSubject } from './event-subjects.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import type { EventTransport } from './event-transport.js';
import { publishInJobLanes } from './job-lane-publisher.js';
import { messageOf } from '../errors/index.js';

export interface OutboxRelayOptions {
  store: OutboxStore;
  transport: EventTransport;
  subjectPrefix: string;
  /** CloudEvents `source`, e.g. `chorus-visual/<instance>`. */
  source: string;
  batchSize?: number;
  /** Publishes awaiting their ack at once, each for a different job (default 64). */
  maxInFlight?: number;
  /** First back-off after a failure; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Look at the outbox this often even without kick() (rows written by another process). */
  pollMs?: number;
  logger?: StructuredLogger;
}

type PassOutcome = 'idle' | 'more' | 'failed';

export class OutboxRelay {
  private readonly batchSize: number;
  private readonly maxInFlight: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly pollMs: number;
  private readonly logger: StructuredLogger;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private kicked = false;
  private lock: Promise<unknown> = Promise.resolve();
  private publishedCount = 0;

  constructor(private readonly opts: OutboxRelayOptions) {
    // A pass waits for its slowest lane, so a batch of a few hundred keeps 64 lanes busy.
    this.batchSize = opts.batchSize ?? 256;
    this.maxInFlight = opts.maxInFlight ?? 64;
    this.retryMs = opts.retryMs ?? 250;
    this.maxRetryMs = opts.maxRetryMs ?? 5_000;
    this.pollMs = opts.pollMs ?? 1_000;
    this.logger = opts.logger ?? silentLogger;
  }

  /** Events published since construction (for metrics and tests). */
  get published(): number {
    return this.publishedCount;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.runLoop();
  }

  /** New rows were written: look now instead of at the next poll. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Publishes until the outbox is empty or the transport fails (then returns, rows kept). */
  async drain(): Promise<void> {
    for (;;) {
      const outcome = await this.exclusivePass();
      if (outcome !== 'more') return;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  private async runLoop(): Promise<void> {
    let backoff = this.retryMs;
    while (this.running) {
      this.kicked = false;
      const outcome = await this.exclusivePass();
      if (!this.running) break;
      if (outcome !== 'failed' && backoff > this.retryMs) this.logger.info({ published: this.publishedCount }, 'events flowing again');
      if (outcome === 'more') {
        backoff = this.retryMs;
        continue;
      }
      if (outcome === 'failed') {
        // A kick does not cut a failure back-off short: the transport is the problem.
        await this.sleep(backoff, false);
        backoff = Math.min(backoff * 2, this.maxRetryMs);
      } else {
        backoff = this.retryMs;
        if (!this.kicked) await this.sleep(this.pollMs, true);
      }
    }
  }

  private exclusivePass(): Promise<PassOutcome> {
    const next = this.lock.then(() => this.pass());
    this.lock = next.catch(() => undefined);
    return next;
  }

  private async pass(): Promise<PassOutcome> {
    const { store, transport } = this.opts;
    if (!transport.isConnected()) return 'failed';
    let rows: JobEventRow[];
    try {
      rows = await store.listUnpublished(this.batchSize);
    } catch (error) {
      this.logger.error({ err: messageOf(error) }, 'outbox read failed');
      return 'failed';
    }
    if (rows.length === 0) return 'idle';
    const { published: done, failures } = await publishInJobLanes(rows, (row) => this.publishRow(row), this.maxInFlight);
    const first = failures[0];
    if (first) {
      this.logger.warn(
        {
          err: messageOf(first.error),
          job: first.row.job_id,
          seq: first.row.seq,
          failedJobs: failures.length,
          pending: failures.reduce((n, f) => n + f.pending, 0),
        },
        'event publish failed; will retry',
      );
    }
    const failed = failures.length > 0;
    if (done.length > 0) {
      try {
        await store.markPublished(done, new Date().toISOString());
        this.publishedCount += done.length;
      } catch (error) {
        // Published but not marked: the next pass re-sends them and the msgId dedupes.
        this.logger.error({ err: messageOf(error), events: done.length }, 'marking events published failed');
        return 'failed';
      }
    }
    if (failed) return 'failed';
    return rows.length < this.batchSize ? 'idle' : 'more';
  }

  private async publishRow(row: JobEventRow): Promise<void> {
    const event = toCloudEvent(row, this.opts.source);
    const conversationId = typeof event.data.conversation_id === 'string' ? event.data.conversation_id : await this.conversationOf(row.job_id);
    const subject = eventSubject(this.opts.subjectPrefix, conversationId, row.job_id, eventName(row));
    await this.opts.transport.publishDurable(subject, encodeCloudEvent(event), event.id);
  }

  /** For a row whose data lacks the job view (it should not): ask the jobs table. */
  private async conversationOf(jobId: string): Promise<string> {
    const job = await this.opts.store.getJob(jobId).catch(() => undefined);
    if (!job) this.logger.warn({ job: jobId }, 'event without conversation_id and no such job; published under "_"');
    return job?.conversation_id ?? '_';
  }

  private sleep(ms: number, wakeOnKick: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        if (wakeOnKick || !this.running) done();
      };
    });
  }
}
