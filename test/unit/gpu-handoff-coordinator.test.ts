/**
 * GpuHandoff's decisions, with fake unloaders and a fake ComfyUI: one unload per burst, jobs
 * granted together share one call, a use of the LLM or an idle backend makes the next job
 * unload again, when_idle frees once, a failure is a step with its reason, never a throw.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { GpuHandoff } from '../../src/jobs/gpu-handoff.js';
import type { LlmUnloader, LlmUnloadResult } from '../../src/prompts/llm-unloader.js';
import { silentLogger } from '../../src/contracts/index.js';

function fakeUnloader() {
  const calls: Array<(r: LlmUnloadResult | Error) => void> = [];
  const unloader: LlmUnloader = {
    describe: 'fake llm',
    unload: () => new Promise<LlmUnloadResult>((resolve, reject) => calls.push((r) => (r instanceof Error ? reject(r) : resolve(r)))),
  };
  return { unloader, calls };
}

function setup(rule: 'after_each' | 'when_idle' | 'never' = 'when_idle') {
  const clock = new SimulatedClock();
  clock.set(10_000);
  const llm = fakeUnloader();
  const busy = new Set<string>();
  const frees: string[] = [];
  let failFree = false;
  const comfy = {
    freeMemory: async () => {
      frees.push('gpu0');
      if (failFree) throw new Error('connection refused');
    },
  };
  const handoff = new GpuHandoff({
    backends: [{ name: 'gpu0', gpu_handoff: { llm: 'ollama', ollama: { unload: 'configured' }, free_comfyui: rule, timeout_ms: 1_000 } }],
    unloaderFor: () => llm.unloader,
    pool: { get: (name: string) => (name === 'gpu0' ? (comfy as never) : undefined) },
    busy: (b) => busy.has(b),
    clock,
    logger: silentLogger,
  });
  return { handoff, llm, busy, frees, clock, failFreeNext: () => (failFree = true) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('GpuHandoff', () => {
  it('plans per backend: a backend without gpu_handoff asks for nothing', () => {
    const { handoff } = setup('never');
    expect(handoff.planFor('gpu0')).toEqual({ freeLlm: true, freeComfy: false });
    expect(handoff.planFor('other')).toBeNull();
  });

  it('unloads once per burst; jobs granted together share the call', async () => {
    const { handoff, llm, clock } = setup();
    const first = handoff.freeLlm('j1', 'gpu0');
    const second = handoff.freeLlm('j2', 'gpu0');
    expect(llm.calls).toHaveLength(1);
    clock.increment(300);
    llm.calls[0]!({ outcome: 'done', detail: 'unloaded' });
    expect(await first).toMatchObject({ outcome: 'done', ms: 300 });
    expect(await second).toMatchObject({ outcome: 'joined' });
    expect(await handoff.freeLlm('j3', 'gpu0')).toMatchObject({ outcome: 'skipped', detail: expect.stringContaining('already unloaded') });
    expect(llm.calls).toHaveLength(1);
  });

  it('unloads again after our composer used the LLM, or after the backend was idle', async () => {
    const { handoff, llm } = setup();
    const once = handoff.freeLlm('j1', 'gpu0');
    llm.calls[0]!({ outcome: 'done', detail: '' });
    await once;
    handoff.noteLlmUsed();
    const again = handoff.freeLlm('j2', 'gpu0');
    llm.calls[1]!({ outcome: 'done', detail: '' });
    expect((await again).outcome).toBe('done');
    handoff.noteIdle('gpu0');
    void handoff.freeLlm('j3', 'gpu0');
    expect(llm.calls).toHaveLength(3);
  });

  it('an unload overtaken by a use of the LLM does not count as freed', async () => {
    const { handoff, llm } = setup();
    const step = handoff.freeLlm('j1', 'gpu0');
    handoff.noteLlmUsed();
    llm.calls[0]!({ outcome: 'done', detail: '' });
    await step;
    void handoff.freeLlm('j2', 'gpu0');
    expect(llm.calls).toHaveLength(2);
  });

  it('a failed unload is a step with its reason, counted, and the next job tries again', async () => {
    const { handoff, llm } = setup();
    const step = handoff.freeLlm('j1', 'gpu0');
    llm.calls[0]!(new Error('POST http://x/api/generate answered HTTP 500: boom'));
    expect(await step).toMatchObject({ outcome: 'failed', detail: 'fake llm: POST http://x/api/generate answered HTTP 500: boom' });
    void handoff.freeLlm('j2', 'gpu0');
    expect(llm.calls).toHaveLength(2);
    expect(handoff.counters()).toContainEqual(expect.objectContaining({ backend: 'gpu0', step: 'llm_unload', outcome: 'failed', count: 1 }));
  });

  it('when_idle: skipped while busy, freed once when idle, not again until ComfyUI ran something', async () => {
    const { handoff, busy, frees } = setup('when_idle');
    handoff.noteComfyUsed('gpu0');
    busy.add('gpu0');
    expect((await handoff.freeComfy('j1', 'gpu0')).outcome).toBe('skipped');
    busy.delete('gpu0');
    expect((await handoff.freeComfy('j2', 'gpu0')).outcome).toBe('done');
    expect((await handoff.freeComfy('j3', 'gpu0')).detail).toContain('already freed');
    await handoff.afterJobEnded('j4', 'gpu0');
    expect(frees).toEqual(['gpu0']);
    handoff.noteComfyUsed('gpu0');
    await handoff.afterJobEnded('j5', 'gpu0');
    expect(frees).toEqual(['gpu0', 'gpu0']);
  });

  it('after_each frees after every job; a failed /free is a failed step and stays to do', async () => {
    const { handoff, frees, failFreeNext } = setup('after_each');
    expect((await handoff.freeComfy('j1', 'gpu0')).outcome).toBe('done');
    failFreeNext();
    const failed = await handoff.freeComfy('j2', 'gpu0');
    expect(failed).toMatchObject({ outcome: 'failed', detail: expect.stringContaining('connection refused') });
    expect(frees).toHaveLength(2);
    await settle();
  });
});
