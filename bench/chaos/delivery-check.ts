/**
 * "Every transition reached NATS once per subscriber, in order per job": compares what one
 * subscriber received with the transitions the database holds (`job_events`, the outbox —
 * the truth of what happened).
 */
import type { ReceivedEvent } from './event-recorder.js';

export interface PersistedEvent {
  jobId: string;
  seq: number;
}

export interface DeliveryResult {
  subscriber: string;
  expected: number;
  received: number;
  /** Expected events that arrived exactly once. */
  exactlyOnce: number;
  /** Event ids that arrived more than once (and how many extra copies in all). */
  duplicated: number;
  extraCopies: number;
  missing: number;
  /**
   * Live only: missing events nats-server stored while this subscriber was disconnected —
   * core NATS delivers nothing to a subscriber that is not connected (they are in the stream).
   * Reported, not counted in `missing`.
   */
  missedWhileOffline: number;
  /** Arrived but not in the database (should be impossible). */
  unknown: number;
  /** Jobs whose events arrived with a seq not greater than the one before. */
  outOfOrderJobs: number;
  /** Jobs whose received seqs are not 1..n without gaps (only meaningful for the stream). */
  gappedJobs: number;
  examples: { missing: string[]; duplicated: string[]; outOfOrder: string[]; gapped: string[] };
}

const key = (jobId: string, seq: number): string => `${jobId}:${seq}`;

export function checkDelivery(
  subscriber: string,
  persisted: PersistedEvent[],
  received: ReceivedEvent[],
  /** A missing event this subscriber could not have received (it was disconnected): excused. */
  excused: (eventId: string) => boolean = () => false,
): DeliveryResult {
  const expected = new Set(persisted.map((e) => key(e.jobId, e.seq)));
  const copies = new Map<string, number>();
  for (const event of received) copies.set(event.eventId, (copies.get(event.eventId) ?? 0) + 1);

  const absent = [...expected].filter((id) => !copies.has(id));
  const missing = absent.filter((id) => !excused(id));
  const duplicated = [...copies].filter(([, n]) => n > 1).map(([id]) => id);
  const unknown = [...copies.keys()].filter((id) => !expected.has(id));

  const seqsByJob = new Map<string, number[]>();
  for (const event of received) {
    const list = seqsByJob.get(event.jobId) ?? [];
    list.push(event.seq);
    seqsByJob.set(event.jobId, list);
  }
  const persistedCount = new Map<string, number>();
  for (const e of persisted) persistedCount.set(e.jobId, Math.max(persistedCount.get(e.jobId) ?? 0, e.seq));

  const outOfOrder: string[] = [];
  const gapped: string[] = [];
  // (A job missing an excused event shows a gap: gaps are judged on the stream only.)
  for (const [jobId, seqs] of seqsByJob) {
    // Order is judged on first arrivals: a late duplicate is counted above, not twice.
    const firsts = seqs.filter((s, i) => seqs.indexOf(s) === i);
    if (firsts.some((s, i) => i > 0 && s <= firsts[i - 1]!)) outOfOrder.push(jobId);
    const last = persistedCount.get(jobId) ?? 0;
    if (firsts.length !== last || firsts.some((s, i) => s !== i + 1)) gapped.push(jobId);
  }

  return {
    subscriber,
    expected: expected.size,
    received: received.length,
    exactlyOnce: [...expected].filter((id) => copies.get(id) === 1).length,
    duplicated: duplicated.length,
    extraCopies: duplicated.reduce((sum, id) => sum + (copies.get(id) ?? 1) - 1, 0),
    missing: missing.length,
    missedWhileOffline: absent.length - missing.length,
    unknown: unknown.length,
    outOfOrderJobs: outOfOrder.length,
    gappedJobs: gapped.length,
    examples: { missing: missing.slice(0, 5), duplicated: duplicated.slice(0, 5), outOfOrder: outOfOrder.slice(0, 5), gapped: gapped.slice(0, 5) },
  };
}

/**
 * The stream must hold every transition once, gapless and in order. A core-NATS subscriber
 * is promised every transition in order but at least once: a publish whose "sent" mark was
 * lost (SIGKILL between publish and mark, or an ack lost in a NATS restart) is published
 * again; JetStream drops the copy by its msg id, a plain subscription cannot, so it dedupes
 * by the CloudEvent id. Its duplicates are counted and reported, not judged.
 */
export function deliveryViolations(result: DeliveryResult, opts: { requireGapless: boolean; atLeastOnce: boolean }): number {
  return result.missing + result.unknown + result.outOfOrderJobs + (opts.atLeastOnce ? 0 : result.duplicated) + (opts.requireGapless ? result.gappedJobs : 0);
}
