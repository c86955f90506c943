import { describe, expect, it } from 'vitest';
import { InMemoryEventBus, OutboxRelay, type BusMessage, type EventTransport } from '../../src/events/index.js';
import type { JobEventRow, JobStore } from '../../src/contracts/job-store-port.js';

/** Just the outbox half of a JobStore: the relay uses nothing else. */
class OutboxOnlyStore {
  rows: JobEventRow[] = [];
  private nextId = 1;
  add(jobId: string, seq: number, state: string): void {
    this.rows.push({
      id: this.nextId++,
      job_id: jobId,
      seq,
      type: state,
      from_state: null,
      to_state: state,
      data: { job: { id: jobId, conversation_id: 'c1' } },
      at: new Date().toISOString(),
      published_at: null,
    });
  }
  async listUnpublished(limit: number): Promise<JobEventRow[]> {
    return this.rows.filter((r) => r.published_at === null).slice(0, limit);
  }
  async markPublished(ids: number[], at: string): Promise<void> {
    for (const r of this.rows) if (ids.includes(r.id)) r.published_at = at;
  }
  async getJob(id: string) {
    return id === 'known' ? { id, conversation_id: 'from-table' } : undefined;
  }
  asStore(): JobStore {
    return this as unknown as JobStore;
  }
}

/** Fails the n-th durable publish (1-based) once, to test ordering after a failure. */
class FlakyTransport implements EventTransport {
  readonly kind = 'memory' as const;
  private calls = 0;
  constructor(
    private readonly inner: InMemoryEventBus,
    private readonly failOn: Set<number>,
  ) {}
  async publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void> {
    this.calls++;
    if (this.failOn.has(this.calls)) throw new Error(`injected failure on publish ${this.calls}`);
    await this.inner.publishDurable(subject, payload, msgId);
  }
  publishEphemeral(): void {}
  isConnected(): boolean {
    return this.inner.isConnected();
  }
  async close(): Promise<void> {}
}

const ids = (got: BusMessage[]) => got.map((m) => m.msgId);

describe('OutboxRelay', () => {
  it('publishes every row in outbox order with id job:seq and marks them', async () => {
    const store = new OutboxOnlyStore();
    for (let seq = 1; seq <= 5; seq++) {
      store.add('a', seq, 'queued');
      store.add('b', seq, 'queued');
    }
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('p.events.>', (m) => got.push(m));
    const relay = new OutboxRelay({ store: store.asStore(), transport: bus, subjectPrefix: 'p', source: 't', batchSize: 3 });
    await relay.drain();
    expect(ids(got)).toEqual(store.rows.map((r) => `${r.job_id}:${r.seq}`));
    expect(store.rows.every((r) => r.published_at !== null)).toBe(true);
    expect(got[0]?.subject).toBe('p.events.c1.a.queued');
    expect(relay.published).toBe(10);
  });

  it('stops at the first failure and resumes in order, never skipping ahead', async () => {
    const store = new OutboxOnlyStore();
    for (let seq = 1; seq <= 4; seq++) store.add('a', seq, 'processing');
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('>', (m) => got.push(m));
    const relay = new OutboxRelay({ store: store.asStore(), transport: new FlakyTransport(bus, new Set([2])), subjectPrefix: 'p', source: 't' });
    await relay.drain();
    expect(ids(got)).toEqual(['a:1']);
    expect(store.rows.filter((r) => r.published_at).map((r) => r.seq)).toEqual([1]);
    await relay.drain();
    expect(ids(got)).toEqual(['a:1', 'a:2', 'a:3', 'a:4']);
  });

  it('waits while the transport is down and delivers everything once it is back', async () => {
    const store = new OutboxOnlyStore();
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('>', (m) => got.push(m));
    bus.setConnected(false);
    const relay = new OutboxRelay({ store: store.asStore(), transport: bus, subjectPrefix: 'p', source: 't', retryMs: 5, maxRetryMs: 20, pollMs: 10_000 });
    relay.start();
    store.add('a', 1, 'queued');
    store.add('a', 2, 'submitted');
    relay.kick();
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(0);
    bus.setConnected(true);
    await expect.poll(() => got.length, { timeout: 2000 }).toBe(2);
    store.add('a', 3, 'completed');
    relay.kick(); // no poll for 10 s: only the kick can deliver this one in time
    await expect.poll(() => ids(got), { timeout: 2000 }).toEqual(['a:1', 'a:2', 'a:3']);
    await relay.stop();
  });

  it('takes the conversation from the jobs table when a row lacks the job view', async () => {
    const store = new OutboxOnlyStore();
    store.add('known', 1, 'queued');
    store.add('ghost', 1, 'queued');
    for (const r of store.rows) r.data = {};
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('>', (m) => got.push(m));
    await new OutboxRelay({ store: store.asStore(), transport: bus, subjectPrefix: 'p', source: 't' }).drain();
    expect(got.map((m) => m.subject)).toEqual(['p.events.from-table.known.queued', 'p.events._.ghost.queued']);
  });

  it('a re-sent row (crash between publish and mark) is deduplicated by its id', async () => {
    const store = new OutboxOnlyStore();
    store.add('a', 1, 'queued');
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('>', (m) => got.push(m));
    const relay = new OutboxRelay({ store: store.asStore(), transport: bus, subjectPrefix: 'p', source: 't' });
    await relay.drain();
    store.rows[0]!.published_at = null; // the mark was lost
    await relay.drain();
    expect(ids(got)).toEqual(['a:1']);
  });

  it('keeps each job in order when one job fails while other jobs publish concurrently', async () => {
    const store = new OutboxOnlyStore();
    for (let seq = 1; seq <= 4; seq++) for (const job of ['a', 'b', 'c']) store.add(job, seq, 'processing');
    const bus = new InMemoryEventBus();
    const got: BusMessage[] = [];
    bus.subscribe('>', (m) => got.push(m));
    const transport = new SlowTransport(bus, new Set(['a:2']));
    const relay = new OutboxRelay({ store: store.asStore(), transport, subjectPrefix: 'p', source: 't', maxInFlight: 2 });
    await relay.drain();
    // Job a stopped at its failed row; b and c went through; never more than 2 in flight,
    // never two of one job at once, and the two lanes really overlapped.
    expect(ids(got).filter((id) => id?.startsWith('a:'))).toEqual(['a:1']);
    expect(ids(got).filter((id) => id?.startsWith('b:'))).toEqual(['b:1', 'b:2', 'b:3', 'b:4']);
    expect(ids(got).filter((id) => id?.startsWith('c:'))).toEqual(['c:1', 'c:2', 'c:3', 'c:4']);
    expect(transport.maxInFlight).toBe(2);
    expect(transport.sameJobOverlap).toBe(false);
    expect(
      store.rows
        .filter((r) => r.published_at)
        .map((r) => `${r.job_id}:${r.seq}`)
        .sort(),
    ).toEqual(['a:1', 'b:1', 'b:2', 'b:3', 'b:4', 'c:1', 'c:2', 'c:3', 'c:4']);
    // The retry resumes job a at its failed row, in order, and re-sends nothing else.
    await relay.drain();
    expect(ids(got).filter((id) => id?.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3', 'a:4']);
    expect(got).toHaveLength(12);
    expect(transport.attempts.filter((id) => id === 'a:3')).toHaveLength(1);
  });
});

/** Acks after a macrotask (so lanes overlap), fails listed msgIds once, records overlap. */
class SlowTransport implements EventTransport {
  readonly kind = 'memory' as const;
  readonly attempts: string[] = [];
  maxInFlight = 0;
  sameJobOverlap = false;
  private readonly inFlight = new Set<string>();
  constructor(
    private readonly inner: InMemoryEventBus,
    private readonly failOnce: Set<string>,
  ) {}
  async publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void> {
    const job = msgId.split(':')[0]!;
    if (this.inFlight.has(job)) this.sameJobOverlap = true;
    this.inFlight.add(job);
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight.size);
    this.attempts.push(msgId);
    try {
      await new Promise((r) => setTimeout(r, 2));
      if (this.failOnce.delete(msgId)) throw new Error(`injected failure on ${msgId}`);
      await this.inner.publishDurable(subject, payload, msgId);
    } finally {
      this.inFlight.delete(job);
    }
  }
  publishEphemeral(): void {}
  isConnected(): boolean {
    return this.inner.isConnected();
  }
  async close(): Promise<void> {}
}
