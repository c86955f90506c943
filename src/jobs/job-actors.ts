/**
 * The job machine's actors: everything that touches the world. Each I/O actor that acts on
 * ComfyUI first awaits durability of the transition that started it (the collector, which
 * only copies files, overlaps it), and each is safe to run again after a restore (restoring
 * a snapshot re-runs invoked actors).
 */
import { fromCallback, fromPromise, type EventObject } from 'xstate';
import type { ComfyBackend, PromptEvent, SubmitResult } from '../comfy/backend-port.js';
import { promptNotSent } from '../comfy/comfy-http-errors.js';
import { outputFilesOf } from '../comfy/output-files.js';
import type { ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, isChorusError } from '../errors/index.js';
import { jobNotDrivenHere } from './instance-lease-loss.js';
import type {
  AcquireSlotInput,
  AcquireSlotOutput,
  CollectOutputsInput,
  ComposePromptInput,
  ComposedJobPrompt,
  GpuHandoffInput,
  GpuHandoffStep,
  JobEvent,
  PromptRef,
  SubmitPromptInput,
  SubmitPromptOutput,
  WaitForInput,
  WaitUntilInput,
} from '../../machines/job-types.js';
import type { JobResult } from '../contracts/job-view.js';
import type { Clock } from './clock.js';
import { fromTask, fromTimer } from './task-logic.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';
import type { BackendPoolPort, CharactersPort, CollectorPort, PromptComposerPort, WorkflowsPort } from './job-runtime-ports.js';
import type { WorkflowDefinition } from '../workflows/index.js';
import type { Scheduler } from './scheduler.js';
import { composeJobPrompt } from './job-prompt-composition.js';
import { OutputFolderAdvice } from './output-folder-advice.js';
import type { GpuHandoff } from './gpu-handoff.js';

/** A restored job whose prompt ComfyUI may hold. */
export interface ReconcileMark {
  /** The backend it was being sent to before the restart (the row's; null: none stored). */
  backend: string | null;
  /** Set by this run's POST that got no answer (no restart): found, the prompt is watched as any run. */
  unanswered?: boolean;
}

export interface JobActorDeps {
  pool: BackendPoolPort;
  workflows: WorkflowsPort;
  characters: CharactersPort;
  composer: PromptComposerPort;
  collector: CollectorPort;
  scheduler: Scheduler;
  /** GPU handoff between the LLM and ComfyUI (absent: off everywhere). */
  handoff?: GpuHandoff;
  config: Pick<ResolvedConfig, 'collectMode' | 'localCollectMode' | 'resolvedBackends' | 'comfyui'>;
  clock: Clock;
  logger: StructuredLogger;
  /** Resolves when the job's latest transition is committed. */
  durable(jobId: string): Promise<void>;
  /**
   * False once this process lost its instance id (several instances: it stalled past its
   * lease). The steps that do not wait for their transition to be stored (the collector, the
   * slot claim, the GPU handoff) ask first.
   */
  drivesJobs?(): boolean;
  /**
   * Jobs restored where ComfyUI may hold their prompt: look before sending or watching. The
   * mark is taken by the step that sends (ComfyUI had no such prompt) or by the watch. While it
   * is there, a new slot (a submit retry) is asked of the backend it names only.
   */
  reconcile: Pick<Map<string, ReconcileMark>, 'has' | 'get' | 'delete'>;
  /**
   * Marks a job whose POST failed after it may have reached `backend` (a timeout, a reset, a
   * 5xx): its retry of the same prompt id looks there first, as for a restored job.
   */
  markMaybeSent?(jobId: string, backend: string): void;
  /** When a restored job last began sending its prompt before the restore (ms, our clock). */
  sendingStartedAt?(jobId: string): Promise<number | null>;
  newPromptId(): string;
  /** The workflow a job was admitted with, while the service holds it. */
  admittedWorkflow?(jobId: string): WorkflowDefinition | undefined;
  /** Extra facts for the metadata sidecar (timings so far). */
  metadataFor?(jobId: string): Record<string, unknown>;
  /** ComfyUI's sampler previews for a job (the machine never sees them: they are not state). */
  onPreview?(jobId: string, preview: { node: string | null; mediaType: string; bytes: Buffer }): void;
}

/**
 * For the steps that do not wait for their transition to be stored (durable() checks the same):
 * a process that lost its instance id touches no slot, ComfyUI, LLM or file any more.
 */
function assertDrives(deps: JobActorDeps, jobId: string): void {
  if (deps.drivesJobs?.() !== false) return;
  throw jobNotDrivenHere(jobId);
}

/** Only a timing fact: when it cannot be read, the job goes on as accepted now. */
async function sentAtOf(deps: JobActorDeps, jobId: string): Promise<number | null> {
  try {
    return (await deps.sendingStartedAt?.(jobId)) ?? null;
  } catch (error) {
    deps.logger.warn({ job_id: jobId, err: error }, 'reading when a restored job was sent failed; its queue wait ends now');
    return null;
  }
}

/**
 * The backend a slot must be asked of: a job whose prompt may be in a backend's hands (the
 * reconcile mark: its look-up there failed) is sent nowhere else until that backend answered,
 * else a second copy could run beside the first. A backend no longer configured cannot be asked:
 * logged, and any backend is granted (the look-up then happens where the job is sent).
 */
function pinnedBackendOf(deps: JobActorDeps, jobId: string): string | undefined {
  const mark = deps.reconcile.get(jobId);
  if (mark === undefined) return undefined;
  if (mark.backend !== null && deps.pool.get(mark.backend)) return mark.backend;
  deps.logger.warn(
    { job_id: jobId, backend: mark.backend },
    'the backend a restored job was being sent to is not configured any more: it cannot be asked whether it holds the prompt; the job goes to any backend',
  );
  return undefined;
}

function backendOf(pool: BackendPoolPort, name: string): ComfyBackend {
  const backend = pool.get(name);
  if (!backend) {
    throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `ComfyUI backend "${name}" is not configured any more`, { details: { backend: name } });
  }
  return backend;
}

/** PromptEvents the machine cares about; the rest (executing, cached, previews) are dropped. */
export function machineEventOf(event: PromptEvent, now: number, newPromptId: () => string): JobEvent | null {
  switch (event.type) {
    case 'queued':
      return { type: 'comfy.queued', position: event.position };
    case 'started':
      return { type: 'comfy.started', at: now };
    case 'progress':
      return { type: 'comfy.progress', at: now, value: event.value, max: event.max, node: event.node };
    case 'succeeded':
      return { type: 'comfy.succeeded', at: now, files: event.files, ranMs: event.ranMs ?? null, foundLate: event.via === 'restore' };
    case 'failed':
      return { type: 'comfy.failed', at: now, failure: event.failure };
    case 'interrupted':
      return { type: 'comfy.interrupted', at: now, nodeId: event.nodeId };
    case 'lost':
      return { type: 'comfy.lost', at: now, nextPromptId: newPromptId() };
    default:
      return null;
  }
}

/** A handoff step of a job restored into a service whose config turned handoff off since. */
function offStep(step: GpuHandoffStep['step'], backend: string, at: number): GpuHandoffStep {
  return { step, outcome: 'skipped', backend, at, ms: 0, detail: 'GPU handoff is off' };
}

export function createJobActors(deps: JobActorDeps) {
  const { pool, clock } = deps;
  const outputFolderAdvice = new OutputFolderAdvice(deps.logger);
  const comfyOutputDirOf = (backend: string) =>
    deps.config.resolvedBackends.find((b) => b.name === backend)?.output_directory ?? deps.config.comfyui.file_management.output_directory;
  /**
   * ComfyUI named an output node's files: have the collector read them ahead (issue 16) while
   * the prompt finishes. Only where they will be moved from a folder on this machine; the
   * files collected are still the ones /history lists, as ever.
   */
  const movesLocalFiles = deps.config.collectMode === 'move' || (deps.config.collectMode === 'auto' && deps.config.localCollectMode === 'move');
  const warmOutputs = (backend: string, node: string, output: Record<string, unknown> | null) => {
    if (!output || !movesLocalFiles || !deps.collector.warm) return;
    const comfyOutputDir = comfyOutputDirOf(backend);
    if (comfyOutputDir === undefined) return;
    const files = outputFilesOf({ [node]: output });
    if (files.length > 0) deps.collector.warm({ files, comfyOutputDir });
  };
  return {
    composePrompt: fromTask<ComposedJobPrompt, ComposePromptInput>(async ({ input }) => {
      const composed = await composeJobPrompt(deps, input.request, deps.admittedWorkflow?.(input.jobId));
      // The LLM wrote it, so it holds GPU memory again: the next grant unloads it.
      if (composed.source === 'llm') deps.handoff?.noteLlmUsed();
      return composed;
    }),

    acquireSlot: fromTask<AcquireSlotOutput, AcquireSlotInput>(async ({ input, signal }) => {
      assertDrives(deps, input.jobId);
      const backend = await deps.scheduler.acquire(input.jobId, input.priority, signal, input.models ?? [], pinnedBackendOf(deps, input.jobId));
      return { backend, handoff: deps.handoff?.planFor(backend) ?? null, affinity: deps.scheduler.takeGrant(input.jobId) ?? null };
    }),

    freeLlm: fromTask<GpuHandoffStep, GpuHandoffInput>(async ({ input }) => {
      assertDrives(deps, input.jobId);
      if (!deps.handoff) return offStep('llm_unload', input.backend, clock.now());
      return deps.handoff.freeLlm(input.jobId, input.backend);
    }),

    freeComfy: fromTask<GpuHandoffStep, GpuHandoffInput>(async ({ input }) => {
      assertDrives(deps, input.jobId);
      if (!deps.handoff) return offStep('comfy_free', input.backend, clock.now());
      return deps.handoff.freeComfy(input.jobId, input.backend);
    }),

    submitPrompt: fromTask<SubmitPromptOutput, SubmitPromptInput>(async ({ input }) => {
      await deps.durable(input.jobId);
      const backend = backendOf(pool, input.backend);
      if (deps.reconcile.has(input.jobId)) {
        // A crash after the POST but before its transition was stored: never send it twice.
        // (A failed look keeps the mark: a retry looks again rather than sending blindly, and
        // its slot is on this same backend: pinnedBackendOf.)
        const location = await backend.locate(input.promptId);
        if (location.where !== 'absent') {
          deps.logger.info({ job_id: input.jobId, prompt_id: input.promptId, where: location.where }, 'restored job found in ComfyUI; not sending it again');
          deps.handoff?.noteComfyUsed(input.backend);
          // The mark stays for the watch, which reads a finished run as found after the restart.
          // ComfyUI took it when the job began sending it, as best known: the outage is not queue wait.
          const at = (await sentAtOf(deps, input.jobId)) ?? clock.now();
          // Unless this run sent it: then the service watched all along, and the watch reads it as any run.
          if (deps.reconcile.get(input.jobId)?.unanswered) deps.reconcile.delete(input.jobId);
          return { promptId: input.promptId, number: location.where === 'pending' ? location.position : 0, at };
        }
        deps.reconcile.delete(input.jobId);
      }
      let result: SubmitResult;
      try {
        result = await backend.submit({ promptId: input.promptId, prompt: input.prompt, jobId: input.jobId });
      } catch (error) {
        // ComfyUI may have queued it though no answer came: the retry must look before sending again.
        if (isChorusError(error) && error.code === ErrorCode.COMFY_UNAVAILABLE && !promptNotSent(error)) deps.markMaybeSent?.(input.jobId, input.backend);
        throw error;
      }
      deps.handoff?.noteComfyUsed(input.backend);
      return { promptId: result.promptId, number: result.number, at: clock.now() };
    }),

    watchPrompt: fromCallback<EventObject, PromptRef>(({ input, sendBack }) => {
      let stopped = false;
      let watch: { stop(): void } | undefined;
      const forward = (event: PromptEvent) => {
        if (stopped) return;
        if (event.type === 'preview') {
          deps.onPreview?.(input.jobId, { node: event.node, mediaType: event.mediaType, bytes: event.bytes });
          return;
        }
        if (event.type === 'executed') return void warmOutputs(input.backend, event.node, event.output);
        const machineEvent = machineEventOf(event, clock.now(), deps.newPromptId);
        if (machineEvent) sendBack(machineEvent);
      };
      const backend = pool.get(input.backend);
      if (!backend) {
        // Its backend left the config: ComfyUI's copy is unreachable, treat it as lost.
        queueMicrotask(() => forward({ type: 'lost', promptId: input.promptId }));
        return () => {
          stopped = true;
        };
      }
      const start = () => {
        if (!stopped) watch = backend.watch(input.promptId, forward);
      };
      if (deps.reconcile.delete(input.jobId)) {
        backend.locate(input.promptId).then(
          (location) => {
            // Finished while no service watched it: the timings must not count the wait as generation.
            if (location.where === 'history') forward({ ...location.outcome, via: 'restore' });
            else if (location.where === 'absent') forward({ type: 'lost', promptId: input.promptId });
            else start();
          },
          (error: unknown) => {
            deps.logger.warn({ job_id: input.jobId, err: error }, 'locating a restored prompt failed; watching it instead');
            start();
          },
        );
      } else {
        start();
      }
      return () => {
        stopped = true;
        watch?.stop();
      };
    }),

    cancelQueuedPrompt: fromPromise<void, PromptRef>(async ({ input }) => {
      await deps.durable(input.jobId);
      const backend = backendOf(pool, input.backend);
      await backend.deleteFromQueue(input.promptId);
      // It may have started between our decision and the delete: then interrupt it.
      const location = await backend.locate(input.promptId);
      if (location.where === 'running') await backend.interrupt(input.promptId);
      else if (location.where === 'pending') await backend.deleteFromQueue(input.promptId);
    }),

    interruptPrompt: fromPromise<void, PromptRef>(async ({ input }) => {
      await deps.durable(input.jobId);
      await backendOf(pool, input.backend).interrupt(input.promptId);
    }),

    collectOutputs: fromPromise<JobResult, CollectOutputsInput>(async ({ input, signal }) => {
      // The one I/O step that does not wait for its transition (`moving`) to commit: it runs
      // while that commit does (latency, issue 16). Safe because collecting is idempotent
      // and decides nothing in ComfyUI: a crash before `moving` is stored restores the job in
      // processing, which finds the prompt finished and collects again; and `completed` is
      // committed after `moving` (writes are in order per job) and only after the files are.
      // Not safe beside another process collecting the same job: a run that lost its instance
      // id (on waking from a stall, ComfyUI's news first) leaves the files alone.
      assertDrives(deps, input.jobId);
      const backend = pool.get(input.backend);
      const mode = deps.config.collectMode;
      if (mode === 'download' && !backend) backendOf(pool, input.backend);
      const comfyOutputDir = comfyOutputDirOf(input.backend);
      const result = await deps.collector.collect({
        jobId: input.jobId,
        conversationId: input.conversationId,
        files: input.files,
        mode,
        localMode: deps.config.localCollectMode,
        comfyOutputDir,
        download: backend ? (file) => backend.download(file) : undefined,
        metadata: {
          workflow: input.workflow,
          prompt: input.composed?.prompt ?? null,
          negative_prompt: input.composed?.negative ?? null,
          seed: input.composed?.seed ?? null,
          prompt_source: input.composed?.source ?? null,
          backend: input.backend,
          comfy_prompt_id: input.promptId,
          ...(deps.metadataFor?.(input.jobId) ?? {}),
        },
        signal,
      });
      if (mode === 'auto' && backend) outputFolderAdvice.afterCollect(backend, comfyOutputDir, result);
      return result;
    }),

    // Three per job, each stopped while armed: timers, not promises (src/jobs/task-logic.ts).
    waitUntil: fromTimer<WaitUntilInput>(clock, (input) => input.at),
    waitFor: fromTimer<WaitForInput>(clock, (input) => clock.now() + input.ms),
  };
}

export type JobActors = ReturnType<typeof createJobActors>;
