import { describe, expect, it } from 'vitest';
import { composedFixture, createMachineHarness, jobInput, type MachineHarness } from '../support/fake-job-machine-actors.js';

// Limits small enough to reason about: 3 s in the queue, 20 s of generation.
const limits = { queueWaitTimeoutMs: 3_000, generationTimeoutMs: 20_000, maxResubmits: 2 };

async function toProcessing(h: MachineHarness): Promise<void> {
  h.last('composePrompt').resolve(composedFixture);
  await h.flush();
  h.last('acquireSlot').resolve({ backend: 'gpu0' });
  await h.flush();
  h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
  await h.flush();
  h.activeWatch().send({ type: 'comfy.started', at: h.clock.now() });
  await h.flush();
}

describe('job machine: a prompt lost after the queue-wait limit has passed', () => {
  it('goes back to the queue with a queue-wait deadline counted from the loss, not from admission', async () => {
    const h = createMachineHarness(jobInput(limits));
    await toProcessing(h);
    // ComfyUI ran it for 8 s (well past the 3 s queue-wait limit), then restarted and forgot it.
    await h.advance(8_000);
    expect(h.value()).toEqual({ processing: 'running' });
    const lostAt = h.clock.now();
    h.activeWatch().send({ type: 'comfy.lost', at: lostAt, nextPromptId: 'prompt-2' });
    await h.flush();

    expect(h.value()).toEqual({ queued: 'waiting' });
    expect(h.context().queueWaitDeadline).toBe(lostAt + 3_000);
    expect(h.context().error).toBeNull();
    // The queue timer armed on re-entry waits for the fresh deadline, not the stale one.
    const queueTimer = h.timers.filter((t) => t.kind === 'until' && !t.aborted).map((t) => t.at);
    expect(queueTimer).toEqual([lostAt + 3_000]);
  });

  it('is resubmitted and watched instead of failing QUEUE_WAIT_TIMEOUT, and gets a fresh generation timeout when it starts again', async () => {
    const h = createMachineHarness(jobInput(limits));
    await toProcessing(h);
    await h.advance(8_000);
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-2' });
    await h.flush();
    await h.advance(1_000);
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    expect(h.last('submitPrompt').input).toMatchObject({ promptId: 'prompt-2' });
    h.last('submitPrompt').resolve({ promptId: 'prompt-2', number: 0 });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'pending' });
    expect(h.context().error).toBeNull();

    await h.advance(1_000);
    const restartedAt = h.clock.now();
    h.activeWatch().send({ type: 'comfy.started', at: restartedAt });
    await h.flush();
    expect(h.value()).toEqual({ processing: 'running' });
    expect(h.context()).toMatchObject({ startedAt: restartedAt, generationDeadline: restartedAt + 20_000 });

    // 19 s into the second run the first run's deadline (set 30 s ago) is long gone: still running.
    await h.advance(19_000);
    expect(h.value()).toEqual({ processing: 'running' });
    h.activeWatch().send({ type: 'comfy.succeeded', at: h.clock.now(), files: [] });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
  });

  it('still enforces the fresh queue-wait deadline when the resubmitted prompt never starts', async () => {
    const h = createMachineHarness(jobInput(limits));
    await toProcessing(h);
    await h.advance(8_000);
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-2' });
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-2', number: 4 });
    await h.flush();
    await h.advance(2_999);
    expect(h.value()).toEqual({ submitted: 'pending' });
    await h.advance(1);
    expect(h.value()).toEqual({ submitted: 'expiring' });
    expect(h.context().error?.code).toBe('QUEUE_WAIT_TIMEOUT');
  });
});
