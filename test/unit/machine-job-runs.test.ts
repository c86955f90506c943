/**
 * The machine's record of its ComfyUI runs (`context.runs`), which the timing breakdown is
 * computed from: one entry per submission ComfyUI accepted, with the times its events
 * carried, kept in the persisted snapshot; and snapshots stored before the record existed
 * still restore and run to the end.
 */
import { describe, expect, it } from 'vitest';
import { machineEventOf } from '../../src/jobs/job-actors.js';
import { positionOf } from '../../src/jobs/job-state-of.js';
import { applyPatch, patchForTransition } from '../../src/jobs/job-row-patch.js';
import { timingsOf } from '../../src/jobs/job-view-mapper.js';
import { jobRowFixture } from '../support/job-row-fixture.js';
import { composedFixture, createMachineHarness, jobInput, type MachineHarness } from '../support/fake-job-machine-actors.js';

const limits = { maxResubmits: 2 };

/** Round-trips through JSON like the jobs table does. */
function persisted(h: MachineHarness): Record<string, unknown> & { context: Record<string, unknown> } {
  return JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot()));
}

async function toSubmitted(h: MachineHarness, promptId = 'prompt-1'): Promise<void> {
  h.last('acquireSlot').resolve({ backend: 'gpu0' });
  await h.flush();
  h.last('submitPrompt').resolve({ promptId, number: 0 });
  await h.flush();
}

describe('job machine: the record of ComfyUI runs', () => {
  it('a run ComfyUI forgot and the resubmitted one that succeeds are two runs, with their own times and outcomes', async () => {
    const h = createMachineHarness(jobInput(limits));
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    await h.advance(500); // waiting for a slot: queue wait
    await toSubmitted(h);
    await h.advance(1_000);
    h.activeWatch().send({ type: 'comfy.started', at: h.clock.now() });
    await h.flush();
    h.activeWatch().send({ type: 'comfy.progress', at: h.clock.now() + 100, value: 1, max: 4, node: '3' });
    await h.advance(4_000);
    h.activeWatch().send({ type: 'comfy.lost', at: h.clock.now(), nextPromptId: 'prompt-2' });
    await h.flush();
    expect(h.value()).toEqual({ queued: 'waiting' });
    await h.advance(300);
    await toSubmitted(h, 'prompt-2');
    await h.advance(200);
    h.activeWatch().send({ type: 'comfy.started', at: h.clock.now() });
    await h.advance(3_000);
    h.activeWatch().send({ type: 'comfy.succeeded', at: h.clock.now(), files: [], ranMs: 2_990 });
    await h.flush();
    expect(h.value()).toEqual({ moving: 'collecting' });

    expect(h.context().runs).toEqual([
      { promptId: 'prompt-1', backend: 'gpu0', submittedAt: 1_500, startedAt: 2_500, endedAt: 6_500, outcome: 'lost', ranMs: null, foundLate: false },
      { promptId: 'prompt-2', backend: 'gpu0', submittedAt: 6_800, startedAt: 7_000, endedAt: 10_000, outcome: 'succeeded', ranMs: 2_990, foundLate: false },
    ]);
  });

  it('an outcome a restarted service found in history keeps ComfyUI’s execution time and says it was found late', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    await toSubmitted(h);
    h.activeWatch().send({ type: 'comfy.started', at: 2_000 });
    await h.flush();
    const saved = persisted(h);
    h.actor.stop();

    const r = createMachineHarness(jobInput(), saved);
    r.clock.set(90_000);
    expect(r.context().runs).toEqual([
      { promptId: 'prompt-1', backend: 'gpu0', submittedAt: 1_000, startedAt: 2_000, endedAt: null, outcome: null, ranMs: null, foundLate: false },
    ]);
    r.activeWatch().send({ type: 'comfy.succeeded', at: 90_000, files: [], ranMs: 5_000, foundLate: true });
    await r.flush();
    expect(r.context().runs?.[0]).toMatchObject({ endedAt: 90_000, outcome: 'succeeded', ranMs: 5_000, foundLate: true });
  });

  it('an execution error ends the run as failed', async () => {
    const h = createMachineHarness();
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    await toSubmitted(h);
    const failure = { nodeId: '3', nodeType: 'KSampler', exceptionType: 'RuntimeError', exceptionMessage: 'boom' };
    h.activeWatch().send({ type: 'comfy.failed', at: 4_000, failure });
    await h.flush();
    expect(h.value()).toBe('failed');
    expect(h.context().runs?.[0]).toMatchObject({ endedAt: 4_000, outcome: 'failed' });
  });
});

describe('job machine: a snapshot stored before runs were recorded', () => {
  /** The same job as stored by the machine before `runs` existed: its context has no such key. */
  async function oldSnapshotIn(state: 'processing' | 'submitted'): Promise<Record<string, unknown> & { context: Record<string, unknown> }> {
    const h = createMachineHarness(jobInput(limits));
    h.last('composePrompt').resolve(composedFixture);
    await h.flush();
    await toSubmitted(h);
    if (state === 'processing') {
      h.activeWatch().send({ type: 'comfy.started', at: 2_000 });
      await h.flush();
    }
    const saved = persisted(h);
    h.actor.stop();
    delete saved.context['runs'];
    expect(Object.keys(saved.context)).not.toContain('runs');
    return saved;
  }

  it('restores in processing and completes; the timings come from the row’s stamps as before', async () => {
    const r = createMachineHarness(jobInput(limits), await oldSnapshotIn('processing'));
    expect(r.value()).toEqual({ processing: 'running' });
    r.activeWatch().send({ type: 'comfy.succeeded', at: 8_000, files: [], ranMs: 5_900 });
    await r.flush();
    expect(r.value()).toEqual({ moving: 'collecting' });
    expect(r.context().runs).toBeUndefined();
    r.last('collectOutputs').resolve({ files: [], metadataPath: 'm' });
    await r.flush();
    expect(r.value()).toBe('completed');

    const stored = jobRowFixture({
      status: 'moving',
      substate: 'moving.collecting',
      submitted_at: '2026-01-01T00:00:01.000Z',
      started_at: '2026-01-01T00:00:02.000Z',
      debug: { timestamps: { moving_at: '2026-01-01T00:00:08.000Z' }, resubmits: 0 },
    });
    const patch = patchForTransition(stored, r.context(), positionOf({ moving: 'collecting' }), positionOf('completed'), '2026-01-01T00:00:08.500Z', {});
    const done = applyPatch(stored, patch, null, '2026-01-01T00:00:08.500Z');
    expect(done.debug['runs']).toBeUndefined();
    expect(timingsOf(done)).toMatchObject({ queue_wait_ms: 1_000, comfy_queue_wait_ms: 1_000, generation_ms: 6_000, file_move_ms: 500, total_ms: 8_500 });
  });

  it('restores in submitted, is lost and resubmitted: the new run is recorded, and the lost time is reported unknown rather than wrong', async () => {
    const r = createMachineHarness(jobInput(limits), await oldSnapshotIn('submitted'));
    r.clock.set(5_000);
    r.activeWatch().send({ type: 'comfy.lost', at: 5_000, nextPromptId: 'prompt-2' });
    await r.flush();
    expect(r.value()).toEqual({ queued: 'waiting' });
    expect(r.context().runs).toBeUndefined();
    await toSubmitted(r, 'prompt-2');
    expect(r.context().runs).toEqual([
      { promptId: 'prompt-2', backend: 'gpu0', submittedAt: 5_000, startedAt: null, endedAt: null, outcome: null, ranMs: null, foundLate: false },
    ]);

    const stored = jobRowFixture({ status: 'queued', substate: 'queued.submitting', submitted_at: '2026-01-01T00:00:01.000Z' });
    const patch = patchForTransition(
      stored,
      r.context(),
      positionOf({ queued: 'submitting' }),
      positionOf({ submitted: 'pending' }),
      '2026-01-01T00:00:05.000Z',
      {},
    );
    const row = applyPatch(stored, patch, null, '2026-01-01T00:00:05.000Z');
    expect(row.debug['resubmits']).toBe(1);
    expect(timingsOf(row)).toMatchObject({ lost_ms: null });
  });
});

describe('the watcher’s outcome as the machine sees it', () => {
  const succeeded = { type: 'succeeded' as const, promptId: 'p1', outputs: {}, files: [], at: 123, ranMs: 4_000 };

  it('carries ComfyUI’s execution time, and says found-late only for an outcome a restarted service read from history', () => {
    expect(machineEventOf({ ...succeeded, via: 'restore' }, 9_000, () => 'next')).toEqual({
      type: 'comfy.succeeded',
      at: 9_000,
      files: [],
      ranMs: 4_000,
      foundLate: true,
    });
    expect(machineEventOf({ ...succeeded, via: 'socket' }, 9_000, () => 'next')).toMatchObject({ ranMs: 4_000, foundLate: false });
    const { ranMs: _none, ...withoutStamps } = succeeded;
    expect(machineEventOf({ ...withoutStamps, via: 'poll' }, 9_000, () => 'next')).toMatchObject({ ranMs: null, foundLate: false });
  });
});
