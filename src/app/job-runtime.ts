/**
 * The composition root of the job runtime: store, backends, pool, workflows, characters,
 * prompt composer, collector and JobService, built from a ResolvedConfig. The CLI
 * (serve, demo, generate) and the integration tests use it; any piece can be overridden.
 */
import { randomUUID } from 'node:crypto';
import type { InspectionEvent } from 'xstate';
import type { ComfyBackend } from '../comfy/backend-port.js';
import { BackendOutageLog, BackendPool, startBackendPool } from '../comfy/index.js';
import { CharacterRegistry } from '../characters/index.js';
import type { ResolvedConfig } from '../config/index.js';
import { createInstanceCoordinator, createJobStore, KyselyInstanceCoordinator, openDatabase, parseDatabaseUrl } from '../db/index.js';
import { OutputCollector, thumbnailSettingsFrom } from '../files/index.js';
import { VisualPromptComposer } from '../prompts/index.js';
import { WorkflowLibrary } from '../workflows/index.js';
import type { JobCommandHandler } from '../commands/index.js';
import type { InstanceCoordinator, JobStore, SlotLedger } from '../contracts/index.js';
import type { Clock } from '../jobs/clock.js';
import { JobService, type JobCoordination } from '../jobs/job-service.js';
import { JobLeaseKeeper } from '../jobs/job-lease-keeper.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { causeForLog, type ChorusError } from '../errors/index.js';
import type { CharactersPort, CollectorPort, PromptComposerPort, WorkflowsPort } from '../jobs/job-runtime-ports.js';
import { createJobCommands } from './job-commands.js';
import { runStopSequence, throwStopFailures, type StopStep } from './stop-sequence.js';

export interface JobRuntimeOverrides {
  store?: JobStore;
  /** Backends to pool instead of one ComfyBackendClient per `resolvedBackends` entry. */
  backends?: ComfyBackend[];
  workflows?: WorkflowsPort;
  characters?: CharactersPort;
  composer?: PromptComposerPort;
  collector?: CollectorPort;
  clock?: Clock;
  logger?: StructuredLogger;
  /** Outbox kick after each committed transition (also settable later: `setOnPersisted`). */
  onPersisted?: () => void;
  inspect?: (event: InspectionEvent) => void;
  cancelConfirmMs?: number;
  /** Restore unfinished jobs when driving starts (default true). */
  restore?: boolean;
  /**
   * Start driving (restore, take over leases) before returning (default true). false: the
   * caller first acquires its listeners, then calls `begin()` (all-or-nothing start).
   */
  startDriving?: boolean;
  /** This instance's id: the owner name of its jobs when several share a PostgreSQL database. */
  instanceId?: string;
  /** Several instances: an instance silent this long is presumed gone (default 10 s). */
  leaseTtlMs?: number;
  /** Several instances: how often waiting jobs look for a slot freed elsewhere (default 50 ms). */
  slotPollMs?: number;
}

/** Present when several instances share the database (PostgreSQL). */
export interface RuntimeCoordination {
  instanceId: string;
  coordinator: InstanceCoordinator;
  /** Backend slots every instance shares (the inspector shows their use). */
  ledger: SlotLedger;
  keeper: JobLeaseKeeper;
  leaseTtlMs: number;
}

export interface JobRuntime {
  service: JobService;
  /** What the doors call: the job service and the workflow library behind one facade. */
  commands: JobCommandHandler;
  store: JobStore;
  pool: BackendPool;
  workflows: WorkflowsPort;
  characters: CharactersPort;
  composer: PromptComposerPort;
  collector: CollectorPort;
  config: ResolvedConfig;
  /** How many unfinished jobs were restored at start. */
  restored: number;
  /** Restores unfinished jobs and starts the lease keeper; once (createJobRuntime calls it unless told not to). */
  begin(): Promise<number>;
  coordination: RuntimeCoordination | undefined;
  /**
   * Settles, with INSTANCE_LEASE_LOST, if this run loses its instance id (several instances:
   * it stalled past its lease; the service has then stopped driving jobs). Never otherwise.
   */
  lost: Promise<ChorusError>;
  setOnPersisted(hook: (() => void) | undefined): void;
  /**
   * Stops the service (ComfyUI prompts keep running), then closes what the runtime opened:
   * all of it even when a part fails to stop; then what failed is thrown (see throwStopFailures).
   */
  stop(): Promise<void>;
}

export async function createJobRuntime(config: ResolvedConfig, overrides: JobRuntimeOverrides = {}): Promise<JobRuntime> {
  const logger = overrides.logger ?? silentLogger;
  // What the runtime opened, newest last: closed newest first, each even when one before it fails.
  const closers: StopStep[] = [];
  try {
    // PostgreSQL means "maybe several instances": jobs get owners, slots live in the database.
    const shared = !overrides.store && overrides.instanceId !== undefined && parseDatabaseUrl(config.database.url).dialect === 'postgres';
    // This run's claim on the instance id: the store writes transitions only while it holds.
    const runToken = randomUUID();
    const onCheckpointerFailure = (error: unknown) =>
      logger.warn({ err: error }, 'the SQLite checkpoint thread failed; the database checkpoints on its own connection again');
    const databaseStore = overrides.store
      ? undefined
      : await createJobStore(config.database.url, shared ? { ownerInstance: overrides.instanceId!, runToken } : { onCheckpointerFailure });
    const store: JobStore = overrides.store ?? databaseStore!;
    if (databaseStore) closers.push({ part: 'database store', stop: () => databaseStore.close() });

    const pool = overrides.backends ? new BackendPool(overrides.backends) : await startBackendPool(config, { logger });
    if (!overrides.backends) closers.push({ part: 'backend pool', stop: () => pool.close() });

    let workflows = overrides.workflows;
    if (!workflows) {
      const library = await WorkflowLibrary.load(config.workflows_dir, {
        maxBytes: config.limits.max_workflow_bytes,
        maxNodes: config.limits.max_workflow_nodes,
      });
      closers.push({ part: 'workflow library', stop: () => library.close() });
      workflows = library;
    }
    const characters = overrides.characters ?? (await CharacterRegistry.load(config.characters_dir, workflows as WorkflowLibrary));
    const composer = overrides.composer ?? new VisualPromptComposer(config.llm);
    let collector = overrides.collector;
    if (!collector) {
      const ownCollector = new OutputCollector({
        dataDir: config.data_dir,
        cleanupComfyOutputs: config.comfyui.file_management.cleanup_comfy_outputs,
        thumbnails: thumbnailSettingsFrom(config.thumbnails),
        logger,
        maxDownloadBytes: config.comfyui.file_management.max_output_bytes,
      });
      // At stop, once the service has stopped: the last jobs' background fsyncs (VacatedFolderSyncs).
      closers.push({ part: 'output collector', stop: () => ownCollector.settle() });
      collector = ownCollector;
    }

    let jobCoordination: JobCoordination | undefined;
    let keeper: JobLeaseKeeper | undefined;
    if (shared && databaseStore) {
      const instanceId = overrides.instanceId!;
      const coordinator = createInstanceCoordinator(databaseStore);
      await coordinator.defineSlots(pool.list().map((backend) => ({ name: backend.name, maxConcurrent: backend.maxConcurrent })));
      jobCoordination = {
        instanceId,
        coordinator,
        ledger: coordinator,
        holdsInstance: () => keeper?.holdsInstance() ?? false,
        runToken,
        ...(overrides.slotPollMs === undefined ? {} : { slotPollMs: overrides.slotPollMs }),
      };
    }
    let reportLost: (error: ChorusError) => void = () => undefined;
    const lost = new Promise<ChorusError>((resolve) => (reportLost = resolve));

    let onPersisted = overrides.onPersisted;
    const parts = { store, pool, workflows, characters, composer, collector, config };
    const service = new JobService({
      ...parts,
      ...(overrides.clock ? { clock: overrides.clock } : {}),
      logger,
      onPersisted: () => onPersisted?.(),
      ...(overrides.inspect ? { inspect: overrides.inspect } : {}),
      ...(overrides.cancelConfirmMs === undefined ? {} : { cancelConfirmMs: overrides.cancelConfirmMs }),
      ...(jobCoordination ? { coordination: jobCoordination } : {}),
    });
    // The one owner of the log lines about backends that are down (and back).
    const outageLog = new BackendOutageLog(pool, { logger, waitingJobs: () => service.scheduler.waiting() });
    closers.push({ part: 'backend outage log', stop: () => outageLog.close() });
    let coordination: RuntimeCoordination | undefined;
    if (jobCoordination) {
      const leaseTtlMs = overrides.leaseTtlMs ?? 10_000;
      const { instanceId, coordinator, ledger } = jobCoordination;
      const heartbeatDatabase = await openDatabase(config.database.url, { poolSize: 1 });
      closers.push({ part: 'heartbeat database', stop: () => heartbeatDatabase.close() });
      const heartbeats = new KyselyInstanceCoordinator(heartbeatDatabase.db, heartbeatDatabase.dialect);
      keeper = new JobLeaseKeeper({
        instanceId,
        coordinator,
        heartbeats,
        service,
        leaseTtlMs,
        runToken,
        onLost: reportLost,
        ...(overrides.clock ? { clock: overrides.clock } : {}),
        logger,
      });
      coordination = { instanceId, coordinator, ledger, keeper, leaseTtlMs };
      // Alive before claiming anything, so no other instance takes over what this one restores.
      await coordination.keeper.register();
      // Renewing from the claim on: a start that fails after it stops renewing (the lease then lapses).
      const registered = coordination.keeper;
      closers.push({ part: 'lease keeper', stop: () => registered.stop() });
    }
    let began: Promise<number> | undefined;
    const begin = (): Promise<number> =>
      (began ??= (async () => {
        runtime.restored = overrides.restore === false ? 0 : await service.restore();
        coordination?.keeper.start();
        // After the restore, so the first lines count the restored jobs that wait too.
        outageLog.start();
        return runtime.restored;
      })());
    const runtime: JobRuntime = {
      service,
      commands: createJobCommands(service, workflows, pool),
      ...parts,
      restored: 0,
      begin,
      coordination,
      lost,
      setOnPersisted: (hook) => {
        onPersisted = hook;
      },
      stop: async () => {
        let serviceStopped = false;
        const failures = await runStopSequence([
          { part: 'lease keeper', stop: () => coordination?.keeper.stop() },
          {
            part: 'job service',
            stop: async () => {
              await service.stop();
              serviceStopped = true;
            },
          },
          {
            part: 'instance retirement',
            // After the last transition is written: others may take the jobs over at once. A
            // service that failed to stop may still have writes in flight: its lease lapses instead.
            stop: async () => {
              if (!serviceStopped) return;
              await coordination?.keeper
                .retire()
                .catch((error: unknown) => logger.warn({ err: causeForLog(error) }, 'retiring the instance failed; its lease will lapse'));
            },
          },
          ...closers.splice(0).reverse(),
        ]);
        throwStopFailures(failures, 'stopping the job runtime');
      },
    };
    if (overrides.startDriving !== false) await begin();
    return runtime;
  } catch (error) {
    // The start's own error is the one to throw: it says what to fix. A part that also fails
    // to close is logged, and the parts after it are closed all the same.
    for (const failure of await runStopSequence(closers.splice(0).reverse())) {
      logger.warn(
        { part: failure.part, err: causeForLog(failure.error) },
        'the job runtime did not start, and closing this part of it failed too; the start error is the one reported',
      );
    }
    throw error;
  }
}
