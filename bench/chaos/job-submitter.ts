/**
 * Submits jobs over the HTTP API continuously, whatever state the service is in. A job
 * counts as ACCEPTED only when the service answered with it. A request whose answer was lost
 * (the process was killed mid-request) is in doubt: it is sent again with the same
 * `request_id` once the service is back, and the idempotency key says whether it existed.
 */
import { z } from 'zod';

const acceptedReplySchema = z.looseObject({ ok: z.literal(true), job: z.looseObject({ id: z.string() }) });
const refusedReplySchema = z.looseObject({ ok: z.literal(false), error: z.looseObject({ code: z.string() }) });

export interface AcceptedJob {
  requestId: string;
  jobId: string;
  conversationId: string;
}

export interface SubmitterCounts {
  /** Submissions sent to a running service. */
  attempted: number;
  /** Not sent: the service was down (killed, or still booting). */
  skippedWhileDown: number;
  accepted: number;
  /** Refused by the service with an error code (e.g. QUEUE_FULL), by code. */
  refused: Record<string, number>;
  /** No answer (service down or killed mid-request); retried with the same request_id. */
  unanswered: number;
  /** In-doubt requests the retry showed had been accepted before the kill. */
  acceptedOnRetry: number;
}

export class JobSubmitter {
  readonly accepted = new Map<string, AcceptedJob>();
  private readonly inDoubt = new Map<string, string>(); // request_id → conversation_id
  private next = 0;
  readonly counts: SubmitterCounts = { attempted: 0, skippedWhileDown: 0, accepted: 0, refused: {}, unanswered: 0, acceptedOnRetry: 0 };

  constructor(
    private readonly baseUrl: () => string | undefined,
    private readonly options: { workflow: string; conversations: number; runTag: string },
  ) {}

  /** One new submission (and, first, any in-doubt retries while the service is up). */
  async submitNext(): Promise<void> {
    await this.retryInDoubt();
    const n = this.next++;
    const requestId = `${this.options.runTag}-r${n}`;
    const conversationId = `chaos-c${n % this.options.conversations}`;
    await this.send(requestId, conversationId, false);
  }

  /** Resends every in-doubt request until each has a definite answer (settle phase). */
  async retryInDoubt(): Promise<void> {
    if (this.baseUrl() === undefined) return;
    for (const [requestId, conversationId] of [...this.inDoubt]) await this.send(requestId, conversationId, true);
  }

  get inDoubtCount(): number {
    return this.inDoubt.size;
  }

  private async send(requestId: string, conversationId: string, retry: boolean): Promise<void> {
    const base = this.baseUrl();
    if (base === undefined) {
      // Nothing was sent: not in doubt, simply not accepted.
      if (!retry) this.counts.skippedWhileDown++;
      return;
    }
    if (!retry) this.counts.attempted++;
    const body = {
      request_id: requestId,
      conversation_id: conversationId,
      workflow: this.options.workflow,
      prompt: `chaos test image ${requestId}`,
    };
    let reply: unknown;
    try {
      const res = await fetch(`${base}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      reply = await res.json();
    } catch {
      if (!retry) this.counts.unanswered++;
      this.inDoubt.set(requestId, conversationId);
      return;
    }
    this.inDoubt.delete(requestId);
    const accepted = acceptedReplySchema.safeParse(reply);
    if (accepted.success) {
      this.accepted.set(accepted.data.job.id, { requestId, jobId: accepted.data.job.id, conversationId });
      this.counts.accepted = this.accepted.size;
      if (retry) this.counts.acceptedOnRetry++;
      return;
    }
    const refused = refusedReplySchema.safeParse(reply);
    const code = refused.success ? refused.data.error.code : 'UNPARSEABLE_REPLY';
    this.counts.refused[code] = (this.counts.refused[code] ?? 0) + 1;
  }
}
