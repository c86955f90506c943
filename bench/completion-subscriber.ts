/**
 * A NATS subscriber like Chorus Engine's: it listens to every event of a run and notes when
 * each job's final event (`completed` / `failed` / `cancelled`) arrived. Benchmarks wait on
 * it instead of sleeping.
 */
import type { NatsConnection, Subscription } from 'nats';
import { z } from 'zod';
import { cloudEventSchema } from '../src/events/index.js';
import { nowMs } from './bench-environment.js';

const finalWords = new Set(['completed', 'failed', 'cancelled']);
const jobDataSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  comfy_prompt_id: z.string().nullable().optional(),
  backend: z.string().nullable().optional(),
});

export interface FinalEventArrival {
  jobId: string;
  state: string;
  promptId: string | null;
  backend: string | null;
  /** nowMs() when the message was handed to this subscriber. */
  at: number;
}

export class CompletionSubscriber {
  readonly arrivals = new Map<string, FinalEventArrival>();
  /** Every state event seen (progress excluded): transitions that reached NATS. */
  stateEvents = 0;
  private readonly subscription: Subscription;
  private waiters: Array<{ ready: () => boolean; resolve: () => void }> = [];

  constructor(nc: NatsConnection, subjectPrefix: string) {
    this.subscription = nc.subscribe(`${subjectPrefix}.events.>`, {
      callback: (error, msg) => {
        if (error) return;
        const at = nowMs();
        const word = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        if (word === 'progress') return;
        this.stateEvents++;
        if (!finalWords.has(word)) return;
        const envelope = cloudEventSchema.safeParse(msg.json());
        if (!envelope.success) return;
        const data = jobDataSchema.safeParse(envelope.data.data);
        if (!data.success || this.arrivals.has(data.data.id)) return;
        this.arrivals.set(data.data.id, {
          jobId: data.data.id,
          state: word,
          promptId: data.data.comfy_prompt_id ?? null,
          backend: data.data.backend ?? null,
          at,
        });
        this.settleWaiters();
      },
    });
  }

  /** Resolves once `count` jobs have ended, or rejects after `timeoutMs`. */
  waitForFinal(count: number, timeoutMs: number): Promise<void> {
    return this.waitUntil(
      () => this.arrivals.size >= count,
      timeoutMs,
      () => `only ${this.arrivals.size} of ${count} jobs ended within ${timeoutMs} ms`,
    );
  }

  /** Resolves once this job's final event has arrived. */
  waitForJob(jobId: string, timeoutMs: number): Promise<void> {
    return this.waitUntil(
      () => this.arrivals.has(jobId),
      timeoutMs,
      () => `job ${jobId} did not end within ${timeoutMs} ms`,
    );
  }

  private waitUntil(ready: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(describe()));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ ready, resolve: done });
    });
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  private settleWaiters(): void {
    const ready = this.waiters.filter((w) => w.ready());
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const waiter of ready) waiter.resolve();
  }
}
