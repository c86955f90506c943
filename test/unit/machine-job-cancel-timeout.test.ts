import { describe, expect, it } from 'vitest';
import { composedFixture, createMachineHarness, jobInput, type MachineHarness } from '../support/fake-job-machine-actors.js';

const files = [{ nodeId: '9', key: 'images', filename: 'a.png', subfolder: '', type: 'output' }];

async function toWaiting(h: MachineHarness) {
  h.last('composePrompt').resolve(composedFixture);
  await h.flush();
}
async function toSubmitting(h: MachineHarness) {
  await toWaiting(h);
  h.last('acquireSlot').resolve({ backend: 'gpu0' });
  await h.flush();
}
async function toSubmitted(h: MachineHarness) {
  await toSubmitting(h);
  h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
  await h.flush();
}
async function toProcessing(h: MachineHarness, at?: number) {
  await toSubmitted(h);
  h.activeWatch().send({ type: 'comfy.started', at: at ?? h.clock.now() });
  await h.flush();
}
async function toMoving(h: MachineHarness) {
  await toProcessing(h);
  h.activeWatch().send({ type: 'comfy.succeeded', at: h.clock.now(), files });
  await h.flush();
}

describe('job machine: cancel in every state', () => {
  it.each([
    ['queued.composing', async (_h: MachineHarness) => {}, 'composePrompt'],
    ['queued.waiting', toWaiting, 'acquireSlot'],
  ] as const)('%s → cancelled, dropping the local step', async (_name, reach, step) => {
    const h = createMachineHarness();
    await reach(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.last(step).aborted).toBe(true);
  });

  it('queued.retrying → cancelled, the backoff timer dropped', async () => {
    const h = createMachineHarness();
    await toSubmitting(h);
    h.last('submitPrompt').reject({ code: 'COMFY_UNAVAILABLE', message: 'down', recoverable: true });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'retrying' });
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.timers.filter((t) => t.kind === 'for').every((t) => t.aborted)).toBe(true);
  });

  it('queued.submitting: waits for the POST, then deletes it from the ComfyUI queue', async () => {
    const h = createMachineHarness();
    await toSubmitting(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'submitting' });
    expect(h.last('submitPrompt').aborted).toBe(false);
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'cancelling' });
    expect(h.last('cancelQueuedPrompt').input).toMatchObject({ promptId: 'prompt-1', backend: 'gpu0' });
    h.last('cancelQueuedPrompt').resolve(undefined);
    await h.flush();
    expect(h.value()).toBe('cancelled');
  });

  it('queued.submitting: a cancelled job whose POST failed is simply cancelled', async () => {
    const h = createMachineHarness();
    await toSubmitting(h);
    h.actor.send({ type: 'job.cancel' });
    h.last('submitPrompt').reject({ code: 'COMFY_UNAVAILABLE', message: 'down', recoverable: true });
    await h.flush();
    expect(h.value()).toBe('cancelled');
  });

  it('submitted → delete from the ComfyUI queue → cancelled', async () => {
    const h = createMachineHarness();
    await toSubmitted(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'cancelling' });
    // Starting meanwhile does not take it to processing: the cancel actor interrupts it.
    h.activeWatch().send({ type: 'comfy.started', at: 5 });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'cancelling' });
    h.last('cancelQueuedPrompt').resolve(undefined);
    await h.flush();
    expect(h.value()).toBe('cancelled');
  });

  it('submitted.cancelling ends early when ComfyUI reports the prompt finished', async () => {
    const h = createMachineHarness();
    await toSubmitted(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.interrupted', at: 5, nodeId: null });
    await h.flush();
    expect(h.value()).toBe('cancelled');
  });

  it('processing → targeted interrupt, cancelled when ComfyUI confirms', async () => {
    const h = createMachineHarness();
    await toProcessing(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toEqual({ processing: 'cancelling' });
    expect(h.last('interruptPrompt').input).toMatchObject({ promptId: 'prompt-1', backend: 'gpu0' });
    h.last('interruptPrompt').resolve(undefined);
    await h.flush();
    expect(h.value()).toEqual({ processing: 'cancelling' });
    h.activeWatch().send({ type: 'comfy.interrupted', at: 9, nodeId: '3' });
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.context().error).toBeNull();
  });

  it('processing.cancelling gives up waiting for the confirmation after cancelConfirmMs', async () => {
    const h = createMachineHarness();
    await toProcessing(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    h.last('interruptPrompt').resolve(undefined);
    await h.advance(4_999);
    expect(h.value()).toEqual({ processing: 'cancelling' });
    await h.advance(1);
    expect(h.value()).toBe('cancelled');
  });

  it('moving: the collector finishes (files are safe), then cancelled with the result kept', async () => {
    const h = createMachineHarness();
    await toMoving(h);
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
    expect(h.last('collectOutputs').aborted).toBe(false);
    const result = { files: [], metadataPath: 'm.json' };
    h.last('collectOutputs').resolve(result);
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.context().result).toEqual(result);
  });

  it.each(['completed', 'failed'] as const)('a cancel after %s changes nothing', async (end) => {
    const h = createMachineHarness();
    await toMoving(h);
    if (end === 'completed') h.last('collectOutputs').resolve({ files: [], metadataPath: 'm' });
    else h.last('collectOutputs').reject({ code: 'FILE_MOVE_FAILED', message: 'disk full', recoverable: true });
    await h.flush();
    h.actor.send({ type: 'job.cancel' });
    expect(h.value()).toBe(end);
  });
});

describe('job machine: generation timeout (from execution start)', () => {
  it('a long ComfyUI queue is not a slow generation', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000 }));
    await toSubmitted(h);
    await h.advance(50_000);
    expect(h.value()).toEqual({ submitted: 'pending' });
  });

  it('interrupts the prompt at the deadline, then GENERATION_TIMEOUT when ComfyUI confirms', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000 }));
    await toProcessing(h);
    await h.advance(9_999);
    expect(h.value()).toEqual({ processing: 'running' });
    await h.advance(1);
    expect(h.value()).toEqual({ processing: 'timingOut' });
    expect(h.last('interruptPrompt').input.promptId).toBe('prompt-1');
    h.last('interruptPrompt').resolve(undefined);
    h.activeWatch().send({ type: 'comfy.interrupted', at: h.clock.now(), nodeId: '3' });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('GENERATION_TIMEOUT');
  });

  it('a success that beats the interrupt is still delivered', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000 }));
    await toProcessing(h);
    await h.advance(10_000);
    h.activeWatch().send({ type: 'comfy.succeeded', at: h.clock.now(), files });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
    expect(h.context().error).toBeNull();
  });

  it('with a hard limit: overdue at the soft limit, still delivered late, failed only at the hard limit', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000, hardTimeoutMs: 30_000 }));
    await toProcessing(h);
    await h.advance(10_000);
    expect(h.value()).toEqual({ processing: 'overdue' });
    expect(h.count('interruptPrompt')).toBe(0);
    await h.advance(19_999);
    expect(h.value()).toEqual({ processing: 'overdue' });
    await h.advance(1);
    expect(h.value()).toEqual({ processing: 'timingOut' });
    await h.advance(5_000); // ComfyUI never confirms: give up waiting
    expect(h.value()).toBe('failed');
    expect(h.context().error).toMatchObject({ code: 'GENERATION_TIMEOUT', details: { timeoutMs: 30_000 } });
  });

  it('an overdue job that finishes is delivered', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000, hardTimeoutMs: 30_000 }));
    await toProcessing(h);
    await h.advance(15_000);
    h.activeWatch().send({ type: 'comfy.succeeded', at: h.clock.now(), files });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
  });
});

describe('job machine: queue-wait timeout (our queue + ComfyUI queue)', () => {
  it('fails QUEUE_WAIT_TIMEOUT while waiting for a slot', async () => {
    const h = createMachineHarness(jobInput({ queueWaitTimeoutMs: 20_000 }));
    await toWaiting(h);
    await h.advance(19_999);
    expect(h.value()).toEqual({ queued: 'waiting' });
    await h.advance(1);
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('QUEUE_WAIT_TIMEOUT');
    expect(h.last('acquireSlot').aborted).toBe(true);
  });

  it('counts time already spent in our queue, and deletes the prompt from ComfyUI queue at the deadline', async () => {
    const h = createMachineHarness(jobInput({ queueWaitTimeoutMs: 20_000 }));
    await toWaiting(h);
    await h.advance(15_000);
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 7 });
    await h.flush();
    await h.advance(5_000);
    expect(h.value()).toEqual({ submitted: 'expiring' });
    h.last('cancelQueuedPrompt').resolve(undefined);
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('QUEUE_WAIT_TIMEOUT');
  });

  it('does not apply once ComfyUI started the prompt', async () => {
    const h = createMachineHarness(jobInput({ queueWaitTimeoutMs: 20_000, generationTimeoutMs: 60_000 }));
    await toProcessing(h);
    await h.advance(30_000);
    expect(h.value()).toEqual({ processing: 'running' });
  });
});
