/**
 * The job runtime: admits jobs, runs one job actor per job, persists every transition
 * (row + outbox event in one transaction, in order per job) before announcing it, and
 * restores unfinished jobs after a restart. The doors (NATS, HTTP, CLI) validate commands
 * and reach it through the command facade of src/app; it trusts the typed input it gets.
 */
import { randomUUID } from 'node:crypto';
import { createActor, type Actor, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { jobMachine } from '../../machines/job.js';
import type { JobContext, JobMachineInput, JobProgress } from '../../machines/job-types.js';
import type { ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, isOwnershipLost } from '../errors/index.js';
import { promptNotSent } from '../comfy/comfy-http-errors.js';
import { jobNotDrivenHere } from './instance-lease-loss.js';
import type { GenerateCommand, ListCommand, RegenerateCommand } from '../commands/command-schemas.js';
import { toJobEventView, type JobEventView } from '../commands/job-command-handler.js';
import { initialJobRow, type JobRow, type JobStore, type NewJob } from '../contracts/job-store-port.js';
import { finalStates, type JobState, type JobView } from '../contracts/job-view.js';
import { systemClock, type Clock } from './clock.js';
import { createJobActors, type ReconcileMark } from './job-actors.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import type { BackendPoolPort, CharactersPort, CollectorPort, PromptComposerPort, WorkflowsPort } from './job-runtime-ports.js';
import { Scheduler } from './scheduler.js';
import { ParkedDeadlines } from './parked-deadlines.js';
import { persistWithoutGraph, snapshotWithGraph, snapshotWithoutGraph } from './snapshot-graph.js';
import { GpuHandoff } from './gpu-handoff.js';
import { createLlmUnloader, type LlmUnloader } from '../prompts/llm-unloader.js';
import { JobTransitionWriter } from './job-transition-writer.js';
import { holdsSlot, mayBeGranted, positionOf, samePosition, transitionType, type JobPosition } from './job-state-of.js';
import { applyPatch, patchForTransition } from './job-row-patch.js';
import { jobViewOf } from './job-view-mapper.js';
import { sendingStartedAt } from './job-timings.js';
import { debugDocumentOf } from './job-debug-document.js';
import { withSlotWaitNote } from './slot-wait-note.js';
import { JobServiceEvents, type JobServiceEventMap } from './job-service-events.js';
import { regenerationOf } from './regeneration-request.js';
import { PreviewThrottle } from './preview-throttle.js';
import { requestHashOf, sameRequestOrConflict } from './request-fingerprint.js';
import { assertWithinLimits } from './parameter-limits.js';
import type { InstanceCoordinator, SlotLedger } from '../contracts/instance-coordination-port.js';
import type { WorkflowDefinition } from '../workflows/index.js';

export interface JobServiceDeps {
  store: JobStore;
  pool: BackendPoolPort;
  workflows: WorkflowsPort;
  characters: CharactersPort;
  composer: PromptComposerPort;
  collector: CollectorPort;
  config: ResolvedConfig;
  clock?: Clock;
  logger?: StructuredLogger;
  /** Kick for the outbox relay: called after each committed transition. */
  onPersisted?: () => void;
  /** XState inspection observer, passed to every job actor (the web inspector). */
  inspect?: (event: InspectionEvent) => void;
  /** Ids for jobs and prompts (uuid v4 by default). */
  newId?: () => string;
  /** At most one sampler preview per job per this many ms reaches listeners (default 400). */
  previewIntervalMs?: number;
  /** How long to wait for ComfyUI to confirm an interrupt (ms). */
  cancelConfirmMs?: number;
  /**
   * Several instances share the database (PostgreSQL): jobs are driven by the instance that
   * owns them, slots are leased in the database. Absent: this process is the only one.
   */
  coordination?: JobCoordination;
}

export interface JobCoordination {
  instanceId: string;
  coordinator: InstanceCoordinator;
  ledger: SlotLedger;
  /** How often waiting jobs look for a slot another instance freed (ms). */
  slotPollMs?: number;
  /** Whether this run still holds its instance id (JobLeaseKeeper.holdsInstance): a run that stalled past its lease admits nothing. */
  holdsInstance?: () => boolean;
  /** This run's token on its instance row: the restore's claim is fenced on it. */
  runToken?: string;
}

type JobActor = Actor<ReturnType<typeof jobMachine.provide>>;
type JobSnapshot = SnapshotFrom<typeof jobMachine>;

interface LiveJob {
  id: string;
  actor: JobActor;
  row: JobRow;
  position: JobPosition;
  progress: JobProgress | null;
  detached: boolean;
  /** Jobs regenerated from this one, so its events' views list them too. */
  regenerations: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The context of a stored `queued.waiting` snapshot, when it has what parking needs. */
function waitingContextOf(snapshot: unknown): Pick<JobContext, 'request' | 'composed' | 'queueWaitDeadline'> | undefined {
  const context = (snapshot as { context?: Partial<JobContext> } | null | undefined)?.context;
  if (!context?.request || typeof context.queueWaitDeadline !== 'number') return undefined;
  return { request: context.request, composed: context.composed ?? null, queueWaitDeadline: context.queueWaitDeadline };
}

/**
 * The reconcile mark of a restored job whose prompt ComfyUI may hold: one that held a slot (it
 * may have been sending it), or one waiting to retry a submit that failed after the POST may
 * have reached its backend (a timeout, a reset, or a look-up that failed while it was marked):
 * any failed submit of the prompt id it holds, unless the last was a POST refused with nothing
 * sent (then the look-up before it, if any, had found nothing).
 */
function reconcileMarkOf(row: JobRow, position: JobPosition): (ReconcileMark & { seq: number }) | undefined {
  if (holdsSlot(position)) return { seq: row.last_seq, backend: row.backend };
  if (position.substate !== 'queued.waiting' && position.substate !== 'queued.retrying') return undefined;
  const context = (row.snapshot as { context?: Partial<JobContext> } | null | undefined)?.context;
  if (!context?.promptId || !(typeof context.submitFailures === 'number' && context.submitFailures > 0)) return undefined;
  if (promptNotSent(context.error)) return undefined;
  return { seq: row.last_seq, backend: context.backend ?? row.backend };
}

export class JobService {
  readonly scheduler: Scheduler;
  /** Present when some backend has `gpu_handoff` set. */
  readonly handoff: GpuHandoff | undefined;
  private readonly machine;
  private readonly writer: JobTransitionWriter;
  private readonly live = new Map<string, LiveJob>();
  /**
   * The workflow each job was admitted with, until it ends: an edit saved meanwhile does
   * not change the graph of a job already accepted. (After a restart the library's current
   * version serves a job that had not composed yet; the injected graph itself is persisted.)
   */
  private readonly admittedWorkflows = new Map<string, WorkflowDefinition>();
  /**
   * Jobs where ComfyUI may hold their prompt (restored so, or whose POST got no answer), each
   * with the seq of its last transition stored before that (a prompt found in ComfyUI was sent
   * by then: nothing is sent again before it looks) and the backend it was sent to (a submit
   * retry is granted that one only, until it was asked).
   */
  private readonly reconcile = new Map<string, ReconcileMark & { seq: number }>();
  /**
   * Jobs waiting for a slot are parked: their actor is stopped once the wait is stored, and
   * the job is its row plus a waiter in the scheduler (and a deadline here) until a slot,
   * its deadline or a cancel revives the actor from the stored snapshot.
   */
  private readonly parkedDeadlines: ParkedDeadlines;
  private readonly reviving = new Map<string, Promise<LiveJob | undefined>>();
  /** Parked jobs being revived only to be cancelled. */
  private readonly cancelOnRevive = new Set<string>();
  private readonly events: JobServiceEvents;
  private readonly previews: PreviewThrottle;
  private readonly clock: Clock;
  private readonly logger: StructuredLogger;
  private readonly newId: () => string;
  private accepting = true;
  /** This run lost its instance id to a stall (stopDriving): nothing more is written under it. */
  private instanceLost = false;
  /** The one stop: later calls get its outcome. */
  private stopped: Promise<void> | undefined;

  constructor(private readonly deps: JobServiceDeps) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? silentLogger;
    this.newId = deps.newId ?? randomUUID;
    this.events = new JobServiceEvents(this.logger);
    this.writer = new JobTransitionWriter(this.logger);
    this.parkedDeadlines = new ParkedDeadlines(
      this.clock,
      (jobId) => this.scheduler.isParked(jobId),
      // Revived with no slot to come: its own queue-wait timer fires at once and fails it.
      (jobId) => {
        if (this.scheduler.unpark(jobId)) void this.revive(jobId);
      },
    );
    this.previews = new PreviewThrottle(deps.previewIntervalMs ?? 400, (notice) => this.events.emit('preview', notice));
    const coordination = deps.coordination;
    this.handoff = this.createHandoff();
    const comfyui = deps.config.comfyui;
    this.scheduler = new Scheduler(deps.pool, {
      clock: this.clock,
      affinity: { maxSkip: comfyui.affinity_max_skip, maxWaitMs: comfyui.affinity_max_wait_seconds * 1000 },
      wakeParked: (jobId: string) => void this.revive(jobId),
      ...(this.handoff ? { onIdle: (backend: string) => this.handoff?.noteIdle(backend) } : {}),
      ...(coordination
        ? {
            shared: {
              ledger: coordination.ledger,
              instanceId: coordination.instanceId,
              logger: this.logger,
              ...(coordination.slotPollMs === undefined ? {} : { pollMs: coordination.slotPollMs }),
            },
          }
        : {}),
    });
    this.machine = jobMachine.provide({
      actors: createJobActors({
        ...deps,
        scheduler: this.scheduler,
        ...(this.handoff ? { handoff: this.handoff } : {}),
        clock: this.clock,
        logger: this.logger,
        durable: (jobId) => this.durable(jobId),
        drivesJobs: () => this.drivesJobs(),
        reconcile: this.reconcile,
        // Its stored transition into queued.submitting is when it began sending the prompt.
        markMaybeSent: (jobId, backend) =>
          this.reconcile.set(jobId, { seq: this.live.get(jobId)?.row.last_seq ?? Number.MAX_SAFE_INTEGER, backend, unanswered: true }),
        sendingStartedAt: async (jobId) => {
          const storedUpTo = this.reconcile.get(jobId)?.seq;
          return storedUpTo === undefined ? null : sendingStartedAt(await this.deps.store.listEvents(jobId), storedUpTo);
        },
        newPromptId: this.newId,
        admittedWorkflow: (jobId) => this.admittedWorkflows.get(jobId),
        onPreview: (jobId, preview) => {
          const job = this.live.get(jobId);
          if (job?.position.state === 'processing') this.previews.offer({ jobId, conversationId: job.row.conversation_id, ...preview });
        },
        metadataFor: (jobId) => {
          const job = this.live.get(jobId);
          return job
            ? { conversation_id: job.row.conversation_id, character: job.row.character, created_at: job.row.created_at, timings: jobViewOf(job.row).timings }
            : {};
        },
      }),
    });
  }

  private createHandoff(): GpuHandoff | undefined {
    const backends = this.deps.config.resolvedBackends;
    if (!backends.some((b) => b.gpu_handoff)) return undefined;
    const unloaders = new Map<string, LlmUnloader | null>(
      backends.map((b) => [b.name, b.gpu_handoff ? createLlmUnloader(b.gpu_handoff, this.deps.config.llm) : null]),
    );
    return new GpuHandoff({
      backends,
      unloaderFor: (backend) => unloaders.get(backend) ?? null,
      pool: this.deps.pool,
      busy: (backend) => this.scheduler.inUse(backend) > 0 || this.scheduler.waiting() > 0,
      clock: this.clock,
      logger: this.logger,
    });
  }

  on<K extends keyof JobServiceEventMap>(name: K, listener: (notice: JobServiceEventMap[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /** Jobs with a running actor in this process. */
  activeCount(): number {
    return this.live.size;
  }

  async generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }> {
    return this.admit(cmd, null);
  }

  /** A new job from an earlier one's inputs, linked to it (`regenerated_from`); same reply as generate. */
  async regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }> {
    const source = await this.requireRow(cmd.job_id);
    const outcome = await this.admit(regenerationOf(source, cmd), source.id);
    const live = this.live.get(source.id);
    if (outcome.created && live && !live.regenerations.includes(outcome.job.id)) live.regenerations.push(outcome.job.id);
    return outcome;
  }

  private async admit(cmd: GenerateCommand, regeneratedFrom: string | null): Promise<{ job: JobView; created: boolean }> {
    if (!this.drivesJobs()) {
      throw new ChorusError(ErrorCode.INSTANCE_LEASE_LOST, 'this instance stalled past its lease and stops; send the job again', {
        details: { instance_id: this.deps.coordination?.instanceId ?? null },
      });
    }
    if (!this.accepting) throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, 'chorus-visual is shutting down; send the job again', { recoverable: true });
    assertWithinLimits(cmd.parameters, this.deps.config.limits);
    // Only a request with an id can be asked for again (a SHA-256 of the canonical command otherwise wasted).
    const requestHash = cmd.request_id === undefined ? null : requestHashOf(cmd);
    if (cmd.request_id !== undefined) {
      const existing = await this.deps.store.findByRequestId(cmd.conversation_id, cmd.request_id);
      if (existing) return { job: await this.viewWithLinks(sameRequestOrConflict(existing, requestHash ?? requestHashOf(cmd))), created: false };
    }
    // Unknown names fail here, before anything is persisted.
    const character = cmd.character === undefined ? null : this.deps.characters.get(cmd.character);
    const workflow = cmd.workflow ?? character!.visual_identity.default_workflow;
    const definition = this.deps.workflows.get(workflow);

    const now = this.clock.now();
    const input = this.machineInput(cmd, workflow, now);
    this.admittedWorkflows.set(input.jobId, definition);
    const actor = createActor(this.machine, { input, ...(this.deps.inspect ? { inspect: this.deps.inspect } : {}) });
    const position = positionOf(actor.getSnapshot().value);
    const newJob: NewJob = {
      id: input.jobId,
      conversation_id: cmd.conversation_id,
      thread_id: cmd.thread_id ?? null,
      message_id: cmd.message_id ?? null,
      workflow,
      prompt: cmd.prompt ?? null,
      parameters: cmd.parameters,
      status: position.state,
      substate: position.substate,
      character: cmd.character ?? null,
      negative_prompt: cmd.negative_prompt ?? null,
      seed: cmd.seed ?? null,
      prompt_source: cmd.prompt === undefined ? null : 'caller',
      request_id: cmd.request_id ?? null,
      request_hash: requestHash,
      priority: cmd.priority,
      snapshot: snapshotWithoutGraph(actor.getPersistedSnapshot()),
      debug: { request: { user_request: cmd.user_request ?? null, activity: cmd.activity ?? null, strict_llm: cmd.strict_llm }, timestamps: {} },
      created_at: iso(now),
      comfy_prompt_id: input.promptId,
      regenerated_from: regeneratedFrom,
    };
    const row = initialJobRow(newJob);
    const view = jobViewOf(row);
    const outcome = await this.deps.store.createJob(
      newJob,
      { type: 'created', from_state: null, to_state: position.substate ?? position.state, data: { job: view }, at: row.created_at },
      { maxQueueSize: this.deps.config.comfyui.queue.max_queue_size },
    );
    if (!outcome.created) {
      this.admittedWorkflows.delete(input.jobId);
      return { job: await this.viewWithLinks(sameRequestOrConflict(outcome.job, requestHash ?? requestHashOf(cmd))), created: false };
    }
    this.deps.onPersisted?.();
    this.events.emit('transition', { jobId: row.id, seq: 1, type: 'created', from: null, to: position.substate ?? position.state, job: view });
    this.attach(actor, outcome.job, []).actor.start();
    return { job: view, created: true };
  }

  async cancel(jobId: string): Promise<JobView> {
    const job = this.live.get(jobId) ?? (await this.reviveToCancel(jobId));
    if (!job) {
      const row = await this.requireRow(jobId);
      // Driven by another instance: leave the request for its owner, which polls for it.
      if (this.deps.coordination && !finalStates.has(row.status)) await this.deps.coordination.coordinator.requestCancel(jobId);
      return this.viewWithLinks(row);
    }
    job.actor.send({ type: 'job.cancel' });
    // "Cancelled" is only an answer once the decision is stored: say so when it is not.
    await this.writer.durable(jobId).catch((error: unknown) => {
      if (isOwnershipLost(error)) throw error;
      throw new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, `The cancel of job ${jobId} could not be stored: ${(error as Error).message}`, {
        cause: error,
        details: { job_id: jobId },
      });
    });
    return jobViewOf(job.row, job.progress, job.regenerations);
  }

  async get(jobId: string, opts: { debug?: boolean } = {}): Promise<{ job: JobView; events: JobEventView[]; debug?: Record<string, unknown> }> {
    const row = await this.requireRow(jobId);
    const events = await this.deps.store.listEvents(jobId);
    const job = await this.viewWithLinks(row);
    if (!opts.debug) return { job, events: events.map(toJobEventView) };
    return { job, events: events.map(toJobEventView), debug: debugDocumentOf(row, job, events) };
  }

  async list(cmd: ListCommand): Promise<{ jobs: JobView[]; total: number; counts: Partial<Record<JobState, number>> }> {
    const others = {
      ...(cmd.conversation_id === undefined ? {} : { conversationId: cmd.conversation_id }),
      ...(cmd.character === undefined ? {} : { character: cmd.character }),
      ...(cmd.id_prefix === undefined ? {} : { idPrefix: cmd.id_prefix }),
    };
    const filter = { ...others, ...(cmd.state === undefined ? {} : { states: Array.isArray(cmd.state) ? cmd.state : [cmd.state] }) };
    const [rows, total, counts] = await Promise.all([
      this.deps.store.listJobs({ ...filter, limit: cmd.limit, offset: cmd.offset }),
      this.deps.store.countJobs(filter),
      this.deps.store.countByState(others),
    ]);
    const regenerations = await this.deps.store.listRegenerations(rows.map((row) => row.id));
    return { jobs: rows.map((row) => this.viewOf(row, regenerations.get(row.id))), total, counts };
  }

  /**
   * Re-creates every unfinished job from its snapshot. Slots of jobs that ComfyUI may hold
   * are counted first, and those jobs look their prompt up (locate) before anything is
   * sent or watched again: never two ComfyUI runs for one job because of a crash.
   */
  async restore(): Promise<number> {
    const coordination = this.deps.coordination;
    // Shared database: only the jobs nobody drives (or this instance drove before a restart).
    const rows = coordination
      ? await coordination.coordinator.claimJobs(coordination.instanceId, Number.MAX_SAFE_INTEGER, {
          includeOwn: true,
          ...(coordination.runToken === undefined ? {} : { runToken: coordination.runToken }),
        })
      : await this.deps.store.listUnfinished();
    return this.adopt(rows);
  }

  /**
   * Drives jobs this instance has just claimed (taken over from an instance that stopped),
   * exactly as a restart restores them: from the snapshot, reconciled with ComfyUI first.
   */
  async adopt(rows: JobRow[]): Promise<number> {
    if (!this.accepting) return 0;
    const restored: LiveJob[] = [];
    let parked = 0;
    const regenerations = rows.length === 0 ? new Map<string, string[]>() : await this.deps.store.listRegenerations(rows.map((row) => row.id));
    for (const row of rows) {
      if (this.live.has(row.id) || this.scheduler.isParked(row.id)) continue;
      if (row.snapshot === null || row.snapshot === undefined) {
        this.logger.error({ job_id: row.id }, 'unfinished job has no snapshot; it cannot be restored');
        await this.failUnrestorable(row);
        continue;
      }
      const position: JobPosition = { state: row.status, substate: row.substate };
      // Waiting for a slot: a row and a scheduler entry, as before the restart; no actor yet.
      const mark = reconcileMarkOf(row, position);
      if (mark) this.reconcile.set(row.id, mark);
      const waiting = position.substate === 'queued.waiting' ? waitingContextOf(row.snapshot) : undefined;
      if (waiting) {
        // Shared: a slot granted to it before its instance stopped, never used (its row still
        // says waiting, so it never reached ComfyUI), would count as held; give it back first.
        if (this.deps.coordination) await this.dropUnusedSlot(this.deps.coordination, row.id);
        // Marked: its slot is the backend that may hold its prompt, as for a live retry.
        this.scheduler.enqueueParked(row.id, waiting.request.priority, waiting.composed?.models ?? [], mark?.backend ?? undefined);
        this.parkedDeadlines.add(row.id, waiting.queueWaitDeadline);
        parked++;
        continue;
      }
      if (holdsSlot(position) && row.backend) this.scheduler.occupy(row.id, row.backend);
      restored.push(this.attach(this.actorFromRow(row), row, regenerations.get(row.id) ?? []));
    }
    for (const job of restored) job.actor.start();
    if (restored.length + parked > 0) this.logger.info({ jobs: restored.length + parked, waiting_for_a_slot: parked }, 'restored unfinished jobs');
    return restored.length + parked;
  }

  /** Cancels that reached other instances for jobs this one drives. */
  cancelRequested(jobIds: string[]): void {
    for (const jobId of jobIds) {
      const job = this.live.get(jobId);
      if (job) job.actor.send({ type: 'job.cancel' });
      else void this.reviveToCancel(jobId);
    }
  }

  /** Jobs waiting for a slot with no live actor (a row and a scheduler entry each). */
  parkedCount(): number {
    return this.scheduler.parkedCount();
  }

  /**
   * Stops the actor of a job that waits for a slot, once that wait is stored: the job is its
   * row (snapshot included) and a scheduler entry until something revives it.
   */
  private park(job: LiveJob): void {
    if (job.detached || !this.accepting || this.live.get(job.id) !== job) return;
    if (job.position.substate !== 'queued.waiting' || this.writer.lastWriteFailed(job.id)) return;
    const deadline = job.actor.getSnapshot().context.queueWaitDeadline;
    if (!this.scheduler.park(job.id)) return;
    job.detached = true;
    job.actor.stop();
    this.live.delete(job.id);
    this.parkedDeadlines.add(job.id, deadline);
  }

  /**
   * The actor of a parked job, back from its stored snapshot (a slot was granted: its acquire
   * takes it; or it is to end: its acquire never resolves). Retried while the store fails.
   */
  private revive(jobId: string): Promise<LiveJob | undefined> {
    const pending = this.reviving.get(jobId);
    if (pending) return pending;
    const revival = (async () => {
      try {
        // Both reads at once: they share one store transaction instead of queueing one after the other.
        const [row, regenerationsOf] = await Promise.all([this.deps.store.getJob(jobId), this.deps.store.listRegenerations([jobId])]);
        const live = this.live.get(jobId);
        if (live) return live;
        if (!this.accepting) return undefined;
        if (!row || finalStates.has(row.status) || row.snapshot === null || row.snapshot === undefined) {
          this.scheduler.release(jobId);
          return undefined;
        }
        const job = this.attach(this.actorFromRow(row), row, regenerationsOf.get(jobId) ?? []);
        job.actor.start();
        // Sent in the same turn as start: the machine takes it before a granted slot's answer.
        if (this.cancelOnRevive.delete(jobId)) job.actor.send({ type: 'job.cancel' });
        return job;
      } catch (error) {
        if (!this.accepting) return undefined;
        this.logger.error({ job_id: jobId, err: error }, 'reviving a waiting job failed; trying again in 1 s');
        this.clock.setTimeout(() => void this.revive(jobId), 1_000);
        return undefined;
      } finally {
        this.reviving.delete(jobId);
      }
    })();
    this.reviving.set(jobId, revival);
    return revival;
  }

  /**
   * A parked (or reviving) job's actor, back with a cancel sent the moment it starts: before
   * a slot granted meanwhile can be used, so nothing reaches ComfyUI. undefined: not parked here.
   */
  private async reviveToCancel(jobId: string): Promise<LiveJob | undefined> {
    if (!this.reviving.has(jobId) && !this.scheduler.unpark(jobId)) return undefined;
    this.cancelOnRevive.add(jobId);
    const job = await this.revive(jobId);
    this.cancelOnRevive.delete(jobId);
    return job;
  }

  private async dropUnusedSlot(coordination: JobCoordination, jobId: string): Promise<void> {
    try {
      await coordination.ledger.adoptSlot(jobId, coordination.instanceId);
      await coordination.ledger.releaseSlot(jobId, coordination.instanceId);
    } catch (error) {
      this.logger.warn({ job_id: jobId, err: error }, 'freeing the unused slot of a waiting job failed; its own next claim frees it');
    }
  }

  private actorFromRow(row: JobRow): JobActor {
    // The snapshot carries the context, so no input is needed (xstate's types insist on one).
    const options = { snapshot: snapshotWithGraph(row.snapshot, row.comfy_graph), ...(this.deps.inspect ? { inspect: this.deps.inspect } : {}) };
    return createActor(this.machine, options as unknown as { input: JobMachineInput });
  }

  /**
   * What an I/O actor awaits before touching ComfyUI: the transition that started it is
   * stored, and this run still drives jobs (once it lost its instance id, it touches nothing).
   */
  private async durable(jobId: string): Promise<void> {
    await this.writer.durable(jobId);
    // Checked after the wait, not only before it: a process that stalled while the write was
    // in flight handles the write's answer before any timer, its lease possibly run out and
    // its jobs taken by another run meanwhile.
    if (!this.drivesJobs()) throw jobNotDrivenHere(jobId);
  }

  /** False once this run lost its instance id: noticed (stopDriving), or its lease ran out by its own clock. */
  private drivesJobs(): boolean {
    return !this.instanceLost && this.deps.coordination?.holdsInstance?.() !== false;
  }

  /** Another instance drives the job now: stop here without touching ComfyUI or its slot. */
  private relinquish(job: LiveJob): void {
    if (job.detached) return;
    job.detached = true;
    job.actor.stop();
    this.scheduler.forget(job.id);
    if (this.live.get(job.id) === job) this.live.delete(job.id);
    this.logger.warn({ job_id: job.id }, 'another instance took this job over; stopped driving it');
  }

  /**
   * This run lost its instance id (it stalled past its lease; see JobLeaseKeeper): stops
   * every actor now, as stop() does, but gives no slot back — the slots, like the jobs and
   * the id, may be another run's now. Writes still pending are refused by the store's fence.
   */
  stopDriving(): void {
    this.instanceLost = true;
    void this.stop().catch(() => undefined);
  }

  /**
   * Stops taking work, lets pending transitions commit, and stops the actors without
   * touching ComfyUI: prompts keep running there and the next start reconciles them.
   * Once: the app stops the service before the outbox's last drain, and then the runtime's
   * stop stops it again; that call gets the first one's outcome (the very same error, so it
   * is reported once) and stops nothing twice.
   */
  stop(): Promise<void> {
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<void> {
    this.accepting = false;
    this.parkedDeadlines.close();
    for (const job of this.live.values()) {
      job.detached = true;
      job.actor.stop();
    }
    // Slots granted to parked jobs that never came back to life go back, not with them.
    await Promise.all(this.reviving.values());
    if (!this.instanceLost) await this.scheduler.releaseUntaken();
    await this.writer.drain();
    this.live.clear();
    this.scheduler.close();
    this.previews.close();
  }

  private attach(actor: JobActor, row: JobRow, regenerations: string[]): LiveJob {
    const job: LiveJob = { id: row.id, actor, row, position: positionOf(actor.getSnapshot().value), progress: null, detached: false, regenerations };
    this.live.set(row.id, job);
    actor.subscribe({
      next: (snapshot) => this.observe(job, snapshot),
      error: (error) => this.logger.error({ job_id: job.id, err: error }, 'job actor failed'),
    });
    return job;
  }

  private observe(job: LiveJob, snapshot: JobSnapshot): void {
    if (job.detached) return;
    const to = positionOf(snapshot.value);
    const from = job.position;
    if (samePosition(from, to)) {
      const progress = snapshot.context.progress;
      if (progress !== null && progress !== job.progress) {
        job.progress = progress;
        this.events.emit('progress', { jobId: job.id, conversationId: job.row.conversation_id, progress });
      }
      return;
    }
    // A run that stalled past its lease learns it here first (on waking, ComfyUI's buffered
    // messages are handled before any timer): it writes nothing, and everything stops.
    if (this.deps.coordination?.holdsInstance?.() === false) return;
    job.position = to;
    job.progress = snapshot.context.progress;
    // Leaving ComfyUI frees the slot; a slot granted while waiting is kept until it is used.
    if (!holdsSlot(to) && (holdsSlot(from) || !mayBeGranted(to))) this.scheduler.release(job.id);
    if (to.state !== 'processing') this.previews.forget(job.id);

    const nowIso = iso(this.clock.now());
    const persisted = persistWithoutGraph(snapshot, (s) => this.machine.getPersistedSnapshot(s));
    const patch = patchForTransition(job.row, snapshot.context, from, to, nowIso, persisted);
    job.row = applyPatch(job.row, patch, null, nowIso);
    // Begins to wait while no backend is reachable: its event says so (a note, not an error).
    const view = withSlotWaitNote(jobViewOf(job.row, job.progress, job.regenerations), () => this.deps.pool.list());
    const type = transitionType(from, to);
    const fromName = from.substate ?? from.state;
    const toName = to.substate ?? to.state;
    const final = snapshot.status === 'done';
    // A job that reached ComfyUI and then failed or was cancelled ran no freeingComfy step.
    const freedAlready = snapshot.context.handoffSteps?.some((s) => s.step === 'comfy_free') ?? false;
    if (
      final &&
      to.state !== 'completed' &&
      !freedAlready &&
      snapshot.context.backend &&
      (from.state === 'submitted' || from.state === 'processing' || from.state === 'moving')
    ) {
      this.handoff?.afterJobEnded(job.id, snapshot.context.backend).catch(() => undefined);
    }
    // Composed: the graph is in the context (and the snapshot); the admitted definition is done with.
    if (from.substate === 'queued.composing') this.admittedWorkflows.delete(job.id);
    const written = this.writer.enqueue(job.id, async () => {
      let seq: number;
      try {
        ({ seq } = await this.deps.store.recordTransition(job.id, patch, { type, from_state: fromName, to_state: toName, data: { job: view }, at: nowIso }));
      } catch (error) {
        if (isOwnershipLost(error)) this.relinquish(job);
        throw error;
      }
      job.row.last_seq = seq;
      this.deps.onPersisted?.();
      this.events.emit('transition', { jobId: job.id, seq, type, from: fromName, to: toName, job: view });
      if (final && this.live.get(job.id) === job) this.live.delete(job.id);
      if (final) this.admittedWorkflows.delete(job.id);
      // A restored job that ended before its watch looked (a failed or cancelled submission).
      if (final) this.reconcile.delete(job.id);
    });
    if (to.substate === 'queued.waiting') void written.then(() => this.park(job));
  }

  /** A row we cannot resume must not stay unfinished forever (it would count against QUEUE_FULL). */
  private async failUnrestorable(row: JobRow): Promise<void> {
    const now = iso(this.clock.now());
    const error = new ChorusError(ErrorCode.INTERNAL, 'the job could not be restored after a restart (no persisted snapshot)').toJSON();
    const failed: JobRow = { ...row, status: 'failed', substate: null, error, finished_at: now };
    const view = jobViewOf(failed);
    const from = row.substate ?? row.status;
    const { seq } = await this.deps.store.recordTransition(
      row.id,
      { status: 'failed', substate: null, error, finished_at: now },
      { type: 'failed', from_state: from, to_state: 'failed', data: { job: view }, at: now },
    );
    this.deps.onPersisted?.();
    this.events.emit('transition', { jobId: row.id, seq, type: 'failed', from, to: 'failed', job: view });
  }

  private machineInput(cmd: GenerateCommand, workflow: string, now: number): JobMachineInput {
    const c = this.deps.config.comfyui;
    return {
      jobId: this.newId(),
      promptId: this.newId(),
      createdAt: now,
      request: {
        conversationId: cmd.conversation_id,
        workflow,
        character: cmd.character ?? null,
        userRequest: cmd.user_request ?? null,
        activity: cmd.activity ?? null,
        prompt: cmd.prompt ?? null,
        negativePrompt: cmd.negative_prompt ?? null,
        seed: cmd.seed ?? null,
        priority: cmd.priority,
        strictLlm: cmd.strict_llm,
        parameters: cmd.parameters,
      },
      limits: {
        generationTimeoutMs: c.timeout_seconds * 1000,
        hardTimeoutMs: c.hard_timeout_seconds === undefined ? null : c.hard_timeout_seconds * 1000,
        queueWaitTimeoutMs: c.queue_wait_timeout_seconds * 1000,
        submitAttempts: c.connection_retry_attempts,
        submitBackoff: c.connection_retry_backoff,
        maxResubmits: c.max_resubmits,
        cancelConfirmMs: this.deps.cancelConfirmMs ?? 10_000,
      },
    };
  }

  private async viewWithLinks(row: JobRow): Promise<JobView> {
    const regenerations = await this.deps.store.listRegenerations([row.id]);
    return this.viewOf(row, regenerations.get(row.id));
  }

  private viewOf(row: JobRow, regenerations: readonly string[] = []): JobView {
    const view = withSlotWaitNote(jobViewOf(row, this.live.get(row.id)?.progress ?? null, regenerations), () => this.deps.pool.list());
    // Only where several instances share the work: which one drives the job.
    return typeof row.owner_instance === 'string' ? { ...view, owner: row.owner_instance } : view;
  }

  private async requireRow(jobId: string): Promise<JobRow> {
    const row = await this.deps.store.getJob(jobId);
    if (!row) throw new ChorusError(ErrorCode.JOB_NOT_FOUND, `No job with id "${jobId}"`, { details: { job_id: jobId } });
    return row;
  }
}
