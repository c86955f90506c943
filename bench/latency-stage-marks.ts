/**
 * Where a job's time goes between ComfyUI's `execution_success` and the `completed` event at a
 * NATS subscriber, for latency-stages-probe.ts. A profiling aid: it wraps methods of the running
 * service's objects (its backend clients' socket and HTTP client, the collector and its file
 * system, the event transport) from outside, so src/ carries no probe code. Meant for one job
 * in flight: file-system time is charged to the job whose collection is running.
 */
import type { ChorusVisualApp } from '../src/app/chorus-visual-app.js';
import { ComfyBackendClient } from '../src/comfy/index.js';
import { nodeCollectorFileSystem, type CollectorFileSystem } from '../src/files/collector-file-system.js';
import { nowMs } from './bench-environment.js';

/** The marks of one job, in pipeline order (publish_acked may come after at_subscriber; moving_acked runs beside the collection). */
export const stageMarks = [
  'execution_success',
  'end_marker',
  'history_read',
  'succeeded_event',
  'moving_committed',
  'collect_start',
  'collect_end',
  'completed_committed',
  'publish_start',
  'at_subscriber',
  'publish_acked',
  'moving_acked',
] as const;
export type StageMark = (typeof stageMarks)[number];

/** What each mark means, for the printed table. */
export const stageMeaning: Record<StageMark, string> = {
  execution_success: "ComfyUI's own timestamp (history), ms-truncated",
  end_marker: 'executing {node:null} handed to the service’s socket listener',
  history_read: 'GET /history/{id} answered and parsed',
  succeeded_event: 'backend client emits `succeeded` to the job actor',
  moving_committed: '`moving` transition committed (JobService notice)',
  collect_start: 'collector.collect() called',
  collect_end: 'collector.collect() resolved (files, sidecar, thumbnail durable)',
  completed_committed: '`completed` transition committed (JobService notice)',
  publish_start: 'outbox relay calls publishDurable for `completed`',
  at_subscriber: '`completed` handed to the NATS subscriber',
  publish_acked: 'JetStream ack of that publish',
  moving_acked: "JetStream ack of `moving` (the job's next event is published after it)",
};

/** File-system work inside a collection, by kind. */
export const collectorWork = ['fsync_source', 'rename', 'fsync_dir', 'temp_write', 'temp_fsync', 'read', 'dir_ops'] as const;
export type CollectorWork = (typeof collectorWork)[number];

export interface JobMarks {
  promptId?: string;
  marks: Partial<Record<StageMark, number>>;
  collectorMs: Partial<Record<CollectorWork, number>>;
  /** How many calls of each kind the collection made. */
  collectorCalls: Partial<Record<CollectorWork, number>>;
}

/** Time from each mark to the next one present in pipeline order (publish_acked excluded). */
export function stepDurations(marks: Partial<Record<StageMark, number>>): Array<{ from: StageMark; to: StageMark; ms: number }> {
  const steps: Array<{ from: StageMark; to: StageMark; ms: number }> = [];
  let previous: StageMark | undefined;
  for (const mark of stageMarks) {
    if (mark === 'publish_acked' || mark === 'moving_acked' || marks[mark] === undefined) continue;
    if (previous !== undefined) steps.push({ from: previous, to: mark, ms: marks[mark]! - marks[previous]! });
    previous = mark;
  }
  return steps;
}

export class StageRecorder {
  readonly jobs = new Map<string, JobMarks>();
  private readonly jobOfPrompt = new Map<string, string>();
  /** Marks seen for a prompt before its job was known (the socket can be first). */
  private readonly early = new Map<string, Partial<Record<StageMark, number>>>();
  private collecting: string | undefined;
  private readonly restore: Array<() => void> = [];

  constructor(private readonly app: ChorusVisualApp) {}

  install(): void {
    this.app.runtime.service.on('transition', (notice) => {
      if (notice.job.comfy_prompt_id) this.linkPrompt(notice.job.comfy_prompt_id, notice.jobId);
      if (notice.job.state === 'moving') this.mark(notice.jobId, 'moving_committed');
      if (notice.job.state === 'completed') this.mark(notice.jobId, 'completed_committed');
    });
    for (const backend of this.app.runtime.pool.list()) {
      if (backend instanceof ComfyBackendClient) this.instrumentBackend(backend);
    }
    this.instrumentCollector();
    this.instrumentFileSystem(nodeCollectorFileSystem);
    this.instrumentTransport();
  }

  uninstall(): void {
    for (const undo of this.restore.splice(0).reverse()) undo();
  }

  mark(jobId: string, mark: StageMark, at = nowMs()): void {
    const job = this.job(jobId);
    job.marks[mark] ??= at;
  }

  markPrompt(promptId: string, mark: StageMark, at = nowMs()): void {
    const jobId = this.jobOfPrompt.get(promptId);
    if (jobId) {
      this.mark(jobId, mark, at);
      return;
    }
    const marks = this.early.get(promptId) ?? {};
    marks[mark] ??= at;
    this.early.set(promptId, marks);
  }

  private job(jobId: string): JobMarks {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = { marks: {}, collectorMs: {}, collectorCalls: {} };
      this.jobs.set(jobId, job);
    }
    return job;
  }

  private linkPrompt(promptId: string, jobId: string): void {
    if (this.jobOfPrompt.has(promptId)) return;
    this.jobOfPrompt.set(promptId, jobId);
    this.job(jobId).promptId = promptId;
    for (const [mark, at] of Object.entries(this.early.get(promptId) ?? {})) this.mark(jobId, mark as StageMark, at);
    this.early.delete(promptId);
  }

  private replace<T extends object, K extends keyof T>(target: T, key: K, wrapped: T[K]): void {
    const original = target[key];
    target[key] = wrapped;
    this.restore.push(() => {
      target[key] = original;
    });
  }

  private instrumentBackend(backend: ComfyBackendClient): void {
    const onMessage = (message: { type: string; data?: unknown }) => {
      const data = message.data as { node?: unknown; prompt_id?: unknown } | undefined;
      if (message.type === 'executing' && data?.node === null && typeof data.prompt_id === 'string') this.markPrompt(data.prompt_id, 'end_marker');
    };
    backend.socket.prependListener('message', onMessage);
    this.restore.push(() => backend.socket.off('message', onMessage));
    const http = backend.http;
    const getHistory = http.getHistory.bind(http);
    this.replace(http, 'getHistory', async (promptId, opts) => {
      const history = await getHistory(promptId, opts);
      if (promptId !== undefined && history[promptId] !== undefined) this.markPrompt(promptId, 'history_read');
      return history;
    });
    const watch = backend.watch.bind(backend);
    this.replace(backend, 'watch', (promptId, onEvent) =>
      watch(promptId, (event) => {
        if (event.type === 'succeeded') this.markPrompt(promptId, 'succeeded_event');
        onEvent(event);
      }),
    );
  }

  private instrumentCollector(): void {
    const collector = this.app.runtime.collector;
    const collect = collector.collect.bind(collector);
    this.replace(collector, 'collect', async (request) => {
      this.mark(request.jobId, 'collect_start');
      this.collecting = request.jobId;
      try {
        return await collect(request);
      } finally {
        this.collecting = undefined;
        this.mark(request.jobId, 'collect_end');
      }
    });
  }

  /** Charges the time of each file-system call to the job being collected. */
  private charge<A extends unknown[], R>(kind: CollectorWork, call: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const jobId = this.collecting;
      const started = nowMs();
      try {
        return await call(...args);
      } finally {
        if (jobId !== undefined) this.chargeTo(jobId, kind, nowMs() - started);
      }
    };
  }

  private chargeTo(jobId: string, kind: CollectorWork, ms: number): void {
    const job = this.job(jobId);
    job.collectorMs[kind] = (job.collectorMs[kind] ?? 0) + ms;
    job.collectorCalls[kind] = (job.collectorCalls[kind] ?? 0) + 1;
  }

  private instrumentFileSystem(fs: CollectorFileSystem): void {
    const bound = <K extends keyof CollectorFileSystem>(key: K) => (fs[key] as (...a: unknown[]) => unknown).bind(fs);
    this.replace(fs, 'syncFile', this.charge('fsync_source', bound('syncFile') as CollectorFileSystem['syncFile']));
    this.replace(fs, 'rename', this.charge('rename', bound('rename') as CollectorFileSystem['rename']));
    this.replace(fs, 'syncDirectory', this.charge('fsync_dir', bound('syncDirectory') as CollectorFileSystem['syncDirectory']));
    this.replace(fs, 'readHead', this.charge('read', bound('readHead') as CollectorFileSystem['readHead']));
    for (const key of ['mkdirp', 'lstat', 'realpath', 'readdir', 'unlink'] as const) {
      this.replace(fs, key, this.charge('dir_ops', bound(key) as (...a: unknown[]) => Promise<never>) as never);
    }
    const createExclusive = bound('createExclusive') as CollectorFileSystem['createExclusive'];
    this.replace(
      fs,
      'createExclusive',
      this.charge('temp_write', async (file: string) => {
        const handle = await createExclusive(file);
        return {
          write: this.charge('temp_write', (data: Uint8Array) => handle.write(data)),
          sync: this.charge('temp_fsync', () => handle.sync()),
          close: this.charge('temp_write', () => handle.close()),
        };
      }),
    );
    // Streams (hashing a moved file, copies) are timed as a whole read: from open to end.
    const readStream = bound('readStream') as CollectorFileSystem['readStream'];
    this.replace(fs, 'readStream', (file: string) => {
      const jobId = this.collecting;
      const started = nowMs();
      const stream = readStream(file);
      stream.once('close', () => {
        if (jobId !== undefined) this.chargeTo(jobId, 'read', nowMs() - started);
      });
      return stream;
    });
  }

  private instrumentTransport(): void {
    const transport = this.app.transport;
    const publishDurable = transport.publishDurable.bind(transport);
    this.replace(transport, 'publishDurable', async (subject, payload, msgId) => {
      if (subject.endsWith('.moving')) {
        const movingJob = (JSON.parse(Buffer.from(payload).toString('utf8')) as { data?: { id?: string } }).data?.id;
        await publishDurable(subject, payload, msgId);
        if (movingJob) this.mark(movingJob, 'moving_acked');
        return;
      }
      if (!subject.endsWith('.completed')) return publishDurable(subject, payload, msgId);
      const jobId = (JSON.parse(Buffer.from(payload).toString('utf8')) as { data?: { id?: string } }).data?.id;
      if (jobId) this.mark(jobId, 'publish_start');
      await publishDurable(subject, payload, msgId);
      if (jobId) this.mark(jobId, 'publish_acked');
    });
  }
}
