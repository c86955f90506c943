/**
 * Cheaper stand-ins for xstate's `fromPromise`, for the job actors that run on every job.
 * Same snapshot shape (`{status, output, error, input}`), so stored snapshots restore across
 * either, and the same contract for the machine: `done` with an output, `error` with the
 * rejection, and a restored `active` snapshot starts its work again.
 *
 * What they save (issue 16, CPU per job): `fromPromise` makes an AbortController for every
 * actor it starts, and stopping an actor that is still running aborts it with a new
 * DOMException (a stack trace): three deadline timers per job are stopped that way. Here a
 * timer is a timer (no promise, no controller), and a task makes its controller only if it
 * reads `signal`, aborting it with one shared reason.
 */
import type { AnyActorRef, PromiseActorLogic, PromiseSnapshot } from 'xstate';
import type { Clock } from './clock.js';

const RESOLVE = 'xstate.promise.resolve';
const REJECT = 'xstate.promise.reject';
const STOP = 'xstate.stop';

/** The reason a task's signal is aborted with when its actor stops (a constant: no stack trace per stop). */
export const taskStopped: Error = Object.freeze(Object.assign(new Error('the job actor stopped this task'), { name: 'AbortError' })) as Error;

function settle<TOutput, TInput>(
  state: PromiseSnapshot<TOutput, TInput>,
  event: { type: string; [k: string]: unknown },
): PromiseSnapshot<TOutput, TInput> | undefined {
  switch (event.type) {
    case RESOLVE:
      return { ...state, status: 'done', output: event['data'] as TOutput, input: undefined } as PromiseSnapshot<TOutput, TInput>;
    case REJECT:
      return { ...state, status: 'error', error: event['data'], input: undefined } as PromiseSnapshot<TOutput, TInput>;
    default:
      return undefined;
  }
}

function initial<TOutput, TInput>(input: TInput): PromiseSnapshot<TOutput, TInput> {
  return { status: 'active', output: undefined, error: undefined, input } as PromiseSnapshot<TOutput, TInput>;
}

/** `fromPromise` without an AbortController unless the task reads `signal`. */
export function fromTask<TOutput, TInput>(
  run: (args: { input: TInput; readonly signal: AbortSignal; self: AnyActorRef }) => PromiseLike<TOutput> | TOutput,
): PromiseActorLogic<TOutput, TInput> {
  const controllers = new WeakMap<AnyActorRef, AbortController>();
  const logic: PromiseActorLogic<TOutput, TInput> = {
    config: run,
    transition: (state, event, scope) => {
      if (state.status !== 'active') return state;
      if (event.type === STOP) {
        controllers.get(scope.self)?.abort(taskStopped);
        controllers.delete(scope.self);
        return { ...state, status: 'stopped', input: undefined } as PromiseSnapshot<TOutput, TInput>;
      }
      const settled = settle<TOutput, TInput>(state, event);
      if (settled) controllers.delete(scope.self);
      return settled ?? state;
    },
    start: (state, { self }) => {
      if (state.status !== 'active') return;
      const args = {
        input: state.input as TInput,
        self,
        get signal(): AbortSignal {
          let controller = controllers.get(self);
          if (!controller) {
            controller = new AbortController();
            controllers.set(self, controller);
          }
          return controller.signal;
        },
      };
      let result: PromiseLike<TOutput> | TOutput;
      try {
        result = run(args);
      } catch (error) {
        result = Promise.reject(error);
      }
      Promise.resolve(result).then(
        (data) => {
          if (self.getSnapshot().status === 'active') self.send({ type: RESOLVE, data });
        },
        (data: unknown) => {
          if (self.getSnapshot().status === 'active') self.send({ type: REJECT, data });
        },
      );
    },
    getInitialSnapshot: (_, input) => initial<TOutput, TInput>(input),
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as PromiseSnapshot<TOutput, TInput>,
  };
  return logic;
}

/** Node's timers overflow past ~24.8 days; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An actor that is `done` at the absolute instant `atOf(input)` on `clock` (read once, when
 * it starts: a restored timer fires at the same instant). Stopping it clears the timer.
 */
export function fromTimer<TInput>(clock: Clock, atOf: (input: TInput) => number): PromiseActorLogic<void, TInput> {
  const handles = new WeakMap<AnyActorRef, unknown>();
  const logic: PromiseActorLogic<void, TInput> = {
    transition: (state, event, scope) => {
      if (state.status !== 'active') return state;
      if (event.type === STOP) {
        const handle = handles.get(scope.self);
        if (handle !== undefined) clock.clearTimeout(handle);
        handles.delete(scope.self);
        return { ...state, status: 'stopped', input: undefined } as PromiseSnapshot<void, TInput>;
      }
      const settled = settle<void, TInput>(state, event);
      if (settled) handles.delete(scope.self);
      return settled ?? state;
    },
    start: (state, { self }) => {
      if (state.status !== 'active') return;
      const fire = (data: { type: string; data: unknown }) => {
        handles.delete(self);
        if (self.getSnapshot().status === 'active') self.send(data);
      };
      let at: number;
      try {
        at = atOf(state.input as TInput);
      } catch (error) {
        queueMicrotask(() => fire({ type: REJECT, data: error }));
        return;
      }
      const arm = () => {
        if (self.getSnapshot().status !== 'active') return;
        const remaining = at - clock.now();
        if (remaining <= 0) fire({ type: RESOLVE, data: undefined });
        else handles.set(self, clock.setTimeout(arm, Math.min(remaining, MAX_TIMER_MS)));
      };
      // Already due: done on a later microtask, as the promise it replaces was (never within `start`).
      if (at - clock.now() <= 0) queueMicrotask(() => fire({ type: RESOLVE, data: undefined }));
      else arm();
    },
    getInitialSnapshot: (_, input) => initial<void, TInput>(input),
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as PromiseSnapshot<void, TInput>,
  };
  return logic;
}
