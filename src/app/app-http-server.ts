/**
 * The app's HTTP face: the HTTP API, health and inspector over the job runtime. A port that
 * cannot be bound is a structured start failure naming `http.port`, not a bare EADDRINUSE.
 */
import { jobMachine } from '../../machines/job.js';
import type { JobCommandHandler } from '../commands/index.js';
import type { ResolvedConfig } from '../config/index.js';
import { portRefused } from '../errors/index.js';
import { createHealthSources, jobFeedFromJobService, startHttpServer, type ClusterView, type RunningHttpServer } from '../http/index.js';
import type { InstanceCoordinator, SlotLedger } from '../contracts/index.js';
import type { JobRuntime } from './job-runtime.js';
import type { Logger } from '../logging/logger.js';

export async function startAppHttpServer(options: {
  config: ResolvedConfig;
  runtime: JobRuntime;
  /** The job service behind the driving gate. */
  handler: JobCommandHandler;
  instanceId: string;
  logger: Logger;
  /** NATS state for readiness; absent when the app runs without NATS. */
  nats?: () => { connected: boolean; kind: string };
}): Promise<RunningHttpServer> {
  const { config, runtime, instanceId, logger } = options;
  return startHttpServer({
    host: config.http.host,
    port: config.http.port,
    ...(config.http.token ? { token: config.http.token } : {}),
    allowedOrigins: config.http.allowed_origins,
    allowedHosts: config.http.allowed_hosts,
    allowUnauthenticated: config.http.allow_unauthenticated,
    handler: options.handler,
    feed: jobFeedFromJobService(runtime.service),
    health: createHealthSources({
      store: runtime.store,
      pool: runtime.pool,
      inUse: (name) => runtime.service.scheduler.inUse(name),
      ...(options.nats ? { nats: options.nats } : {}),
      instanceId,
      ...(runtime.coordination ? { cluster: clusterViewOf(runtime.coordination.coordinator, runtime.coordination.ledger) } : {}),
      ...(runtime.service.handoff ? { gpuHandoff: () => runtime.service.handoff?.counters() ?? [] } : {}),
      affinity: () => runtime.service.scheduler.affinityCounters(),
    }),
    dataDir: config.data_dir,
    machineDefinition: jobMachine,
    logger,
  }).catch((error: unknown) => {
    throw portRefused(error, {
      host: config.http.host,
      port: config.http.port,
      key: 'http.port',
      suggestion: 'Another process listens there (another chorus-visual?): stop it, or set http.port (0 picks a free port).',
    });
  });
}

function clusterViewOf(coordinator: InstanceCoordinator, ledger: SlotLedger): () => Promise<ClusterView> {
  return async () => {
    const [instances, owners, slots] = await Promise.all([coordinator.listInstances(), coordinator.ownersOfUnfinished(), ledger.slotsInUse()]);
    return {
      instances: instances.map(({ id, alive, started_at, heartbeat_at, stopped_at }) => ({ id, alive, started_at, heartbeat_at, stopped_at })),
      owners: Object.fromEntries(owners),
      slots_in_use: Object.fromEntries(slots),
    };
  };
}
