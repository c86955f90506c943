/**
 * Events over NATS. With JetStream on the server, durable events go into a stream (created
 * or brought up to date at start) with the event id as `Nats-Msg-Id`, so a re-send after a
 * crash is dropped by the server and late subscribers can replay. Without JetStream they are
 * plain publishes, confirmed with a flush (delivered to whoever listens now, nothing kept).
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamClient, type JetStreamManager, type NatsConnection, type StreamConfig } from 'nats';
import { ChorusError, ErrorCode, messageOf } from '../errors/index.js';
import type { EventTransport } from './event-transport.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { allEventsSubject } from './event-subjects.js';

export interface EventStreamConfig {
  /** Subject prefix, e.g. `chorus.visual`: the stream holds `${prefix}.events.>`. */
  prefix: string;
  name: string;
  max_age_seconds: number;
  max_msgs: number;
  duplicate_window_seconds: number;
}

export interface NatsEventTransportOptions {
  logger?: StructuredLogger;
  /** Use JetStream when the server has it (default true). */
  jetstream?: boolean;
  /** How long to wait for a JetStream ack or a flush. */
  publishTimeoutMs?: number;
}

export class NatsEventTransport implements EventTransport {
  private connected = true;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly stream: EventStreamConfig,
    private readonly js: JetStreamClient | undefined,
    private readonly jsm: JetStreamManager | undefined,
    private readonly logger: StructuredLogger,
    private readonly publishTimeoutMs: number,
  ) {
    void this.trackConnection();
  }

  get kind(): 'nats-jetstream' | 'nats' {
    return this.js ? 'nats-jetstream' : 'nats';
  }

  static async create(nc: NatsConnection, stream: EventStreamConfig, options: NatsEventTransportOptions = {}): Promise<NatsEventTransport> {
    const logger = options.logger ?? silentLogger;
    let jsm: JetStreamManager | undefined;
    if (options.jetstream !== false) {
      try {
        jsm = await nc.jetstreamManager();
      } catch (error) {
        logger.warn({ err: messageOf(error) }, 'JetStream not available: events are plain NATS publishes (no replay, no dedupe)');
      }
    }
    if (jsm) await ensureStream(jsm, stream, logger);
    const js = jsm ? nc.jetstream() : undefined;
    return new NatsEventTransport(nc, stream, js, jsm, logger, options.publishTimeoutMs ?? 5_000);
  }

  async publishDurable(subject: string, payload: Uint8Array, msgId: string): Promise<void> {
    if (!this.isConnected()) throw notConnected();
    if (!this.js) {
      this.nc.publish(subject, payload);
      await withTimeout(this.nc.flush(), this.publishTimeoutMs);
      return;
    }
    try {
      await this.js.publish(subject, payload, { msgID: msgId, timeout: this.publishTimeoutMs });
    } catch (error) {
      // "no responders": nobody owns the subject, so the stream is gone (deleted by an
      // operator, or a server that lost its store). Recreate it; the caller retries.
      if (this.jsm && isNoResponders(error)) {
        await ensureStream(this.jsm, this.stream, this.logger).catch((e: unknown) =>
          this.logger.warn({ err: messageOf(e) }, 'could not recreate the event stream'),
        );
      }
      throw new ChorusError(ErrorCode.EVENTS_UNAVAILABLE, `event publish failed: ${messageOf(error)}`, {
        cause: error,
        recoverable: true,
        details: { subject, msgId },
      });
    }
  }

  publishEphemeral(subject: string, payload: Uint8Array): void {
    // While reconnecting nats.js would buffer it: progress is worth nothing late, drop it.
    if (!this.isConnected()) return;
    try {
      this.nc.publish(subject, payload);
    } catch (error) {
      this.logger.debug({ err: messageOf(error) }, 'progress publish dropped');
    }
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** The transport does not own the connection: the composition root closes it. */
  async close(): Promise<void> {
    this.connected = false;
  }

  private async trackConnection(): Promise<void> {
    try {
      for await (const status of this.nc.status()) {
        if (status.type === 'disconnect') this.connected = false;
        else if (status.type === 'reconnect') this.connected = true;
      }
    } catch {
      // The iterator ends when the connection closes; isConnected() covers that.
    }
  }
}

/** Creates the stream, or updates its subjects/limits if the config changed. */
export async function ensureStream(jsm: JetStreamManager, stream: EventStreamConfig, logger: StructuredLogger = silentLogger): Promise<void> {
  const wanted: Partial<StreamConfig> = {
    subjects: [allEventsSubject(stream.prefix)],
    max_age: nanos(stream.max_age_seconds * 1000),
    max_msgs: stream.max_msgs,
    duplicate_window: nanos(Math.min(stream.duplicate_window_seconds, stream.max_age_seconds) * 1000),
  };
  let exists = true;
  try {
    await jsm.streams.info(stream.name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    exists = false;
  }
  if (exists) {
    try {
      await jsm.streams.update(stream.name, wanted);
      logger.info({ stream: stream.name }, 'event stream up to date');
    } catch (error) {
      // A new subject prefix whose events another stream already holds: ours would not get them.
      if (isSubjectOverlap(error)) throw await subjectsTaken(jsm, stream, error);
      // An operator may have set limits the server will not change in place: the stream
      // still takes our events, so run with it rather than refuse to start.
      logger.warn({ stream: stream.name, err: messageOf(error) }, 'could not update the event stream; using it as it is');
    }
    return;
  }
  try {
    await jsm.streams.add({
      ...wanted,
      name: stream.name,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    });
  } catch (error) {
    if (isSubjectOverlap(error)) throw await subjectsTaken(jsm, stream, error);
    throw error;
  }
  logger.info({ stream: stream.name, subjects: wanted.subjects }, 'event stream created');
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: string; api_error?: { err_code?: number } };
  return e?.api_error?.err_code === 10059 || e?.code === '404';
}

/** JetStream's JSStreamSubjectOverlapErr: another stream already captures some of these subjects. */
function isSubjectOverlap(error: unknown): boolean {
  return (error as { api_error?: { err_code?: number } })?.api_error?.err_code === 10065;
}

/**
 * Our events' subjects belong to another stream: nats.stream.name was changed and
 * nats.subject_prefix was not (or two services share a prefix). A setting to fix, so
 * CONFIG_INVALID naming the stream that holds them, not a bug.
 */
async function subjectsTaken(jsm: JetStreamManager, stream: EventStreamConfig, cause: unknown): Promise<ChorusError> {
  const subject = allEventsSubject(stream.prefix);
  const holders: string[] = [];
  try {
    for await (const name of jsm.streams.names(subject)) if (name !== stream.name) holders.push(name);
  } catch {
    // The listing is a courtesy: the error below stands without it.
  }
  const named = holders.length > 0 ? holders.map((name) => `"${name}"`).join(', ') : 'another stream';
  const first = holders[0] ?? '<the existing stream>';
  return new ChorusError(
    ErrorCode.CONFIG_INVALID,
    `nats.stream.name is "${stream.name}", but the events of nats.subject_prefix "${stream.prefix}" (${subject}) already go to the stream ${named}`,
    {
      cause,
      details: { keys: ['nats.stream.name', 'nats.subject_prefix'], stream: stream.name, subjects: [subject], existing_streams: holders },
      suggestion: `Set nats.stream.name to "${first}" to keep using the stream that holds these events, or give this service another nats.subject_prefix. If that stream is no longer used, delete it (\`nats stream rm ${first}\`) and start again.`,
    },
  );
}

function isNoResponders(error: unknown): boolean {
  return (error as { code?: string })?.code === '503';
}

function notConnected(): ChorusError {
  return new ChorusError(ErrorCode.EVENTS_UNAVAILABLE, 'NATS is not connected; event kept in the outbox', { recoverable: true });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply from NATS within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
