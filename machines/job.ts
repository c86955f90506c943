/**
 * The job machine: one actor per generation job. Pure — no I/O, no clock. Everything that
 * touches the world (LLM, scheduler, ComfyUI, disk, timers) is a named actor that
 * `src/jobs/job-actors.ts` provides with `jobMachine.provide({ actors })`.
 *
 * Timers are invoked actors (`waitUntil` an absolute deadline kept in context, `waitFor` a
 * short relative delay) rather than `after`: a restored snapshot re-runs invoked actors but
 * not entry actions, so `after` timers would silently vanish across a restart, while a
 * `waitUntil` re-armed on restore fires at the same absolute instant.
 *
 * Top-level states are exactly the architecture's: queued → submitted → processing →
 * moving → completed | failed | cancelled.
 */
import { assertEvent, assign, emit, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import type { JobResult } from '../src/contracts/index.js';
import { comfyLostData, errorDataOf, executionErrorData, generationTimeoutData, interruptedElsewhereData, queueWaitTimeoutData } from './job-error-data.js';
import { withRunAccepted, withRunEnded, withRunStarted } from './job-runs.js';
import type {
  AcquireSlotInput,
  AcquireSlotOutput,
  CollectOutputsInput,
  ComposePromptInput,
  ComposedJobPrompt,
  GpuHandoffInput,
  GpuHandoffStep,
  JobContext,
  JobEvent,
  JobMachineInput,
  PromptRef,
  SubmitPromptInput,
  SubmitPromptOutput,
  WaitForInput,
  WaitUntilInput,
} from './job-types.js';

export type * from './job-types.js';

/** Placeholder for an actor `src/jobs` must provide; failing loudly beats a silent stub. */
function mustProvide<TOut, TIn>(name: string) {
  return fromPromise<TOut, TIn>(async () => {
    throw new Error(`job machine: actor "${name}" was not provided`);
  });
}

/**
 * The error of an invoked actor's error event. Those events are XState's own
 * (`xstate.error.actor.*`), outside the JobEvent union, so they are recognised by shape.
 */
function actorErrorOf(event: object): unknown {
  return 'error' in event ? event.error : undefined;
}

const handoffInput = ({ context }: { context: JobContext }): GpuHandoffInput => ({ jobId: context.jobId, backend: context.backend ?? '' });

/** A handoff actor that threw anyway: recorded as a failed step, the job goes on. */
const failedHandoffStep = (context: JobContext, step: GpuHandoffStep['step'], error: unknown): GpuHandoffStep => ({
  step,
  outcome: 'failed',
  backend: context.backend ?? '',
  at: 0,
  ms: 0,
  detail: errorDataOf(error, 'INTERNAL').message,
});

const promptRef = ({ context }: { context: JobContext }): PromptRef => ({
  jobId: context.jobId,
  promptId: context.promptId,
  backend: context.backend ?? '',
});

export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    events: {} as JobEvent,
    input: {} as JobMachineInput,
    emitted: {} as { type: 'job.overdue'; jobId: string },
  },
  actors: {
    composePrompt: mustProvide<ComposedJobPrompt, ComposePromptInput>('composePrompt'),
    acquireSlot: mustProvide<AcquireSlotOutput, AcquireSlotInput>('acquireSlot'),
    submitPrompt: mustProvide<SubmitPromptOutput, SubmitPromptInput>('submitPrompt'),
    watchPrompt: fromCallback<EventObject, PromptRef>(() => {
      throw new Error('job machine: actor "watchPrompt" was not provided');
    }),
    cancelQueuedPrompt: mustProvide<void, PromptRef>('cancelQueuedPrompt'),
    interruptPrompt: mustProvide<void, PromptRef>('interruptPrompt'),
    collectOutputs: mustProvide<JobResult, CollectOutputsInput>('collectOutputs'),
    freeLlm: mustProvide<GpuHandoffStep, GpuHandoffInput>('freeLlm'),
    freeComfy: mustProvide<GpuHandoffStep, GpuHandoffInput>('freeComfy'),
    waitUntil: mustProvide<void, WaitUntilInput>('waitUntil'),
    waitFor: mustProvide<void, WaitForInput>('waitFor'),
  },
  guards: {
    hasHardTimeout: ({ context }) => context.hardDeadline !== null,
    cancelRequested: ({ context }) => context.cancelRequested,
    /** Only an unreachable ComfyUI is worth trying again; a rejected graph stays rejected. */
    canRetrySubmit: ({ context, event }) => {
      const error = errorDataOf(actorErrorOf(event), 'INTERNAL');
      return error.code === 'COMFY_UNAVAILABLE' && error.recoverable && context.submitFailures + 1 < context.limits.submitAttempts;
    },
    canResubmit: ({ context }) => context.resubmits < context.limits.maxResubmits,
    /** GPU handoff: the granted backend wants the LLM unloaded before its prompt is sent. */
    grantFreesLlm: ({ event }) => (event as { output?: AcquireSlotOutput }).output?.handoff?.freeLlm === true,
    freesComfy: ({ context }) => context.handoff?.freeComfy === true,
  },
  actions: {
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    recordStart: assign(({ context, event }) => {
      assertEvent(event, ['comfy.started', 'comfy.progress']);
      const { at } = event;
      const { generationTimeoutMs, hardTimeoutMs } = context.limits;
      return {
        startedAt: at,
        runs: withRunStarted(context.runs, at),
        generationDeadline: at + generationTimeoutMs,
        hardDeadline: hardTimeoutMs === null ? null : at + Math.max(hardTimeoutMs, generationTimeoutMs),
        queuePosition: null,
      };
    }),
    recordOutputs: assign(({ context, event }) => {
      assertEvent(event, 'comfy.succeeded');
      return {
        outputs: event.files,
        progress: null,
        runs: withRunEnded(context.runs, event.at, 'succeeded', { ranMs: event.ranMs, foundLate: event.foundLate }),
      };
    }),
    recordExecutionError: assign(({ context, event }) => {
      assertEvent(event, 'comfy.failed');
      return { error: executionErrorData(event.failure), runs: withRunEnded(context.runs, event.at, 'failed') };
    }),
    recordInterruptedElsewhere: assign(({ context, event }) => {
      assertEvent(event, 'comfy.interrupted');
      return { error: interruptedElsewhereData(event.nodeId), runs: withRunEnded(context.runs, event.at, 'interrupted') };
    }),
    recordActorError: assign({ error: ({ event }) => errorDataOf(actorErrorOf(event), 'INTERNAL') }),
    recordQueueWaitTimeout: assign({ error: ({ context }) => queueWaitTimeoutData(context.limits.queueWaitTimeoutMs) }),
    recordGenerationTimeout: assign({
      error: ({ context }) => generationTimeoutData(context.limits.hardTimeoutMs ?? context.limits.generationTimeoutMs, context.limits.hardTimeoutMs !== null),
    }),
    recordLost: assign(({ context, event }) => {
      assertEvent(event, 'comfy.lost');
      return { error: comfyLostData(context.resubmits), runs: withRunEnded(context.runs, event.at, 'lost') };
    }),
    /**
     * The new prompt id is chosen here, in the transition, and persisted before it is sent.
     * The job is back in the queue from this instant, so its queue wait starts again here:
     * the old deadline may have passed long ago (a job older than the limit that meets a
     * ComfyUI restart would otherwise fail QUEUE_WAIT_TIMEOUT at once).
     */
    prepareResubmit: assign(({ context, event }) => {
      assertEvent(event, 'comfy.lost');
      return {
        promptId: event.nextPromptId,
        runs: withRunEnded(context.runs, event.at, 'lost'),
        queueWaitDeadline: event.at + context.limits.queueWaitTimeoutMs,
        resubmits: context.resubmits + 1,
        submitFailures: 0,
        backend: null,
        handoff: null,
        queuePosition: null,
        startedAt: null,
        generationDeadline: null,
        hardDeadline: null,
        progress: null,
      };
    }),
    requestCancel: assign({ cancelRequested: true }),
    recordGrant: assign(({ event }) => {
      const output = (event as unknown as { output: AcquireSlotOutput }).output;
      return { backend: output.backend, handoff: output.handoff ?? null, affinity: output.affinity ?? null };
    }),
    recordHandoffStep: assign({
      handoffSteps: ({ context, event }) => [...(context.handoffSteps ?? []), (event as unknown as { output: GpuHandoffStep }).output],
    }),
    recordFailedLlmUnload: assign({
      handoffSteps: ({ context, event }) => [...(context.handoffSteps ?? []), failedHandoffStep(context, 'llm_unload', actorErrorOf(event))],
    }),
    recordFailedComfyFree: assign({
      handoffSteps: ({ context, event }) => [...(context.handoffSteps ?? []), failedHandoffStep(context, 'comfy_free', actorErrorOf(event))],
    }),
    recordProgress: assign(({ event }) => {
      assertEvent(event, 'comfy.progress');
      return { progress: { value: event.value, max: event.max, node: event.node } };
    }),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({
    ...input,
    composed: null,
    backend: null,
    attempts: 0,
    submitFailures: 0,
    resubmits: 0,
    queuePosition: null,
    queueWaitDeadline: input.createdAt + input.limits.queueWaitTimeoutMs,
    startedAt: null,
    generationDeadline: null,
    hardDeadline: null,
    progress: null,
    outputs: [],
    result: null,
    error: null,
    cancelRequested: false,
    handoff: null,
    handoffSteps: [],
  }),
  initial: 'queued',
  states: {
    queued: {
      initial: 'composing',
      invoke: {
        src: 'waitUntil',
        input: ({ context }) => ({ at: context.queueWaitDeadline }),
        onDone: { target: 'failed', actions: 'recordQueueWaitTimeout' },
        onError: { target: 'failed', actions: 'recordActorError' },
      },
      on: { 'job.cancel': { target: 'cancelled' } },
      states: {
        composing: {
          invoke: {
            src: 'composePrompt',
            input: ({ context }) => ({ jobId: context.jobId, request: context.request }),
            onDone: { target: 'waiting', actions: assign({ composed: ({ event }) => event.output }) },
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        waiting: {
          invoke: {
            src: 'acquireSlot',
            input: ({ context }) => ({ jobId: context.jobId, priority: context.request.priority, models: context.composed?.models ?? [] }),
            onDone: [
              { guard: 'grantFreesLlm', target: 'freeingLlm', actions: 'recordGrant' },
              { target: 'submitting', actions: 'recordGrant' },
            ],
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        // GPU handoff: the slot is held; the LLM gives the GPU back before ComfyUI gets the
        // prompt. A failed unload is a recorded warning: the job is sent all the same.
        freeingLlm: {
          invoke: {
            src: 'freeLlm',
            input: handoffInput,
            onDone: { target: 'submitting', actions: 'recordHandoffStep' },
            onError: { target: 'submitting', actions: 'recordFailedLlmUnload' },
          },
        },
        submitting: {
          entry: 'countAttempt',
          // The POST may already have reached ComfyUI: cancelling now must go through its queue.
          on: { 'job.cancel': { actions: 'requestCancel' } },
          invoke: {
            src: 'submitPrompt',
            input: ({ context }) => ({
              jobId: context.jobId,
              promptId: context.promptId,
              backend: context.backend ?? '',
              prompt: context.composed?.apiPrompt ?? {},
            }),
            onDone: [
              {
                guard: 'cancelRequested',
                target: '#job.submitted.cancelling',
                actions: assign({
                  promptId: ({ event }) => event.output.promptId,
                  runs: ({ context, event }) => withRunAccepted(context.runs, event.output.promptId, context.backend ?? '', event.output.at),
                }),
              },
              {
                target: '#job.submitted',
                actions: assign({
                  promptId: ({ event }) => event.output.promptId,
                  queuePosition: ({ event }) => event.output.number,
                  // ComfyUI took it: a run begins (the breakdown counts queue wait up to the first).
                  runs: ({ context, event }) => withRunAccepted(context.runs, event.output.promptId, context.backend ?? '', event.output.at),
                  submitFailures: 0,
                  error: null,
                }),
              },
            ],
            onError: [
              { guard: 'cancelRequested', target: '#job.cancelled' },
              {
                guard: 'canRetrySubmit',
                target: 'retrying',
                actions: ['recordActorError', assign({ submitFailures: ({ context }) => context.submitFailures + 1 })],
              },
              { target: '#job.failed', actions: 'recordActorError' },
            ],
          },
        },
        retrying: {
          invoke: {
            src: 'waitFor',
            // Restarting a backoff after a restore is harmless, so it may be relative.
            input: ({ context }) => ({ ms: Math.round(context.limits.submitBackoff ** context.submitFailures * 1000) }),
            onDone: { target: 'waiting' },
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
      },
    },

    submitted: {
      initial: 'pending',
      invoke: [
        {
          src: 'watchPrompt',
          input: promptRef,
          onError: { target: 'failed', actions: 'recordActorError' },
        },
      ],
      on: {
        'comfy.queued': { actions: assign({ queuePosition: ({ event }) => event.position }) },
        'comfy.started': { target: 'processing', actions: 'recordStart' },
        'comfy.progress': { target: 'processing', actions: ['recordStart', 'recordProgress'] },
        // Every output cached: ComfyUI finishes without us ever seeing it run.
        'comfy.succeeded': { target: 'moving', actions: 'recordOutputs' },
        'comfy.failed': { target: 'failed', actions: 'recordExecutionError' },
        'comfy.interrupted': { target: 'failed', actions: 'recordInterruptedElsewhere' },
        'comfy.lost': [
          { guard: 'canResubmit', target: '#job.queued.waiting', actions: 'prepareResubmit' },
          { target: 'failed', actions: 'recordLost' },
        ],
        'job.cancel': { target: '.cancelling' },
      },
      states: {
        pending: {
          invoke: {
            src: 'waitUntil',
            input: ({ context }) => ({ at: context.queueWaitDeadline }),
            onDone: { target: 'expiring', actions: 'recordQueueWaitTimeout' },
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        // Delete it from ComfyUI's queue (the actor interrupts it if it started meanwhile).
        cancelling: {
          invoke: {
            src: 'cancelQueuedPrompt',
            input: promptRef,
            onDone: { target: '#job.cancelled' },
            onError: { target: '#job.cancelled', actions: 'recordActorError' },
          },
          on: {
            'comfy.started': {},
            'comfy.progress': {},
            'job.cancel': {},
            'comfy.succeeded': { target: '#job.cancelled' },
            'comfy.failed': { target: '#job.cancelled' },
            'comfy.interrupted': { target: '#job.cancelled' },
            'comfy.lost': { target: '#job.cancelled' },
          },
        },
        expiring: {
          invoke: {
            src: 'cancelQueuedPrompt',
            input: promptRef,
            onDone: { target: '#job.failed' },
            onError: { target: '#job.failed' },
          },
          on: {
            'comfy.started': {},
            'comfy.progress': {},
            'job.cancel': {},
            'comfy.succeeded': { target: '#job.failed' },
            'comfy.failed': { target: '#job.failed' },
            'comfy.interrupted': { target: '#job.failed' },
            'comfy.lost': { target: '#job.failed' },
          },
        },
      },
    },

    processing: {
      initial: 'running',
      invoke: {
        src: 'watchPrompt',
        input: promptRef,
        onError: { target: 'failed', actions: 'recordActorError' },
      },
      on: {
        'comfy.progress': { actions: 'recordProgress' },
        'comfy.succeeded': { target: 'moving', actions: 'recordOutputs' },
        'comfy.failed': { target: 'failed', actions: 'recordExecutionError' },
        'comfy.interrupted': { target: 'failed', actions: 'recordInterruptedElsewhere' },
        'comfy.lost': [
          { guard: 'canResubmit', target: '#job.queued.waiting', actions: 'prepareResubmit' },
          { target: 'failed', actions: 'recordLost' },
        ],
        'job.cancel': { target: '.cancelling' },
      },
      states: {
        running: {
          invoke: {
            src: 'waitUntil',
            input: ({ context }) => ({ at: context.generationDeadline ?? context.queueWaitDeadline }),
            onDone: [{ guard: 'hasHardTimeout', target: 'overdue' }, { target: 'timingOut' }],
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        // Past the soft limit: keep watching so a slow workflow's late image is delivered.
        overdue: {
          entry: emit(({ context }) => ({ type: 'job.overdue' as const, jobId: context.jobId })),
          invoke: {
            src: 'waitUntil',
            input: ({ context }) => ({ at: context.hardDeadline ?? context.generationDeadline ?? 0 }),
            onDone: { target: 'timingOut' },
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        // Interrupt this prompt only, then fail once ComfyUI confirms (or stays silent).
        timingOut: {
          entry: 'recordGenerationTimeout',
          invoke: [
            { src: 'interruptPrompt', input: promptRef, onError: { target: '#job.failed' } },
            {
              src: 'waitFor',
              input: ({ context }) => ({ ms: context.limits.cancelConfirmMs }),
              onDone: { target: '#job.failed' },
              onError: { target: '#job.failed' },
            },
          ],
          on: {
            'job.cancel': {},
            'comfy.interrupted': { target: '#job.failed' },
            'comfy.failed': { target: '#job.failed' },
            'comfy.lost': { target: '#job.failed' },
            // A late success still wins: the image exists, deliver it.
            'comfy.succeeded': { target: '#job.moving', actions: ['recordOutputs', assign({ error: null })] },
          },
        },
        cancelling: {
          invoke: [
            { src: 'interruptPrompt', input: promptRef, onError: { target: '#job.cancelled' } },
            {
              src: 'waitFor',
              input: ({ context }) => ({ ms: context.limits.cancelConfirmMs }),
              onDone: { target: '#job.cancelled' },
              onError: { target: '#job.cancelled' },
            },
          ],
          on: {
            'job.cancel': {},
            'comfy.progress': {},
            'comfy.interrupted': { target: '#job.cancelled' },
            'comfy.failed': { target: '#job.cancelled' },
            'comfy.succeeded': { target: '#job.cancelled' },
            'comfy.lost': { target: '#job.cancelled' },
          },
        },
      },
    },

    // A cancel here waits for the collector: the files are safe, then the job is cancelled
    // with its result kept (so the delivered files can still be found).
    moving: {
      initial: 'collecting',
      on: { 'job.cancel': { actions: 'requestCancel' } },
      states: {
        collecting: {
          invoke: {
            src: 'collectOutputs',
            input: ({ context }) => ({
              ...promptRef({ context }),
              conversationId: context.request.conversationId,
              files: context.outputs,
              // The facts the sidecar records, not the graph: the input is stored with the snapshot.
              composed: context.composed && {
                prompt: context.composed.prompt,
                negative: context.composed.negative,
                seed: context.composed.seed,
                source: context.composed.source,
              },
              workflow: context.request.workflow,
            }),
            onDone: [
              { guard: 'freesComfy', target: 'freeingComfy', actions: assign({ result: ({ event }) => event.output }) },
              { guard: 'cancelRequested', target: '#job.cancelled', actions: assign({ result: ({ event }) => event.output }) },
              { target: '#job.completed', actions: assign({ result: ({ event }) => event.output, error: null }) },
            ],
            onError: { target: '#job.failed', actions: 'recordActorError' },
          },
        },
        // GPU handoff: the files are safe; ComfyUI is asked to free the GPU when the rule says so.
        freeingComfy: {
          invoke: {
            src: 'freeComfy',
            input: handoffInput,
            onDone: [
              { guard: 'cancelRequested', target: '#job.cancelled', actions: 'recordHandoffStep' },
              { target: '#job.completed', actions: ['recordHandoffStep', assign({ error: null })] },
            ],
            onError: [
              { guard: 'cancelRequested', target: '#job.cancelled', actions: 'recordFailedComfyFree' },
              { target: '#job.completed', actions: ['recordFailedComfyFree', assign({ error: null })] },
            ],
          },
        },
      },
    },

    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});

export type JobMachine = typeof jobMachine;
