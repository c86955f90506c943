import { describe, expect, it } from 'vitest';
import { composedFixture, createMachineHarness, jobInput } from '../support/fake-job-machine-actors.js';

/** Round-trips through JSON like the jobs table does. */
function persisted(h: ReturnType<typeof createMachineHarness>): unknown {
  return JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot()));
}

describe('job machine: restore from a persisted snapshot', () => {
  it('a processing job resumes watching the same prompt, its deadline still absolute', async () => {
    const h = createMachineHarness(jobInput({ generationTimeoutMs: 10_000 }));
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.started', at: 1_000 });
    await h.flush();
    const saved = persisted(h);
    h.actor.stop();

    const r = createMachineHarness(jobInput(), saved);
    r.clock.set(7_000); // 6 s of the 10 s already elapsed before the "crash"
    expect(r.value()).toEqual({ processing: 'running' });
    expect(r.activeWatch().input).toEqual({ jobId: 'job-1', promptId: 'prompt-1', backend: 'gpu0' });
    expect(r.count('composePrompt')).toBe(0);
    expect(r.count('submitPrompt')).toBe(0);
    expect(r.timers.some((t) => t.kind === 'until' && t.at === 11_000 && !t.aborted)).toBe(true);
    r.activeWatch().send({ type: 'comfy.succeeded', at: 8_000, files: [] });
    await r.flush();
    expect(r.value()).toEqual({ moving: 'collecting' });
    // The sidecar's facts only: the collector's input is stored with every snapshot, the graph is not.
    const { prompt, negative, seed, source } = composedFixture;
    expect(r.last('collectOutputs').input.composed).toEqual({ prompt, negative, seed, source });
  });

  it('a job restored in queued.submitting runs submitPrompt again (the runtime locates first)', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    const saved = persisted(h);
    h.actor.stop();
    const r = createMachineHarness(jobInput(), saved);
    expect(r.value()).toEqual({ queued: 'submitting' });
    expect(r.count('submitPrompt')).toBe(1);
    expect(r.context().attempts).toBe(1); // entry actions do not run again
    r.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
    await r.flush();
    expect(r.value()).toEqual({ submitted: 'pending' });
  });

  it('a job restored in moving collects again (the collector is idempotent)', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    h.last('acquireSlot').resolve({ backend: 'gpu0' });
    await h.flush();
    h.last('submitPrompt').resolve({ promptId: 'prompt-1', number: 0 });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.succeeded', at: 2_000, files: [{ nodeId: '9', key: 'images', filename: 'a.png', subfolder: '', type: 'output' }] });
    await h.flush();
    const saved = persisted(h);
    h.actor.stop();
    const r = createMachineHarness(jobInput(), saved);
    expect(r.value()).toEqual({ moving: 'collecting' });
    expect(r.last('collectOutputs').input.files).toHaveLength(1);
    r.last('collectOutputs').resolve({ files: [], metadataPath: 'm' });
    await r.flush();
    expect(r.value()).toBe('completed');
  });

  it('a queued job restored after its queue-wait deadline fails at once', async () => {
    const h = createMachineHarness(jobInput({ queueWaitTimeoutMs: 5_000 }));
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    const saved = persisted(h);
    h.actor.stop();
    const r = createMachineHarness(jobInput(), saved);
    r.clock.set(60_000);
    await r.advance(0);
    expect(r.value()).toBe('failed');
    expect(r.context().error?.code).toBe('QUEUE_WAIT_TIMEOUT');
  });
});
