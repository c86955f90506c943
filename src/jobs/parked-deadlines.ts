/**
 * Queue-wait deadlines of parked jobs (jobs waiting for a slot with no live actor): one
 * timer for the earliest, however many jobs wait, instead of a timer and an invoked actor
 * each. A min-heap by deadline; an entry whose job stopped being parked (granted, revived)
 * is skipped when it comes up, and the heap is rebuilt (dropping those) each time it has
 * doubled since the last rebuild, so a rebuild costs O(1) per entry added.
 */
import type { Clock } from './clock.js';

interface Entry {
  at: number;
  jobId: string;
  /** A later park of the same job (after a resubmission) brought a new deadline. */
  replaced: boolean;
}

/** setTimeout's limit; later deadlines are re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ParkedDeadlines {
  private heap: Entry[] = [];
  /** Each job's latest entry: only that one may expire the job. */
  private readonly latest = new Map<string, Entry>();
  private timer: unknown = undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  /** Heap size right after the last rebuild: the next one comes at twice that (at least 1,024). */
  private sizeAfterRebuild = 0;
  private closed = false;

  /**
   * @param stillParked whether an entry's job is still parked (stale entries are skipped)
   * @param expire called for each parked job whose deadline passed
   */
  constructor(
    private readonly clock: Clock,
    private readonly stillParked: (jobId: string) => boolean,
    private readonly expire: (jobId: string) => void,
  ) {}

  add(jobId: string, at: number): void {
    if (this.closed) return;
    const entry: Entry = { at, jobId, replaced: false };
    const previous = this.latest.get(jobId);
    if (previous) previous.replaced = true;
    this.latest.set(jobId, entry);
    this.push(entry);
    if (this.heap.length > Math.max(1024, 2 * this.sizeAfterRebuild)) this.compact();
    this.arm();
  }

  get size(): number {
    return this.heap.length;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.heap = [];
    this.latest.clear();
  }

  private isLive(entry: Entry): boolean {
    return !entry.replaced && this.stillParked(entry.jobId);
  }

  private compact(): void {
    const kept: Entry[] = [];
    for (const entry of this.heap) {
      if (this.isLive(entry)) kept.push(entry);
      else if (this.latest.get(entry.jobId) === entry) this.latest.delete(entry.jobId);
    }
    this.heap = [];
    for (const entry of kept) this.push(entry);
    this.sizeAfterRebuild = kept.length;
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || this.closed) return;
    if (this.timer !== undefined && this.armedFor <= first.at) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedFor = first.at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.min(Math.max(0, first.at - this.clock.now()), MAX_TIMER_MS));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.pop()!;
      if (this.latest.get(entry.jobId) === entry) this.latest.delete(entry.jobId);
      if (this.isLive(entry)) this.expire(entry.jobId);
    }
    this.arm();
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
