/**
 * Slots on ComfyUI backends. A job holds a slot on its backend from the moment it is
 * granted (just before submission) until it leaves ComfyUI, so with max_concurrent ≥ 2
 * ComfyUI always holds the next prompt and the GPU never idles between jobs. Waiters are
 * served by priority, FIFO within a priority; every operation is O(1) in the number of
 * waiting jobs (O(backends) to choose one).
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { Clock } from './clock.js';
import type { BackendPoolPort } from './job-runtime-ports.js';

interface Waiter {
  jobId: string;
  resolve(backend: string): void;
  reject(error: unknown): void;
  done: boolean;
}

/** FIFO with O(1) push/shift (array + head index, compacted now and then). */
class WaiterQueue {
  private items: Waiter[] = [];
  private head = 0;
  push(w: Waiter): void {
    this.items.push(w);
  }
  /** The oldest waiter still waiting (cancelled ones are dropped lazily). */
  shift(): Waiter | undefined {
    while (this.head < this.items.length) {
      const w = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (!w.done) return w;
    }
    return undefined;
  }
}

export interface SchedulerOptions {
  clock: Clock;
  /** While jobs wait and no backend is healthy, look again this often (ms). */
  recheckMs?: number;
}

export class Scheduler {
  private readonly slots = new Map<string, string>(); // jobId → backend
  private readonly used = new Map<string, number>(); // backend → slots in use
  private readonly queues = new Map<number, WaiterQueue>();
  /** Priorities with a queue, highest first (at most 201 distinct values). */
  private priorities: number[] = [];
  private waitingCount = 0;
  private recheck: unknown = undefined;
  private closed = false;
  private dispatching = false;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    private readonly pool: BackendPoolPort,
    private readonly options: SchedulerOptions,
  ) {
    this.unsubscribe = pool.onHealthChange?.(() => this.dispatch());
  }

  /** Resolves with the backend name once a slot is granted; abort to stop waiting. */
  acquire(jobId: string, priority: number, signal?: AbortSignal): Promise<string> {
    if (this.closed) return Promise.reject(new ChorusError(ErrorCode.INTERNAL, 'the scheduler is stopped'));
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = { jobId, resolve, reject, done: false };
      signal?.addEventListener(
        'abort',
        () => {
          if (waiter.done) return;
          waiter.done = true;
          this.waitingCount--;
        },
        { once: true },
      );
      // A job holds at most one slot: asking again (a resubmission) gives the old one back.
      this.release(jobId);
      this.queueFor(priority).push(waiter);
      this.waitingCount++;
      // Granted on a later microtask: xstate starts this invoke before its observers see
      // the transition, and the runtime's slot bookkeeping for that transition runs first.
      queueMicrotask(() => this.dispatch());
    });
  }

  /** Counts a job against a backend without waiting (restore: it is already in ComfyUI). */
  occupy(jobId: string, backend: string): void {
    if (this.slots.has(jobId)) return;
    this.slots.set(jobId, backend);
    this.used.set(backend, (this.used.get(backend) ?? 0) + 1);
  }

  /** Idempotent: a job that holds no slot is ignored. */
  release(jobId: string): void {
    const backend = this.slots.get(jobId);
    if (backend === undefined) return;
    this.slots.delete(jobId);
    this.used.set(backend, (this.used.get(backend) ?? 1) - 1);
    this.dispatch();
  }

  inUse(backend: string): number {
    return this.used.get(backend) ?? 0;
  }

  holds(jobId: string): boolean {
    return this.slots.has(jobId);
  }

  waiting(): number {
    return this.waitingCount;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    if (this.recheck !== undefined) this.options.clock.clearTimeout(this.recheck);
    this.recheck = undefined;
  }

  private queueFor(priority: number): WaiterQueue {
    let queue = this.queues.get(priority);
    if (!queue) {
      queue = new WaiterQueue();
      this.queues.set(priority, queue);
      this.priorities = [...this.priorities, priority].sort((a, b) => b - a);
    }
    return queue;
  }

  private nextWaiter(): Waiter | undefined {
    for (const priority of this.priorities) {
      const waiter = this.queues.get(priority)!.shift();
      if (waiter) return waiter;
    }
    return undefined;
  }

  private dispatch(): void {
    if (this.dispatching || this.closed) return;
    this.dispatching = true;
    try {
      while (this.waitingCount > 0) {
        const backend = this.pool.choose((name) => this.inUse(name));
        if (!backend) {
          // All full: a release will dispatch. Some unhealthy: look again in a while too,
          // in case that backend recovers without a health event.
          if (this.pool.list().some((b) => !b.health().healthy)) this.scheduleRecheck();
          return;
        }
        const waiter = this.nextWaiter();
        if (!waiter) return;
        waiter.done = true;
        this.waitingCount--;
        this.occupy(waiter.jobId, backend.name);
        waiter.resolve(backend.name);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Backends without a health event (or all full and unhealthy) are looked at again later. */
  private scheduleRecheck(): void {
    if (this.recheck !== undefined) return;
    this.recheck = this.options.clock.setTimeout(() => {
      this.recheck = undefined;
      this.dispatch();
    }, this.options.recheckMs ?? 250);
  }
}
