/**
 * Controllable stand-ins for the job machine's actors: each invocation is recorded with
 * its input and settled by the test; timers run on xstate's SimulatedClock.
 */
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from 'xstate';
import { jobMachine, type JobEvent, type JobMachineInput } from '../../machines/job.js';
import type { ComposedJobPrompt, WaitForInput, WaitUntilInput } from '../../machines/job-types.js';

export interface PendingCall<TIn = unknown, TOut = unknown> {
  input: TIn;
  aborted: boolean;
  resolve(value: TOut): void;
  reject(error: unknown): void;
}

export interface WatchCall {
  input: { jobId: string; promptId: string; backend: string };
  stopped: boolean;
  send(event: JobEvent): void;
}

type Name = 'composePrompt' | 'acquireSlot' | 'submitPrompt' | 'cancelQueuedPrompt' | 'interruptPrompt' | 'collectOutputs' | 'freeLlm' | 'freeComfy';

export const composedFixture: ComposedJobPrompt = {
  prompt: 'a fox sketching',
  negative: 'blurry',
  seed: 42,
  source: 'template',
  apiPrompt: { '1': { class_type: 'SaveImage', inputs: {} } },
  debug: {},
};

export function jobInput(overrides: Partial<JobMachineInput['limits']> = {}): JobMachineInput {
  return {
    jobId: 'job-1',
    promptId: 'prompt-1',
    createdAt: 1_000,
    request: {
      conversationId: 'c1',
      workflow: 'wf',
      character: 'nova',
      userRequest: 'a selfie',
      activity: null,
      prompt: null,
      negativePrompt: null,
      seed: null,
      priority: 0,
      strictLlm: false,
      parameters: {},
    },
    limits: {
      generationTimeoutMs: 60_000,
      hardTimeoutMs: null,
      queueWaitTimeoutMs: 600_000,
      submitAttempts: 3,
      submitBackoff: 2,
      maxResubmits: 1,
      cancelConfirmMs: 5_000,
      ...overrides,
    },
  };
}

export function createMachineHarness(input: JobMachineInput = jobInput(), snapshot?: unknown) {
  const clock = new SimulatedClock();
  clock.set(1_000);
  const calls = new Map<Name, PendingCall[]>();
  const watches: WatchCall[] = [];
  const timers: { kind: 'until' | 'for'; at: number; aborted: boolean }[] = [];

  const pending = <TIn, TOut>(name: Name) =>
    fromPromise<TOut, TIn>(
      ({ input: callInput, signal }) =>
        new Promise<TOut>((resolve, reject) => {
          // The real submitPrompt stamps when ComfyUI took the prompt; tests that leave `at` out get the clock's now.
          const stamped = (value: TOut): TOut =>
            name === 'submitPrompt' && typeof value === 'object' && value !== null && !('at' in value) ? { ...value, at: clock.now() } : value;
          const call: PendingCall<TIn, TOut> = { input: callInput, aborted: false, resolve: (value) => resolve(stamped(value)), reject };
          signal.addEventListener('abort', () => (call.aborted = true));
          const list = calls.get(name) ?? [];
          list.push(call as PendingCall);
          calls.set(name, list);
        }),
    );
  const arm = (kind: 'until' | 'for', at: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const record = { kind, at, aborted: false };
      timers.push(record);
      const id = clock.setTimeout(resolve, Math.max(0, at - clock.now()));
      signal.addEventListener('abort', () => {
        record.aborted = true;
        clock.clearTimeout(id);
      });
    });
  const waitUntil = fromPromise<void, WaitUntilInput>(({ input: t, signal }) => arm('until', t.at, signal));
  const waitFor = fromPromise<void, WaitForInput>(({ input: t, signal }) => arm('for', clock.now() + t.ms, signal));

  const machine = jobMachine.provide({
    actors: {
      composePrompt: pending('composePrompt'),
      acquireSlot: pending('acquireSlot'),
      submitPrompt: pending('submitPrompt'),
      cancelQueuedPrompt: pending('cancelQueuedPrompt'),
      interruptPrompt: pending('interruptPrompt'),
      collectOutputs: pending('collectOutputs'),
      freeLlm: pending('freeLlm'),
      freeComfy: pending('freeComfy'),
      waitUntil,
      waitFor,
      watchPrompt: fromCallback<EventObject, WatchCall['input']>(({ input: w, sendBack }) => {
        const call: WatchCall = { input: w, stopped: false, send: (e) => sendBack(e) };
        watches.push(call);
        return () => {
          call.stopped = true;
        };
      }),
    },
  });
  const actor = createActor(machine, snapshot === undefined ? { input } : ({ snapshot, input } as never));
  actor.start();

  return {
    actor,
    clock,
    watches,
    timers,
    /** The latest invocation of an actor (throws when there is none, so a test names its step). */
    last<TIn = any, TOut = any>(name: Name): PendingCall<TIn, TOut> {
      const list = calls.get(name);
      const call = list?.[list.length - 1];
      if (!call) throw new Error(`${name} was not invoked`);
      return call as PendingCall<TIn, TOut>;
    },
    count(name: Name): number {
      return calls.get(name)?.length ?? 0;
    },
    activeWatch(): WatchCall {
      const w = watches.filter((x) => !x.stopped);
      if (w.length !== 1) throw new Error(`expected one active watch, found ${w.length}`);
      return w[0]!;
    },
    value(): unknown {
      return actor.getSnapshot().value;
    },
    context() {
      return actor.getSnapshot().context;
    },
    /** Lets promise settlements reach the actor. */
    async flush(): Promise<void> {
      for (let i = 0; i < 5; i++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
    },
    async advance(ms: number): Promise<void> {
      clock.increment(ms);
      for (let i = 0; i < 5; i++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
    },
  };
}
export type MachineHarness = ReturnType<typeof createMachineHarness>;
