/**
 * The two NATS subscribers whose view the campaign checks: a core-NATS subscription that
 * listens during the whole run (through NATS restarts), and an ordered JetStream consumer
 * that reads the stream from its first message after the run. Progress ticks are ephemeral
 * by design and are counted apart.
 */
import { connect, type NatsConnection, type Subscription } from 'nats';
import { z } from 'zod';

const transitionEventSchema = z.object({
  id: z.string(),
  data: z.looseObject({ id: z.string(), seq: z.number().int(), state: z.string().optional() }),
});

export interface ReceivedEvent {
  eventId: string;
  jobId: string;
  seq: number;
  state: string | undefined;
  /** Stream only: when nats-server stored it (ms since the epoch, this host's clock). */
  storedAt?: number;
}

/** A time the live subscriber was not connected: from its disconnect to its reconnect (open while it lasts). */
export interface OfflineWindow {
  from: number;
  to: number | undefined;
}

function parseEvent(subject: string, payload: Uint8Array): ReceivedEvent | 'progress' | 'unparseable' {
  if (subject.endsWith('.progress')) return 'progress';
  try {
    const parsed = transitionEventSchema.safeParse(JSON.parse(Buffer.from(payload).toString('utf8')));
    if (!parsed.success) return 'unparseable';
    return { eventId: parsed.data.id, jobId: parsed.data.data.id, seq: parsed.data.data.seq, state: parsed.data.data.state };
  } catch {
    return 'unparseable';
  }
}

/** Core NATS, live: every transition event in arrival order. */
export class LiveEventRecorder {
  readonly events: ReceivedEvent[] = [];
  progress = 0;
  unparseable = 0;
  disconnects = 0;
  /** When this subscriber was disconnected (core NATS delivers it nothing then). */
  readonly offline: OfflineWindow[] = [];
  private constructor(
    private readonly nc: NatsConnection,
    private readonly sub: Subscription,
  ) {}

  static async start(server: string, prefix: string): Promise<LiveEventRecorder> {
    const nc = await connect({ servers: server, name: 'chaos-live-subscriber', maxReconnectAttempts: -1, reconnectTimeWait: 50, pingInterval: 1_000 });
    const sub = nc.subscribe(`${prefix}.events.>`);
    const recorder = new LiveEventRecorder(nc, sub);
    void recorder.pump();
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          recorder.disconnects++;
          recorder.offline.push({ from: Date.now(), to: undefined });
        } else if (status.type === 'reconnect') {
          const open = recorder.offline.at(-1);
          if (open && open.to === undefined) open.to = Date.now();
        }
      }
    })();
    return recorder;
  }

  private async pump(): Promise<void> {
    for await (const msg of this.sub) {
      const event = parseEvent(msg.subject, msg.data);
      if (event === 'progress') this.progress++;
      else if (event === 'unparseable') this.unparseable++;
      else this.events.push(event);
    }
  }

  async stop(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Reads the whole stream, in stream order, with an ordered consumer (no state on the server). */
export async function readEventStream(server: string, streamName: string): Promise<{ events: ReceivedEvent[]; streamMessages: number; unparseable: number }> {
  const nc = await connect({ servers: server, name: 'chaos-stream-reader' });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(streamName);
    const total = info.state.messages;
    const events: ReceivedEvent[] = [];
    let unparseable = 0;
    const consumer = await nc.jetstream().consumers.get(streamName);
    let read = 0;
    while (read < total) {
      const batch = await consumer.fetch({ max_messages: Math.min(1_000, total - read), expires: 5_000 });
      let got = 0;
      for await (const msg of batch) {
        got++;
        read++;
        const event = parseEvent(msg.subject, msg.data);
        if (event === 'progress' || event === 'unparseable') unparseable++;
        else events.push({ ...event, storedAt: msg.info.timestampNanos / 1e6 });
      }
      if (got === 0) throw new Error(`stream read stalled at ${read} of ${total} messages`);
    }
    return { events, streamMessages: total, unparseable };
  } finally {
    await nc.close();
  }
}
