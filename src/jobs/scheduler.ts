/**
 * Slots on ComfyUI backends. A job holds a slot on its backend from the moment it is
 * granted (just before submission) until it leaves ComfyUI, so with max_concurrent ≥ 2
 * ComfyUI always holds the next prompt and the GPU never idles between jobs. Waiters are
 * served by priority, FIFO within a priority; every operation is O(1) in the number of
 * waiting jobs (O(backends) to choose one).
 *
 * With several instances on one database (`shared`), a grant is also a row in
 * `backend_slots` (SlotLedger): the backend is chosen by every instance's use together and
 * the slot claimed atomically, so `max_concurrent` holds across instances. A slot freed by
 * another instance is noticed by polling while jobs wait (there is no cross-instance wake-up;
 * `pollMs` bounds the delay).
 *
 * Model affinity: each backend remembers the model files of the last prompt it was given.
 * When a slot frees and the oldest waiter of the top priority needs other models, a waiter
 * of the same priority whose models match may go first (a model swap costs seconds on a
 * GPU). Bounded: a waiter is passed over at most `maxSkip` times, and never once
 * `maxWaitMs` have gone by since it was first passed over; priority always wins.
 *
 * Pinned waiters: a job whose prompt one backend may already hold (restored while it was
 * being sent, and that backend could not be asked) may be granted a slot on that backend only,
 * whatever the others offer; it waits while that backend is down or full. Such waiters are
 * few and kept apart from the priority queues, and go first when their backend has room
 * (they held a slot there before the restart).
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { Clock } from './clock.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';
import type { BackendPoolPort } from './job-runtime-ports.js';
import type { SlotLedger } from '../contracts/instance-coordination-port.js';

interface Waiter {
  jobId: string;
  priority: number;
  /** The job's model files, sorted and joined: equal keys run without a model swap. */
  modelsKey: string;
  /** Times a younger waiter went first, and when that first happened (affinity bound). */
  passedOver: number;
  firstPassedAt: number | null;
  resolve(backend: string): void;
  reject(error: unknown): void;
  done: boolean;
  /** Its actor is stopped (the job is only a row): a grant wakes it instead of resolving a promise. */
  parked: boolean;
  /** The one backend it may be granted (null: any). */
  only: string | null;
}

/** FIFO with O(1) push/shift (array + head index, compacted now and then). */
class WaiterQueue {
  private items: Waiter[] = [];
  private head = 0;
  push(w: Waiter): void {
    this.items.push(w);
  }
  /** Back to the front: its grant fell through (another instance took the slot first). */
  putBack(w: Waiter): void {
    if (this.head > 0) this.items[--this.head] = w;
    else this.items.unshift(w);
  }
  /** Up to `limit` waiters still waiting, oldest first, with their positions. */
  peek(limit: number): Array<{ waiter: Waiter; index: number }> {
    const found: Array<{ waiter: Waiter; index: number }> = [];
    for (let i = this.head; i < this.items.length && found.length < limit; i++) {
      const waiter = this.items[i]!;
      if (!waiter.done) found.push({ waiter, index: i });
    }
    return found;
  }
  /** Takes the waiter at `index` out, keeping the order of the ones before it (O(distance)). */
  takeAt(index: number): Waiter | undefined {
    const waiter = this.items[index]!;
    for (let i = index; i > this.head; i--) this.items[i] = this.items[i - 1]!;
    this.items[this.head] = waiter;
    return this.shift();
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
  /** Slots shared with other instances through the database. */
  shared?: { ledger: SlotLedger; instanceId: string; pollMs?: number; logger?: StructuredLogger };
  /** Model affinity bounds (`comfyui.affinity_max_skip`, `affinity_max_wait_seconds`); absent or 0: arrival order. */
  affinity?: { maxSkip: number; maxWaitMs: number };
  /** A backend has nothing of ours in it and nothing waiting (GPU handoff: a burst ended). */
  onIdle?(backend: string): void;
  /** A parked job (no live actor) was granted a slot: revive its actor, whose acquire takes it. */
  wakeParked?(jobId: string): void;
}

/** How far behind the oldest waiter affinity looks for a job whose models match. */
const AFFINITY_WINDOW = 64;

/** How a slot was granted, kept for the job's debug document until the job reads it. */
export interface AffinityGrant {
  /** The job's models were those the backend last ran. */
  matched: boolean;
  /** Older waiters this grant went ahead of. */
  wentAhead: number;
  /** Times younger waiters went ahead of this job. */
  passedOver: number;
}

/** Per backend, for /metrics: grants, those that went ahead of older waiters, model switches. */
export interface AffinityCount {
  backend: string;
  grants: number;
  ahead: number;
  switches: number;
}

export class Scheduler {
  private readonly slots = new Map<string, string>(); // jobId → backend
  private readonly used = new Map<string, number>(); // backend → slots in use
  private readonly lastModels = new Map<string, string>(); // backend → models key of its last grant
  private readonly grants = new Map<string, AffinityGrant>(); // jobId → how its slot was granted
  private readonly affinityCounts = new Map<string, AffinityCount>();
  private readonly queues = new Map<number, WaiterQueue>();
  /** Waiters that may only be granted one backend (never in `queues`); done ones are dropped lazily. */
  private pinned: Waiter[] = [];
  /** Every waiter still waiting, by job: parking and unparking find theirs here. */
  private readonly waiters = new Map<string, Waiter>();
  /** Slots granted to parked jobs whose actor is being revived: its acquire takes it at once. */
  private readonly revived = new Map<string, string>();
  /** Jobs revived to end (deadline, cancel): their acquire never resolves. */
  private readonly heldBack = new Set<string>();
  /** Priorities with a queue, highest first (at most 201 distinct values). */
  private priorities: number[] = [];
  private waitingCount = 0;
  private recheck: unknown = undefined;
  private closed = false;
  private dispatching = false;
  /** Shared mode: a dispatch pass is running; `dispatchAgain` asks for one more after it. */
  private dispatchAgain = false;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    private readonly pool: BackendPoolPort,
    private readonly options: SchedulerOptions,
  ) {
    this.unsubscribe = pool.onHealthChange?.(() => this.dispatch());
  }

  /**
   * Resolves with the backend name once a slot is granted; abort to stop waiting. `only`: grant
   * that backend and no other (a backend the pool does not know is ignored: the caller decides
   * what an unknown one means before asking).
   */
  acquire(jobId: string, priority: number, signal?: AbortSignal, models: readonly string[] = [], only?: string): Promise<string> {
    if (this.closed) return Promise.reject(new ChorusError(ErrorCode.INTERNAL, 'the scheduler is stopped'));
    // A revived parked job: its slot was granted while it was only a row.
    const granted = this.revived.get(jobId);
    if (granted !== undefined) {
      this.revived.delete(jobId);
      return Promise.resolve(granted);
    }
    // Revived to time out or be cancelled: the machine leaves this state on its own.
    if (this.heldBack.delete(jobId)) return new Promise<string>(() => undefined);
    return new Promise<string>((resolve, reject) => {
      const waiter = this.enqueue(jobId, priority, models, resolve, reject, only);
      signal?.addEventListener(
        'abort',
        () => {
          // A parked waiter outlives its actor (stopping the actor aborts this signal).
          if (waiter.done || waiter.parked) return;
          this.drop(waiter);
        },
        { once: true },
      );
      // Granted on a later microtask: xstate starts this invoke before its observers see
      // the transition, and the runtime's slot bookkeeping for that transition runs first.
      queueMicrotask(() => this.dispatch());
    });
  }

  /**
   * The job's actor is about to stop: its waiter keeps its place, and a grant calls the
   * `wakeParked` option (the slot is counted and handed to the revived actor's acquire).
   * false: nothing to park (already granted, or not waiting).
   */
  park(jobId: string): boolean {
    const waiter = this.waiters.get(jobId);
    if (waiter === undefined || waiter.done) return false;
    waiter.parked = true;
    // The actor's promise callbacks would keep the whole stopped actor alive.
    waiter.resolve = noop;
    waiter.reject = noop;
    return true;
  }

  /** A job restored as a row only (restart): queued as a parked waiter (`only`: as for acquire). */
  enqueueParked(jobId: string, priority: number, models: readonly string[], only?: string): void {
    if (this.closed || this.waiters.has(jobId)) return;
    const waiter = this.enqueue(jobId, priority, models, noop, noop, only);
    waiter.parked = true;
    queueMicrotask(() => this.dispatch());
  }

  /**
   * Takes a parked job out of the queue so its actor can be revived to end (deadline,
   * cancel): its acquire will then never be granted. false: it was not parked here.
   */
  unpark(jobId: string): boolean {
    const waiter = this.waiters.get(jobId);
    if (waiter === undefined || waiter.done || !waiter.parked) return false;
    this.drop(waiter);
    this.heldBack.add(jobId);
    return true;
  }

  /**
   * Slots granted to parked jobs whose actor never came to take them (the service is
   * stopping): given back, and in shared mode freed in the database before this returns, so
   * the job's row (still `queued.waiting`) and the slot table agree for whoever drives it next.
   */
  async releaseUntaken(): Promise<void> {
    const jobIds = [...this.revived.keys()];
    for (const jobId of jobIds) this.forget(jobId);
    const shared = this.options.shared;
    if (!shared) return;
    await Promise.all(
      jobIds.map((jobId) => shared.ledger.releaseSlot(jobId, shared.instanceId).catch((error: unknown) => this.logShared(error, 'releasing a slot failed'))),
    );
  }

  /** Jobs waiting here with their actor stopped. */
  parkedCount(): number {
    let parked = 0;
    for (const waiter of this.waiters.values()) if (waiter.parked) parked++;
    return parked;
  }

  /** Whether the job waits here with its actor stopped. */
  isParked(jobId: string): boolean {
    return this.waiters.get(jobId)?.parked === true;
  }

  private enqueue(
    jobId: string,
    priority: number,
    models: readonly string[],
    resolve: (backend: string) => void,
    reject: (error: unknown) => void,
    only?: string,
  ): Waiter {
    const modelsKey = internKey(models);
    const pinnedTo = only !== undefined && this.pool.get(only) !== undefined ? only : null;
    const waiter: Waiter = { jobId, priority, modelsKey, passedOver: 0, firstPassedAt: null, resolve, reject, done: false, parked: false, only: pinnedTo };
    // A job holds at most one slot: asking again (a resubmission) gives the old one back.
    // Shared: the claim itself frees the old row in its transaction; a separate release
    // racing it on another connection could free the new slot instead.
    if (this.options.shared) this.forget(jobId);
    else this.release(jobId);
    const earlier = this.waiters.get(jobId);
    if (earlier !== undefined && !earlier.done) this.drop(earlier);
    this.waiters.set(jobId, waiter);
    if (waiter.only === null) this.queueFor(priority).push(waiter);
    else this.pinned.push(waiter);
    this.waitingCount++;
    return waiter;
  }

  /** Out of the queue (lazily: the queue skips done waiters). */
  private drop(waiter: Waiter): void {
    waiter.done = true;
    this.waitingCount--;
    if (this.waiters.get(waiter.jobId) === waiter) this.waiters.delete(waiter.jobId);
  }

  /** Hands a granted slot to its waiter: a promise, or a parked job's wake-up. */
  private grant(waiter: Waiter, backend: string, ahead: number): void {
    this.drop(waiter);
    this.countSlot(waiter.jobId, backend);
    this.recordGrant(waiter, backend, ahead);
    if (waiter.parked) {
      this.revived.set(waiter.jobId, backend);
      this.options.wakeParked?.(waiter.jobId);
    } else {
      waiter.resolve(backend);
    }
  }

  /**
   * Counts a job against a backend without waiting (restore: it is already in ComfyUI).
   * Shared: the job's slot row (kept through a takeover) now belongs to this instance.
   */
  occupy(jobId: string, backend: string): void {
    if (this.slots.has(jobId)) return;
    this.countSlot(jobId, backend);
    const shared = this.options.shared;
    if (shared) void shared.ledger.adoptSlot(jobId, shared.instanceId).catch((error: unknown) => this.logShared(error, 'adopting a slot failed'));
  }

  /** Idempotent: a job that holds no slot is ignored. */
  release(jobId: string): void {
    this.heldBack.delete(jobId);
    const backend = this.slots.get(jobId);
    if (backend === undefined || !this.forget(jobId)) return;
    const shared = this.options.shared;
    if (!shared) {
      this.dispatch();
      return void this.noticeIdle(backend);
    }
    void shared.ledger
      .releaseSlot(jobId, shared.instanceId)
      .catch((error: unknown) => this.logShared(error, 'releasing a slot failed; it frees itself when the job ends'))
      .finally(() => {
        this.dispatch();
        this.noticeIdle(backend);
      });
  }

  /** How the job's slot was granted (model affinity), once: the entry is dropped when read. */
  takeGrant(jobId: string): AffinityGrant | undefined {
    const grant = this.grants.get(jobId);
    this.grants.delete(jobId);
    return grant;
  }

  affinityCounters(): AffinityCount[] {
    return [...this.affinityCounts.values()].map((c) => ({ ...c }));
  }

  private noticeIdle(backend: string): void {
    if (this.inUse(backend) === 0 && this.waitingCount === 0 && !this.closed) this.options.onIdle?.(backend);
  }

  /** Drops the job's slot here only (another instance took the job over with its slot). */
  forget(jobId: string): boolean {
    const backend = this.slots.get(jobId);
    if (backend === undefined) return false;
    this.slots.delete(jobId);
    this.grants.delete(jobId);
    this.revived.delete(jobId);
    this.used.set(backend, (this.used.get(backend) ?? 1) - 1);
    return true;
  }

  private countSlot(jobId: string, backend: string): void {
    this.slots.set(jobId, backend);
    this.used.set(backend, (this.used.get(backend) ?? 0) + 1);
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
    this.waiters.clear();
    this.pinned = [];
    this.revived.clear();
    this.heldBack.clear();
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

  /** The next waiter for this backend: the top priority first, then model affinity, then age. */
  private nextWaiter(backend: string): { waiter: Waiter; ahead: number } | undefined {
    for (const priority of this.priorities) {
      const queue = this.queues.get(priority)!;
      const picked = this.pickByAffinity(queue, backend);
      if (picked) return picked;
      const waiter = queue.shift();
      if (waiter) return { waiter, ahead: 0 };
    }
    return undefined;
  }

  /**
   * A waiter whose models the backend holds, if older ones may still be passed over; the
   * first older one that may not (passed over `maxSkip` times, or for `maxWaitMs`) goes instead.
   * undefined: arrival order (no affinity, nothing known about the backend, or no match).
   */
  private pickByAffinity(queue: WaiterQueue, backend: string): { waiter: Waiter; ahead: number } | undefined {
    const affinity = this.options.affinity;
    const loaded = this.lastModels.get(backend);
    if (!affinity || affinity.maxSkip === 0 || loaded === undefined) return undefined;
    const now = this.options.clock.now();
    const candidates = queue.peek(AFFINITY_WINDOW);
    let chosen = -1;
    for (let i = 0; i < candidates.length; i++) {
      const { waiter } = candidates[i]!;
      if (waiter.modelsKey === loaded) {
        chosen = i;
        break;
      }
      const mayPass = waiter.passedOver < affinity.maxSkip && (waiter.firstPassedAt === null || now - waiter.firstPassedAt < affinity.maxWaitMs);
      if (!mayPass) {
        chosen = i;
        break;
      }
    }
    if (chosen <= 0) return undefined;
    for (const { waiter } of candidates.slice(0, chosen)) {
      waiter.passedOver++;
      waiter.firstPassedAt ??= now;
    }
    const waiter = queue.takeAt(candidates[chosen]!.index);
    return waiter && { waiter, ahead: chosen };
  }

  /** Bookkeeping of a grant: the backend's models now, and what affinity did. */
  private recordGrant(waiter: Waiter, backend: string, wentAhead: number): void {
    const previous = this.lastModels.get(backend);
    this.lastModels.set(backend, waiter.modelsKey);
    this.grants.set(waiter.jobId, { matched: previous === waiter.modelsKey, wentAhead, passedOver: waiter.passedOver });
    const count = this.affinityCounts.get(backend) ?? { backend, grants: 0, ahead: 0, switches: 0 };
    count.grants++;
    if (wentAhead > 0) count.ahead++;
    if (previous !== undefined && previous !== waiter.modelsKey) count.switches++;
    this.affinityCounts.set(backend, count);
  }

  private dispatch(): void {
    if (this.options.shared) {
      void this.dispatchShared();
      return;
    }
    if (this.dispatching || this.closed) return;
    this.dispatching = true;
    try {
      this.grantPinned((name) => this.inUse(name));
      while (this.waitingCount > 0) {
        const backend = this.pool.choose((name) => this.inUse(name));
        if (!backend) {
          // All full: a release will dispatch. Some unhealthy: look again in a while too,
          // in case that backend recovers without a health event.
          if (this.pool.list().some((b) => !b.health().healthy)) this.scheduleRecheck();
          return;
        }
        const next = this.nextWaiter(backend.name);
        if (!next) return;
        this.grant(next.waiter, backend.name, next.ahead);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** As dispatch, with every instance's use read from, and each grant claimed in, the database. */
  private async dispatchShared(): Promise<void> {
    const shared = this.options.shared!;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        // Read every instance's use once per round and count our own grants into it; read
        // again only when a claim shows another instance got there first.
        let inUse: Map<string, number> | undefined;
        if (this.pinnedWaiting()) {
          inUse = await shared.ledger.slotsInUse();
          if (!(await this.claimPinned(shared, inUse))) inUse = undefined;
        }
        while (this.waitingCount > 0 && !this.closed) {
          inUse ??= await shared.ledger.slotsInUse();
          const counts = inUse;
          const backend = this.pool.choose((name) => counts.get(name) ?? 0);
          if (!backend) {
            this.scheduleRecheck(shared.pollMs ?? 50);
            break;
          }
          const next = this.nextWaiter(backend.name);
          if (!next) break;
          const { waiter } = next;
          const claimed = await shared.ledger.claimSlot(backend.name, waiter.jobId, shared.instanceId, backend.maxConcurrent);
          if (waiter.done) {
            // Cancelled while claiming: give the slot straight back.
            if (claimed) await shared.ledger.releaseSlot(waiter.jobId, shared.instanceId);
            inUse = undefined;
            continue;
          }
          if (!claimed) {
            // Another instance took that slot between our count and our claim: count again.
            this.queueFor(this.priorityOf(waiter)).putBack(waiter);
            inUse = undefined;
            continue;
          }
          counts.set(backend.name, (counts.get(backend.name) ?? 0) + 1);
          this.grant(waiter, backend.name, next.ahead);
        }
      } while (this.dispatchAgain && !this.closed);
    } catch (error) {
      this.logShared(error, 'slot dispatch failed; trying again');
      this.scheduleRecheck(shared.pollMs ?? 50);
    } finally {
      this.dispatching = false;
    }
  }

  /** Whether a pinned waiter still waits (done ones are dropped here). */
  private pinnedWaiting(): boolean {
    if (this.pinned.length > 0) this.pinned = this.pinned.filter((waiter) => !waiter.done);
    return this.pinned.length > 0;
  }

  /** A pinned waiter's backend when it is healthy and has a free slot, given the use on each. */
  private roomFor(waiter: Waiter, inUse: (name: string) => number): string | undefined {
    const backend = waiter.only === null ? undefined : this.pool.get(waiter.only);
    if (!backend?.health().healthy) return undefined;
    return backend.maxConcurrent - inUse(backend.name) > 0 ? backend.name : undefined;
  }

  /** Grants each pinned waiter whose backend has room; the rest wait (looked at again later if it is down). */
  private grantPinned(inUse: (name: string) => number): void {
    if (!this.pinnedWaiting()) return;
    let down = false;
    for (const waiter of [...this.pinned]) {
      const backend = this.roomFor(waiter, inUse);
      if (backend !== undefined) this.grant(waiter, backend, 0);
      else if (!this.pool.get(waiter.only!)?.health().healthy) down = true;
    }
    this.pinned = this.pinned.filter((waiter) => !waiter.done);
    if (down) this.scheduleRecheck();
  }

  /**
   * Shared: grantPinned with each grant claimed in the database (counted into `inUse`).
   * false: a claim fell through (another instance was first) and `inUse` is stale.
   */
  private async claimPinned(shared: NonNullable<SchedulerOptions['shared']>, inUse: Map<string, number>): Promise<boolean> {
    let fresh = true;
    let waitingOnBackend = false;
    for (const waiter of [...this.pinned]) {
      if (waiter.done || this.closed) continue;
      const name = this.roomFor(waiter, (backend) => inUse.get(backend) ?? 0);
      if (name === undefined) {
        waitingOnBackend = true;
        continue;
      }
      const claimed = await shared.ledger.claimSlot(name, waiter.jobId, shared.instanceId, this.pool.get(name)!.maxConcurrent);
      if (waiter.done) {
        if (claimed) await shared.ledger.releaseSlot(waiter.jobId, shared.instanceId);
        fresh = false;
        continue;
      }
      if (!claimed) {
        waitingOnBackend = true;
        fresh = false;
        continue;
      }
      inUse.set(name, (inUse.get(name) ?? 0) + 1);
      this.grant(waiter, name, 0);
    }
    this.pinned = this.pinned.filter((waiter) => !waiter.done);
    // Down, full, or full by another instance's use: slots freed elsewhere are only seen by polling.
    if (waitingOnBackend) this.scheduleRecheck(shared.pollMs ?? 50);
    return fresh;
  }

  private priorityOf(waiter: Waiter): number {
    return waiter.priority;
  }

  private logShared(error: unknown, message: string): void {
    this.options.shared?.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, message);
  }

  /** Backends without a health event (or all full and unhealthy) are looked at again later. */
  private scheduleRecheck(ms = this.options.recheckMs ?? 250): void {
    if (this.recheck !== undefined || this.closed) return;
    this.recheck = this.options.clock.setTimeout(() => {
      this.recheck = undefined;
      this.dispatch();
    }, ms);
  }
}

const noop = (): void => undefined;

/**
 * One string per distinct set of model files: thousands of waiting jobs on the same models
 * share it instead of each holding its own copy.
 */
const modelKeys = new Map<string, string>();
function internKey(models: readonly string[]): string {
  if (models.length === 0) return '';
  const key = [...models].sort().join('\n');
  const known = modelKeys.get(key);
  if (known !== undefined) return known;
  if (modelKeys.size < 4096) modelKeys.set(key, key);
  return key;
}
