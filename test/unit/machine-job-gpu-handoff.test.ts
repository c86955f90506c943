/**
 * The GPU handoff sub-states of the job machine: the LLM is freed after the slot is granted
 * and before the prompt is sent; ComfyUI is freed after the files are safe. A failed step is
 * recorded and the job goes on; with handoff off neither state is entered.
 */
import { describe, expect, it } from 'vitest';
import type { GpuHandoffStep } from '../../machines/job-types.js';
import { composedFixture, createMachineHarness, type MachineHarness } from '../support/fake-job-machine-actors.js';

const files = [{ nodeId: '9', key: 'images', filename: 'a.png', subfolder: '', type: 'output' }];
const result = { files: [], metadataPath: 'm.json' };
const on = { freeLlm: true, freeComfy: true };

const step = (s: Partial<GpuHandoffStep> & Pick<GpuHandoffStep, 'step'>): GpuHandoffStep => ({
  outcome: 'done',
  backend: 'gpu0',
  at: 2_000,
  ms: 120,
  detail: 'ok',
  ...s,
});

async function toMoving(h: MachineHarness, handoff: typeof on | null): Promise<void> {
  h.last('composePrompt').resolve({ ...composedFixture, models: ['a.safetensors'] });
  await h.flush();
  expect(h.last('acquireSlot').input).toEqual({ jobId: 'job-1', priority: 0, models: ['a.safetensors'] });
  h.last('acquireSlot').resolve({ backend: 'gpu0', handoff });
  await h.flush();
  if (handoff?.freeLlm) {
    expect(h.value()).toEqual({ queued: 'freeingLlm' });
    expect(h.count('submitPrompt')).toBe(0);
    expect(h.last('freeLlm').input).toEqual({ jobId: 'job-1', backend: 'gpu0' });
    h.last('freeLlm').resolve(step({ step: 'llm_unload' }));
    await h.flush();
  }
  expect(h.value()).toEqual({ queued: 'submitting' });
  h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 1 });
  await h.flush();
  h.activeWatch().send({ type: 'comfy.succeeded', at: 3_000, files });
  await h.flush();
  expect(h.value()).toEqual({ moving: 'collecting' });
}

describe('job machine: GPU handoff', () => {
  it('frees the LLM between the grant and the submission, and ComfyUI after collecting', async () => {
    const h = createMachineHarness();
    await toMoving(h, on);
    expect(h.count('freeComfy')).toBe(0);
    h.last('collectOutputs').resolve(result);
    await h.flush();
    expect(h.value()).toEqual({ moving: 'freeingComfy' });
    expect(h.context().result).toEqual(result);
    h.last('freeComfy').resolve(step({ step: 'comfy_free', ms: 8 }));
    await h.flush();
    expect(h.value()).toBe('completed');
    expect(h.context().handoffSteps?.map((s) => [s.step, s.outcome])).toEqual([
      ['llm_unload', 'done'],
      ['comfy_free', 'done'],
    ]);
  });

  it('a failed unload is recorded and the prompt is still sent; a thrown free still completes', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0', handoff: on });
    await h.flush();
    h.last('freeLlm').resolve(step({ step: 'llm_unload', outcome: 'failed', detail: 'HTTP 500' }));
    await h.flush();
    expect(h.value()).toEqual({ queued: 'submitting' });
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 1 });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.succeeded', at: 3_000, files });
    await h.flush();
    h.last('collectOutputs').resolve(result);
    await h.flush();
    h.last('freeComfy').reject(new Error('socket hang up'));
    await h.flush();
    expect(h.value()).toBe('completed');
    expect(h.context().error).toBeNull();
    const steps = h.context().handoffSteps ?? [];
    expect(steps.map((s) => [s.step, s.outcome])).toEqual([
      ['llm_unload', 'failed'],
      ['comfy_free', 'failed'],
    ]);
    expect(steps[1]?.detail).toContain('socket hang up');
  });

  it('with handoff off neither step is entered', async () => {
    const h = createMachineHarness();
    await toMoving(h, null);
    h.last('collectOutputs').resolve(result);
    await h.flush();
    expect(h.value()).toBe('completed');
    expect(h.count('freeLlm')).toBe(0);
    expect(h.count('freeComfy')).toBe(0);
    expect(h.context().handoffSteps).toEqual([]);
  });

  it('a cancel while the LLM is freed cancels before anything reaches ComfyUI', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0', handoff: on });
    await h.flush();
    h.actor.send({ type: 'job.cancel' });
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.last('freeLlm').aborted).toBe(true);
    expect(h.count('submitPrompt')).toBe(0);
  });

  it('a cancel during the ComfyUI free ends cancelled with the files kept', async () => {
    const h = createMachineHarness();
    await toMoving(h, on);
    h.last('collectOutputs').resolve(result);
    await h.flush();
    h.actor.send({ type: 'job.cancel' });
    h.last('freeComfy').resolve(step({ step: 'comfy_free' }));
    await h.flush();
    expect(h.value()).toBe('cancelled');
    expect(h.context().result).toEqual(result);
  });

  it('a restore in queued.freeingLlm frees again before sending', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0', handoff: on });
    await h.flush();
    const saved = h.actor.getPersistedSnapshot();
    h.actor.stop();
    const r = createMachineHarness(undefined, saved);
    expect(r.value()).toEqual({ queued: 'freeingLlm' });
    r.last('freeLlm').resolve(step({ step: 'llm_unload', outcome: 'skipped' }));
    await r.flush();
    expect(r.value()).toEqual({ queued: 'submitting' });
  });
});
