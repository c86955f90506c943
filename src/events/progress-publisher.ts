/**
 * Progress ticks, ephemeral and throttled: at most `perSecond` per job. A tick that comes
 * too soon replaces the job's pending one (only the newest matters) and goes out when the
 * interval ends, so the last value of a burst is never lost while memory stays one slot
 * per active job. Nothing is queued while the transport is down: ticks are dropped.
 */
import type { JobView } from '../contracts/job-view.js';
import { CLOUD_EVENT_TYPE_PREFIX, encodeCloudEvent, type CloudEvent } from './cloud-event.js';
import { eventSubject } from './event-subjects.js';
import type { EventTransport } from './event-transport.js';

export interface ProgressValue {
  value: number;
  max: number;
  node: string | null;
}

export interface ProgressJobRef {
  id: string;
  conversation_id: string;
}

export interface ProgressEventData {
  id: string;
  conversation_id: string;
  progress: ProgressValue;
  /** 0–100, rounded; null when max is 0. */
  percent: number | null;
  /** The whole job view, when the caller had it at hand. */
  job?: JobView;
}

export interface ProgressPublisherOptions {
  source?: string;
  now?: () => number;
}

interface JobSlot {
  lastSentAt: number;
  pending?: { job: ProgressJobRef; progress: ProgressValue; view: JobView | undefined };
  timer?: NodeJS.Timeout;
}

export class ProgressPublisher {
  private readonly intervalMs: number;
  private readonly slots = new Map<string, JobSlot>();
  private readonly source: string;
  private readonly now: () => number;
  private counter = 0;

  constructor(
    private readonly transport: EventTransport,
    private readonly prefix: string,
    perSecond: number,
    options: ProgressPublisherOptions = {},
  ) {
    this.intervalMs = perSecond > 0 ? 1000 / perSecond : 1000;
    this.source = options.source ?? 'chorus-visual';
    this.now = options.now ?? Date.now;
  }

  publish(job: ProgressJobRef, progress: ProgressValue, view?: JobView): void {
    const now = this.now();
    const slot = this.slots.get(job.id);
    if (!slot) {
      this.slots.set(job.id, { lastSentAt: now });
      this.send(job, progress, view);
      return;
    }
    const wait = slot.lastSentAt + this.intervalMs - now;
    if (wait <= 0 && !slot.timer) {
      slot.lastSentAt = now;
      this.send(job, progress, view);
      return;
    }
    slot.pending = { job, progress, view };
    if (!slot.timer) {
      slot.timer = setTimeout(() => this.flush(job.id), Math.max(0, wait));
      slot.timer.unref?.();
    }
  }

  /** The job finished: drop its pending tick and forget it. */
  forget(jobId: string): void {
    const slot = this.slots.get(jobId);
    if (slot?.timer) clearTimeout(slot.timer);
    this.slots.delete(jobId);
  }

  /** Jobs currently tracked (bounded by jobs with recent progress). */
  get trackedJobs(): number {
    return this.slots.size;
  }

  close(): void {
    for (const id of [...this.slots.keys()]) this.forget(id);
  }

  private flush(jobId: string): void {
    const slot = this.slots.get(jobId);
    if (!slot) return;
    slot.timer = undefined;
    const pending = slot.pending;
    slot.pending = undefined;
    if (!pending) return;
    slot.lastSentAt = this.now();
    this.send(pending.job, pending.progress, pending.view);
    // Idle after this tick? Forget the job once its interval passes, so finished jobs
    // that nobody forget()s do not pile up.
    slot.timer = setTimeout(() => {
      const current = this.slots.get(jobId);
      if (current && !current.pending) this.slots.delete(jobId);
      else this.flush(jobId);
    }, this.intervalMs);
    slot.timer.unref?.();
  }

  private send(job: ProgressJobRef, progress: ProgressValue, view: JobView | undefined): void {
    const data: ProgressEventData = {
      id: job.id,
      conversation_id: job.conversation_id,
      progress,
      percent: progress.max > 0 ? Math.round((progress.value / progress.max) * 100) : null,
      ...(view ? { job: { ...view, progress } } : {}),
    };
    const event: CloudEvent<ProgressEventData> = {
      specversion: '1.0',
      id: `${job.id}:progress:${++this.counter}`,
      type: `${CLOUD_EVENT_TYPE_PREFIX}progress`,
      source: this.source,
      subject: job.id,
      time: new Date(this.now()).toISOString(),
      datacontenttype: 'application/json',
      data,
    };
    this.transport.publishEphemeral(eventSubject(this.prefix, job.conversation_id, job.id, 'progress'), encodeCloudEvent(event));
  }
}
