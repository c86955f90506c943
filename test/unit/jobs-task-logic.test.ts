import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, SimulatedClock } from 'xstate';
import { fromTask, fromTimer, taskStopped } from '../../src/jobs/task-logic.js';

const tick = () => new Promise((r) => setImmediate(r));

/** A parent that invokes `work` and records how it ended (the shape the job machine relies on). */
function parentOf(work: ReturnType<typeof fromTask<string, { v: string }>> | ReturnType<typeof fromTimer<{ at: number }>>, input: unknown) {
  return setup({
    types: { context: {} as { ended: string | null; output: unknown } },
    actors: { work: work as ReturnType<typeof fromTask<string, { v: string }>> },
  }).createMachine({
    context: { ended: null, output: null },
    initial: 'running',
    states: {
      running: {
        invoke: {
          src: 'work',
          input: () => input as { v: string },
          onDone: { target: 'ended', actions: assign({ ended: 'done', output: ({ event }) => event.output }) },
          onError: { target: 'ended', actions: assign({ ended: 'error', output: ({ event }) => (event.error as Error).message }) },
        },
        on: { leave: 'ended' },
      },
      ended: {},
    },
  });
}

describe('fromTimer: a deadline actor without a promise', () => {
  it('is done at its absolute instant and not before', async () => {
    const clock = new SimulatedClock();
    clock.set(1_000);
    const actor = createActor(
      parentOf(
        fromTimer<{ at: number }>(clock, (input) => input.at),
        { at: 1_500 },
      ),
    ).start();
    clock.increment(499);
    await tick();
    expect(actor.getSnapshot().context.ended).toBeNull();
    clock.increment(1);
    await tick();
    expect(actor.getSnapshot().context.ended).toBe('done');
  });

  it('a deadline already past is done on a later microtask, never inside start', async () => {
    const clock = new SimulatedClock();
    clock.set(2_000);
    const actor = createActor(
      parentOf(
        fromTimer<{ at: number }>(clock, (input) => input.at),
        { at: 1_000 },
      ),
    ).start();
    expect(actor.getSnapshot().context.ended).toBeNull();
    await Promise.resolve();
    expect(actor.getSnapshot().context.ended).toBe('done');
  });

  it('leaving the state clears its timer (no timer left on the clock)', async () => {
    const clock = new SimulatedClock();
    const cleared: unknown[] = [];
    const counting = {
      now: () => clock.now(),
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: (handle: unknown) => {
        cleared.push(handle);
        clock.clearTimeout(handle as number);
      },
    };
    const actor = createActor(
      parentOf(
        fromTimer<{ at: number }>(counting, (input) => input.at),
        { at: 5_000 },
      ),
    ).start();
    actor.send({ type: 'leave' });
    expect(cleared).toHaveLength(1);
    clock.increment(10_000);
    await tick();
    expect(actor.getSnapshot().value).toBe('ended');
    expect(actor.getSnapshot().context.ended).toBeNull();
  });

  it('a restored snapshot re-arms the timer for the same instant', async () => {
    const clock = new SimulatedClock();
    const machine = parentOf(
      fromTimer<{ at: number }>(clock, (input) => input.at),
      { at: 3_000 },
    );
    const first = createActor(machine).start();
    const stored = JSON.parse(JSON.stringify(first.getPersistedSnapshot()));
    first.stop();
    clock.increment(2_000);
    const restored = createActor(machine, { snapshot: stored }).start();
    clock.increment(999);
    await tick();
    expect(restored.getSnapshot().context.ended).toBeNull();
    clock.increment(1);
    await tick();
    expect(restored.getSnapshot().context.ended).toBe('done');
  });
});

describe('fromTask: fromPromise with a controller only when asked for', () => {
  it('done with the output, error with the rejection', async () => {
    const ok = createActor(
      parentOf(
        fromTask<string, { v: string }>(async ({ input }) => `got ${input.v}`),
        { v: 'x' },
      ),
    ).start();
    const bad = createActor(
      parentOf(
        fromTask<string, { v: string }>(async () => {
          throw new Error('nope');
        }),
        { v: 'x' },
      ),
    ).start();
    await tick();
    expect(ok.getSnapshot().context).toEqual({ ended: 'done', output: 'got x' });
    expect(bad.getSnapshot().context).toEqual({ ended: 'error', output: 'nope' });
  });

  it('stopping a running task aborts the signal it read, with the shared reason; a late answer is ignored', async () => {
    let signal: AbortSignal | undefined;
    let finish: (v: string) => void = () => undefined;
    const actor = createActor(
      parentOf(
        fromTask<string, { v: string }>(({ signal: s }) => {
          signal = s;
          return new Promise<string>((resolve) => (finish = resolve));
        }),
        { v: 'x' },
      ),
    ).start();
    expect(signal?.aborted).toBe(false);
    actor.send({ type: 'leave' });
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(taskStopped);
    finish('late');
    await tick();
    expect(actor.getSnapshot().context.ended).toBeNull();
  });

  it('the stored snapshot has fromPromise’s shape, so either restores the other', async () => {
    const actor = createActor(
      parentOf(
        fromTask<string, { v: string }>(() => new Promise<string>(() => undefined)),
        { v: 'x' },
      ),
    ).start();
    const children = (actor.getPersistedSnapshot() as unknown as { children: Record<string, { snapshot: unknown }> }).children;
    expect(Object.values(children)[0]?.snapshot).toEqual({ status: 'active', output: undefined, error: undefined, input: { v: 'x' } });
  });
});
