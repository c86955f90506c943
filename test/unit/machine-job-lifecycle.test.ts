import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import { jobMachine } from '../../machines/job.js';
import { composedFixture, createMachineHarness, jobInput, type MachineHarness } from '../support/fake-job-machine-actors.js';

const comfyDown = { code: 'COMFY_UNAVAILABLE', message: 'connect ECONNREFUSED', recoverable: true };
const files = [{ nodeId: '9', key: 'images', filename: 'a.png', subfolder: '', type: 'output' }];
const result = { files: [], metadataPath: 'conversations/c1/images/job-1_metadata.json' };

async function toSubmitted(h: MachineHarness): Promise<void> {
  h.last('composePrompt').resolve(composedFixture);
  await h.flush();
  h.last('acquireSlot').resolve({ backend: 'gpu0' });
  await h.flush();
  h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 3 });
  await h.flush();
}

async function toProcessing(h: MachineHarness): Promise<void> {
  await toSubmitted(h);
  h.activeWatch().send({ type: 'comfy.started', at: h.clock.now() });
  await h.flush();
}

describe('job machine: the happy path', () => {
  it('starts in queued.composing (pure initialTransition)', () => {
    const [snapshot] = initialTransition(jobMachine, jobInput());
    expect(snapshot.value).toEqual({ queued: 'composing' });
    expect(snapshot.context.queueWaitDeadline).toBe(1_000 + 600_000);
  });

  it('goes queued → submitted → processing → moving → completed', async () => {
    const h = createMachineHarness();
    expect(h.value()).toEqual({ queued: 'composing' });
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    expect(h.value()).toEqual({ queued: 'waiting' });
    expect(h.last('acquireSlot').input).toEqual({ jobId: 'job-1', priority: 0, models: [] });
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'submitting' });
    expect(h.last('submitPrompt').input).toMatchObject({ promptId: 'prompt-1', backend: 'gpu0', prompt: composedFixture.apiPrompt });
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 3 });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'pending' });
    expect(h.context()).toMatchObject({ attempts: 1, queuePosition: 3, backend: 'gpu0' });

    h.activeWatch().send({ type: 'comfy.started', at: 5_000 });
    await h.flush();
    expect(h.value()).toEqual({ processing: 'running' });
    expect(h.context().generationDeadline).toBe(65_000);
    h.activeWatch().send({ type: 'comfy.progress', at: 5_100, value: 3, max: 20, node: '3' });
    expect(h.context().progress).toEqual({ value: 3, max: 20, node: '3' });
    h.activeWatch().send({ type: 'comfy.succeeded', at: 9_000, files });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
    expect(h.watches.every((w) => w.stopped)).toBe(true);
    expect(h.last('collectOutputs').input).toMatchObject({ files, conversationId: 'c1', backend: 'gpu0' });
    h.last('collectOutputs').resolve(result);
    await h.flush();
    expect(h.value()).toBe('completed');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.context().result).toEqual(result);
  });

  it('goes straight from submitted to moving when every output was cached', async () => {
    const h = createMachineHarness();
    await toSubmitted(h);
    h.activeWatch().send({ type: 'comfy.succeeded', at: 2_000, files });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });
  });

  it('a progress event in submitted means execution started', async () => {
    const h = createMachineHarness();
    await toSubmitted(h);
    h.activeWatch().send({ type: 'comfy.progress', at: 3_000, value: 1, max: 4, node: '3' });
    await h.flush();
    expect(h.value()).toEqual({ processing: 'running' });
    expect(h.context()).toMatchObject({ startedAt: 3_000, progress: { value: 1, max: 4 } });
  });

  it('records the prompt id ComfyUI actually used (older servers choose their own)', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'server-chosen', number: 0 });
    await h.flush();
    expect(h.context().promptId).toBe('server-chosen');
    expect(h.activeWatch().input.promptId).toBe('server-chosen');
  });
});

describe('job machine: failures are data', () => {
  it('compose failure → failed with the actor error', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').reject({ code: 'PROMPT_GENERATION_FAILED', message: 'llm down', recoverable: true });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error).toMatchObject({ code: 'PROMPT_GENERATION_FAILED', message: 'llm down' });
  });

  it('a plain Error becomes INTERNAL', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').reject(new Error('boom'));
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error).toEqual({ code: 'INTERNAL', message: 'boom', recoverable: false });
  });

  it('execution error in processing → failed EXECUTION_ERROR with the node', async () => {
    const h = createMachineHarness();
    await toProcessing(h);
    h.activeWatch().send({
      type: 'comfy.failed',
      at: 9_000,
      failure: { nodeId: '3', nodeType: 'KSampler', exceptionType: 'RuntimeError', exceptionMessage: 'CUDA OOM' },
    });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error).toMatchObject({ code: 'EXECUTION_ERROR', details: { nodeId: '3' } });
    expect(h.context().error?.message).toContain('CUDA OOM');
  });

  it('execution error while still submitted → failed', async () => {
    const h = createMachineHarness();
    await toSubmitted(h);
    h.activeWatch().send({ type: 'comfy.failed', at: 2, failure: { nodeId: null, nodeType: null, exceptionType: null, exceptionMessage: 'x' } });
    await h.flush();
    expect(h.value()).toBe('failed');
  });

  it('an interrupt we did not ask for → failed EXECUTION_ERROR', async () => {
    for (const reach of [toSubmitted, toProcessing]) {
      const h = createMachineHarness();
      await reach(h);
      h.activeWatch().send({ type: 'comfy.interrupted', at: 9, nodeId: '3' });
      await h.flush();
      expect(h.value()).toBe('failed');
      expect(h.context().error?.code).toBe('EXECUTION_ERROR');
    }
  });

  it('collector failure → failed with its code', async () => {
    const h = createMachineHarness();
    await toProcessing(h);
    h.activeWatch().send({ type: 'comfy.succeeded', at: 9, files: [] });
    await h.flush();
    h.last('collectOutputs').reject({ code: 'NO_OUTPUT', message: 'nothing', recoverable: true });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('NO_OUTPUT');
  });

  it('ignores ComfyUI events that have no meaning before submission', () => {
    const h = createMachineHarness();
    const [next] = transition(jobMachine, h.actor.getSnapshot(), { type: 'comfy.queued', position: 1 });

    expect(next.value).toEqual({ queued: 'composing' });
  });
});

describe('job machine: submission retries', () => {
  it('retries COMFY_UNAVAILABLE with backoff ^ failures seconds, then succeeds', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').reject(comfyDown);
    await h.flush();
    expect(h.value()).toEqual({ queued: 'retrying' });
    expect(h.context().submitFailures).toBe(1);
    await h.advance(1_999);
    expect(h.value()).toEqual({ queued: 'retrying' });
    await h.advance(1);
    expect(h.value()).toEqual({ queued: 'waiting' });
    expect(h.count('acquireSlot')).toBe(2);
    h.last('acquireSlot').resolve({ backend: 'gpu1' });
    await h.flush();
    h.last('submitPrompt').reject(comfyDown);
    await h.flush();
    await h.advance(3_999);
    expect(h.value()).toEqual({ queued: 'retrying' });
    await h.advance(1);
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
    await h.flush();
    expect(h.value()).toEqual({ submitted: 'pending' });
    expect(h.context()).toMatchObject({ attempts: 3, submitFailures: 0, error: null });
  });

  it('gives up after connection_retry_attempts tries', async () => {
    const h = createMachineHarness(jobInput({ submitAttempts: 2 }));
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').reject(comfyDown);
    await h.flush();
    await h.advance(2_000);
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').reject(comfyDown);
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('COMFY_UNAVAILABLE');
    expect(h.context().attempts).toBe(2);
  });

  it('does not retry a rejected graph (WORKFLOW_NODE_ERROR)', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').reject({ code: 'WORKFLOW_NODE_ERROR', message: 'bad ckpt', recoverable: false });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.count('submitPrompt')).toBe(1);
  });
});

describe('job machine: a prompt lost by a ComfyUI restart', () => {
  it('is resubmitted under the new prompt id chosen in the transition', async () => {
    const h = createMachineHarness();
    await toProcessing(h);
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-2' });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'waiting' });
    expect(h.context()).toMatchObject({ promptId: 'prompt-2', resubmits: 1, backend: null, startedAt: null, generationDeadline: null });
    expect(h.count('composePrompt')).toBe(1);
    h.last('acquireSlot').resolve({ backend: 'gpu1' });
    await h.flush();
    expect(h.last('submitPrompt').input).toMatchObject({ promptId: 'prompt-2', backend: 'gpu1' });
  });

  it('fails COMFY_LOST once max_resubmits is used up', async () => {
    const h = createMachineHarness(jobInput({ maxResubmits: 1 }));
    await toSubmitted(h);
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-2' });
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-2', number: 0 });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-3' });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().error?.code).toBe('COMFY_LOST');
    expect(h.context().promptId).toBe('prompt-2');
  });
});
