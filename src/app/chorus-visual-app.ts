/**
 * The whole service in one process, as `serve` and `demo` run it: the job runtime (store,
 * backends, JobService), the event side (outbox relay → NATS or the in-process bus,
 * throttled progress), the NATS command service and the HTTP API with the inspector.
 * Everything it opens, `stop()` closes, in the order that loses nothing.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from 'nats';
import type { InspectionEvent } from 'xstate';
import { jobMachine } from '../../machines/job.js';
import { startCommandService, type CommandService } from '../commands/index.js';
import type { ResolvedConfig } from '../config/index.js';
import { connectNats, InMemoryEventBus, LeaseGatedOutboxStore, NatsEventTransport, OutboxRelay, ProgressPublisher, type EventTransport } from '../events/index.js';
import { createHealthSources, jobFeedFromJobService, startHttpServer, type ClusterView, type RunningHttpServer } from '../http/index.js';
import { finalStates, type InstanceCoordinator, type SlotLedger } from '../contracts/index.js';
import { createSilentLogger, type Logger } from '../logging/logger.js';
import { DeferredEventTransport } from './deferred-event-transport.js';
import { createJobRuntime, type JobRuntime, type JobRuntimeOverrides } from './job-runtime.js';

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
  stop(): Promise<void>;
}

export function defaultInstanceId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40)}-${process.pid}`;
}

export async function startApp(options: AppOptions): Promise<ChorusVisualApp> {
  const { config } = options;
  const logger = options.logger ?? createSilentLogger();
  const instanceId = config.instance_id ?? defaultInstanceId();
  const useNats = (options.bus ?? (config.nats.enabled ? 'nats' : 'memory')) === 'nats';
  const prefix = config.nats.subject_prefix;
  const stoppers: Array<() => Promise<void>> = [];

  const memoryBus = useNats ? undefined : new InMemoryEventBus();
  const deferred = useNats ? new DeferredEventTransport('nats') : undefined;
  const transport: EventTransport = memoryBus ?? deferred!;

  const runtime = await createJobRuntime(config, {
    logger: logger.child({ component: 'jobs' }),
    instanceId,
    ...(options.inspect ? { inspect: options.inspect } : {}),
    ...options.runtime,
  });
  // Several instances on one database: one relay at a time publishes (a lease), and it
  // looks often, since most rows it publishes were written by other instances (no kick).
  const coordination = runtime.coordination;
  const relay = new OutboxRelay({
    store: coordination ? new LeaseGatedOutboxStore(runtime.store, coordination.coordinator, instanceId, coordination.leaseTtlMs) : runtime.store,
    ...(coordination ? { pollMs: 100 } : {}),
    transport,
    subjectPrefix: prefix,
    source: `chorus-visual/${instanceId}`,
    logger: logger.child({ component: 'outbox' }),
  });
  relay.start();
  runtime.setOnPersisted(() => relay.kick());

  const progress = new ProgressPublisher(transport, prefix, config.nats.progress_per_second, { source: `chorus-visual/${instanceId}` });
  const offTransition = runtime.service.on('transition', (notice) => {
    if (finalStates.has(notice.job.state)) progress.forget(notice.jobId);
  });
  const offProgress = runtime.service.on('progress', (notice) => {
    progress.publish({ id: notice.jobId, conversation_id: notice.conversationId }, notice.progress);
  });

  let nc: NatsConnection | undefined;
  let commands: CommandService | undefined;
  let stopping = false;
  const natsReady = useNats
    ? connectNats(config.nats, { logger: logger.child({ component: 'nats' }) }).then(
        async (connection) => {
          if (stopping) {
            await connection.close();
            return;
          }
          nc = connection;
          deferred!.attach(
            await NatsEventTransport.create(connection, { prefix, ...config.nats.stream }, { logger: logger.child({ component: 'events' }) }),
          );
          if (options.commands !== false) {
            commands = await startCommandService(connection, runtime.commands, {
              prefix,
              version: SERVICE_VERSION,
              instanceId,
              logger: logger.child({ component: 'commands' }),
            });
          }
          relay.kick();
          logger.info({ server: connection.getServer(), commands: `${prefix}.cmd.>`, events: `${prefix}.events.>` }, 'NATS commands and events ready');
        },
        (error: unknown) => {
          logger.error({ err: error instanceof Error ? error.message : String(error) }, 'NATS connection failed; events stay in the outbox');
        },
      )
    : Promise.resolve();
  if (options.waitForNats) await natsReady;

  let http: RunningHttpServer | undefined;
  if (options.http ?? config.http.enabled) {
    http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      ...(config.http.token ? { token: config.http.token } : {}),
      allowedOrigins: config.http.allowed_origins,
      allowedHosts: config.http.allowed_hosts,
      allowUnauthenticated: config.http.allow_unauthenticated,
      handler: runtime.commands,
      feed: jobFeedFromJobService(runtime.service),
      health: createHealthSources({
        store: runtime.store,
        pool: runtime.pool,
        inUse: (name) => runtime.service.scheduler.inUse(name),
        ...(useNats ? { nats: () => ({ connected: transport.isConnected(), kind: transport.kind }) } : {}),
        instanceId,
        ...(runtime.coordination ? { cluster: clusterViewOf(runtime.coordination.coordinator, runtime.coordination.ledger) } : {}),
        ...(runtime.service.handoff ? { gpuHandoff: () => runtime.service.handoff?.counters() ?? [] } : {}),
        affinity: () => runtime.service.scheduler.affinityCounters(),
      }),
      dataDir: config.data_dir,
      machineDefinition: jobMachine,
      logger,
    });
    stoppers.push(() => http!.close());
  }

  return {
    instanceId,
    runtime,
    transport,
    memoryBus,
    relay,
    http,
    nats: () => nc,
    async stop() {
      stopping = true;
      // Stop taking work first, then let running actors reach a persisted state; ComfyUI
      // keeps its prompts (a restart reconciles them), then flush what the outbox holds.
      for (const stop of stoppers.splice(0)) await stop();
      await commands?.stop().catch(() => undefined);
      offTransition();
      offProgress();
      // The service first (its last transitions land in the outbox), then the relay gets a
      // short chance to publish them, and only then does the runtime close the database.
      await runtime.service.stop();
      if (transport.isConnected()) await withTimeout(relay.drain(), 3_000);
      await relay.stop();
      await runtime.stop();
      progress.close();
      await transport.close();
      if (nc) await nc.drain().catch(() => nc?.close());
    },
  };
}

function clusterViewOf(coordinator: InstanceCoordinator, ledger: SlotLedger): () => Promise<ClusterView> {
  return async () => {
    const [instances, owners, slots] = await Promise.all([
      coordinator.listInstances(),
      coordinator.ownersOfUnfinished(),
      ledger.slotsInUse(),
    ]);
    return {
      instances: instances.map(({ id, alive, started_at, heartbeat_at, stopped_at }) => ({ id, alive, started_at, heartbeat_at, stopped_at })),
      owners: Object.fromEntries(owners),
      slots_in_use: Object.fromEntries(slots),
    };
  };
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
