/**
 * The whole service in one process, as `serve` and `demo` run it: the job runtime (store,
 * backends, JobService), the event side (outbox relay → NATS or the in-process bus,
 * throttled progress), the NATS command service and the HTTP API with the inspector.
 * Start is all-or-nothing: the driver lock, the HTTP port and NATS (when it answers) are
 * taken before any job is restored, and a failure undoes what was started, newest first.
 * Everything it opens, `stop()` closes, in the order that loses nothing. Both go on past a
 * part that fails to stop (src/app/stop-sequence.ts): the rest is still stopped.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from 'nats';
import type { InspectionEvent } from 'xstate';
import { startCommandService, type CommandService } from '../commands/index.js';
import type { ResolvedConfig } from '../config/index.js';
import { InMemoryEventBus, NatsEventTransport, type OutboxRelay, type EventTransport } from '../events/index.js';
import type { RunningHttpServer } from '../http/index.js';
import { createSilentLogger, type Logger } from '../logging/logger.js';
import { driverLockPathsFor, StoreDriverLock } from '../db/store-driver-lock.js';
import { causeForLog, type ChorusError } from '../errors/index.js';
import { DeferredEventTransport } from './deferred-event-transport.js';
import { startAppHttpServer } from './app-http-server.js';
import { DrivingGate } from './driving-gate.js';
import { interruptible } from './interruptible.js';
import { createEventSide } from './event-side.js';
import { createJobRuntime, type JobRuntime, type JobRuntimeOverrides } from './job-runtime.js';
import { connectNatsAtStart } from './nats-first-contact.js';
import { runStopSequence, throwStopFailures, type StopStep } from './stop-sequence.js';

export const SERVICE_VERSION = '0.1.0';

export interface AppOptions {
  config: ResolvedConfig;
  logger?: Logger;
  /** `memory`: the in-process bus (demo, tests); default: NATS when `nats.enabled`. */
  bus?: 'nats' | 'memory';
  /** Start the HTTP API and inspector (default: `http.enabled`). */
  http?: boolean;
  inspect?: (event: InspectionEvent) => void;
  runtime?: JobRuntimeOverrides;
  /** Wait for the first NATS connection before returning (tests); default: connect in the background. */
  waitForNats?: boolean;
  /**
   * Serve the NATS commands (default true). One-shot tools (`generate`) publish events but
   * must not join the command queue group of a running service.
   */
  commands?: boolean;
  /** What drives the database, for the driver lock's holder file (default `serve`). */
  role?: string;
  /**
   * Aborted while starting (`serve` got SIGTERM): the start undoes what it started, as a
   * failed one does, and rejects with the signal's reason. Once started, it is not read.
   */
  signal?: AbortSignal;
}

export interface ChorusVisualApp {
  instanceId: string;
  runtime: JobRuntime;
  transport: EventTransport;
  /** The in-process bus when `bus: 'memory'`, for local subscribers (demo, tests). */
  memoryBus: InMemoryEventBus | undefined;
  relay: OutboxRelay;
  http: RunningHttpServer | undefined;
  nats(): NatsConnection | undefined;
  /** Settles if this run loses its instance id (JobRuntime.lost): it drives no job from then on and should stop. */
  lost: Promise<ChorusError>;
  stop(): Promise<void>;
}

export function defaultInstanceId(): string {
  return `${hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 40)}-${process.pid}`;
}

export async function startApp(options: AppOptions): Promise<ChorusVisualApp> {
  const { config, signal } = options;
  const logger = options.logger ?? createSilentLogger();
  const instanceId = config.instance_id ?? defaultInstanceId();
  const useNats = (options.bus ?? (config.nats.enabled ? 'nats' : 'memory')) === 'nats';
  const prefix = config.nats.subject_prefix;
  // What is started, newest last: a start that fails part-way stops these in reverse order.
  const started: StopStep[] = [];
  const gate = new DrivingGate();
  let stopping = false;
  try {
    signal?.throwIfAborted();
    // 1. The driver lock, before anything reads a job: one process drives a SQLite database.
    const lockPaths = options.runtime?.store ? undefined : driverLockPathsFor(config.database.url);
    const lock = lockPaths
      ? StoreDriverLock.acquire(lockPaths, { instance_id: instanceId, command: options.role ?? 'serve', http_url: null, nats: null })
      : undefined;
    if (lock) started.push({ part: 'driver lock', stop: () => lock.release() });

    // 2. Database, backends, workflows: opened, but no job restored yet.
    const opening = createJobRuntime(config, {
      logger: logger.child({ component: 'jobs' }),
      instanceId,
      ...(options.inspect ? { inspect: options.inspect } : {}),
      ...options.runtime,
      startDriving: false,
    });
    // Listed before it is awaited: a signal ends the wait at once, but the runtime may still be
    // opening (migrating) the database, and the driver lock, released after it, must stay held
    // until it is closed. serve bounds this wait by the shutdown grace (it exits past it).
    started.push({ part: 'job runtime', stop: async () => (await opening.catch(() => undefined))?.stop() });
    const runtime = await interruptible(opening, signal, () => undefined);
    const handler = gate.guard(runtime.commands);

    const memoryBus = useNats ? undefined : new InMemoryEventBus();
    const deferred = useNats ? new DeferredEventTransport('nats') : undefined;
    const transport: EventTransport = memoryBus ?? deferred!;
    const events = createEventSide({ runtime, transport, prefix, progressPerSecond: config.nats.progress_per_second, instanceId, logger });
    const { relay } = events;

    // 3. The HTTP port: taken or refused before any job moves.
    let http: RunningHttpServer | undefined;
    if (options.http ?? config.http.enabled) {
      const server = await startAppHttpServer({
        config,
        runtime,
        handler,
        instanceId,
        logger,
        ...(useNats ? { nats: () => ({ connected: transport.isConnected(), kind: transport.kind }) } : {}),
      });
      http = server;
      started.push({ part: 'http', stop: () => server.close() });
    }
    signal?.throwIfAborted();

    // 4. NATS: connected with its command service now, or (unreachable) later in the background.
    let nc: NatsConnection | undefined;
    let commands: CommandService | undefined;
    const attachNats = async (connection: NatsConnection): Promise<void> => {
      if (stopping) {
        await connection.close();
        return;
      }
      nc = connection;
      deferred!.attach(await NatsEventTransport.create(connection, { prefix, ...config.nats.stream }, { logger: logger.child({ component: 'events' }) }));
      if (options.commands !== false) {
        commands = await startCommandService(connection, handler, {
          prefix,
          version: SERVICE_VERSION,
          instanceId,
          logger: logger.child({ component: 'commands' }),
        });
      }
      relay.kick();
      // Only a command service is a way in: a one-shot `generate` publishes events but answers nothing.
      if (commands) lock?.describe({ nats: { servers: config.nats.servers, subject_prefix: prefix } });
      logger.info({ server: connection.getServer(), commands: `${prefix}.cmd.>`, events: `${prefix}.events.>` }, 'NATS commands and events ready');
    };
    let natsLater: Promise<void> = Promise.resolve();
    if (useNats) {
      const natsLogger = logger.child({ component: 'nats' });
      // NATS that accepts and says nothing holds this up to the first-contact timeout.
      const first = await interruptible(connectNatsAtStart(config.nats, { logger: natsLogger }), signal, (late) =>
        late.kind === 'connected' ? closeNats(late.connection, false) : late.later.then((connection) => connection.close()),
      );
      if (first.kind === 'connected') {
        started.push({ part: 'nats', stop: () => closeNats(first.connection, false) });
        await attachNats(first.connection);
        started.push({ part: 'nats commands', stop: () => commands?.stop() });
      } else {
        logger.warn(
          { servers: config.nats.servers, reason: first.reason },
          'NATS not reachable; serving without it, events stay in the outbox until it answers',
        );
        natsLater = first.later.then(attachNats).catch((error: unknown) => {
          logger.error({ err: causeForLog(error) }, 'NATS connection failed; events stay in the outbox');
        });
      }
    }

    // 5. Every listener is up: now, and only now, jobs are restored and events published.
    // The last point a stop request undoes the start; from here on it is an ordinary stop.
    signal?.throwIfAborted();
    relay.start();
    started.push({ part: 'outbox relay', stop: () => relay.stop() });
    runtime.setOnPersisted(() => relay.kick());
    await runtime.begin();
    gate.opened();
    lock?.describe({ state: 'serving', http_url: http?.url ?? null });
    if (options.waitForNats) await natsLater;
    // Lost: the outbox is no longer this run's to drain (another process holds the id, and the relay lease with it).
    let lostInstance = false;
    void runtime.lost.then(() => (lostInstance = true));

    return {
      instanceId,
      runtime,
      transport,
      memoryBus,
      relay,
      http,
      nats: () => nc,
      lost: runtime.lost,
      async stop() {
        stopping = true;
        // Each part is stopped even when one before it failed (an HTTP server that fails to
        // close must not leave the database open); then what failed is thrown.
        const failures = await runStopSequence([
          // Stop taking work first, then let running actors reach a persisted state; ComfyUI
          // keeps its prompts (a restart reconciles them), then flush what the outbox holds.
          { part: 'http', stop: () => http?.close() },
          { part: 'nats commands', stop: () => commands?.stop().catch(() => undefined) },
          { part: 'event side', stop: () => events.detach() },
          // The service first (its last transitions land in the outbox), then the relay gets a
          // short chance to publish them, and only then does the runtime close the database.
          { part: 'job service', stop: () => runtime.service.stop() },
          {
            part: 'outbox relay',
            stop: async () => {
              if (transport.isConnected() && !lostInstance) await withTimeout(relay.drain(), 3_000);
              await relay.stop();
            },
          },
          { part: 'job runtime', stop: () => runtime.stop() },
          { part: 'progress publisher', stop: () => events.progress.close() },
          { part: 'event transport', stop: () => withTimeout(transport.close(), 2_000) },
          { part: 'nats', stop: () => (nc ? closeNats(nc, transport.isConnected()) : undefined) },
          // Last: the next driver may start only once this one has stopped writing.
          { part: 'driver lock', stop: () => lock?.release() },
        ]);
        throwStopFailures(failures, 'stopping chorus-visual');
      },
    };
  } catch (error) {
    stopping = true;
    gate.closed();
    // The start's own error is the one to throw: it says what to fix.
    for (const failure of await runStopSequence(started.reverse())) {
      logger.warn(
        { part: failure.part, err: causeForLog(failure.error) },
        'undoing a failed start: stopping this part failed too; the start error is the one reported',
      );
    }
    throw error;
  }
}

/**
 * drain() only on a live connection: on a disconnected one nats.js keeps its reconnect
 * timers running and the process never exits. close() ends it whatever its state.
 */
async function closeNats(nc: NatsConnection, connected: boolean): Promise<void> {
  if (nc.isClosed()) return;
  if (connected) await withTimeout(nc.drain(), 2_000);
  if (!nc.isClosed()) await nc.close().catch(() => undefined);
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
