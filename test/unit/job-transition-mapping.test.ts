import { describe, expect, it } from 'vitest';
import { initialTransition } from 'xstate';
import { jobMachine } from '../../machines/job.js';
import { holdsSlot, mayBeGranted, positionOf, transitionType } from '../../src/jobs/job-state-of.js';
import { patchForTransition } from '../../src/jobs/job-row-patch.js';
import { jobViewOf, timingsOf } from '../../src/jobs/job-view-mapper.js';
import type { JobRow } from '../../src/contracts/job-store-port.js';
import { jobRowFixture } from '../support/job-row-fixture.js';
import { composedFixture, jobInput } from '../support/fake-job-machine-actors.js';

const row = jobRowFixture({ comfy_prompt_id: 'p1' });

describe('job positions and transition names', () => {
  it('reads nested state values as state + dotted substate', () => {
    expect(positionOf({ queued: 'composing' })).toEqual({ state: 'queued', substate: 'queued.composing' });
    expect(positionOf('moving')).toEqual({ state: 'moving', substate: null });
    expect(positionOf({ processing: 'timingOut' })).toEqual({ state: 'processing', substate: 'processing.timingOut' });
  });

  it('names a transition by the new state, or the new sub-state leaf in snake case', () => {
    expect(transitionType(positionOf({ queued: 'submitting' }), positionOf({ submitted: 'pending' }))).toBe('submitted');
    expect(transitionType(positionOf({ processing: 'running' }), positionOf({ processing: 'overdue' }))).toBe('overdue');
    expect(transitionType(positionOf({ processing: 'running' }), positionOf({ processing: 'timingOut' }))).toBe('timing_out');
  });

  it('a slot is held from submission until the job leaves ComfyUI', () => {
    expect(holdsSlot(positionOf({ queued: 'waiting' }))).toBe(false);
    expect(mayBeGranted(positionOf({ queued: 'waiting' }))).toBe(true);
    expect(holdsSlot(positionOf({ queued: 'submitting' }))).toBe(true);
    expect(holdsSlot(positionOf({ submitted: 'cancelling' }))).toBe(true);
    expect(holdsSlot(positionOf({ processing: 'overdue' }))).toBe(true);
    expect(holdsSlot(positionOf('moving'))).toBe(false);
    expect(holdsSlot(positionOf({ queued: 'retrying' }))).toBe(false);
  });
});

describe('row patches and timings', () => {
  it('stamps the state entered and copies the composed prompt and debug facts', () => {
    const [snapshot] = initialTransition(jobMachine, jobInput());
    const context = { ...snapshot.context, composed: { ...composedFixture, debug: { loras_applied: ['x'] } }, backend: 'gpu0', attempts: 1, queuePosition: 4 };
    const patch = patchForTransition(row, context, positionOf({ queued: 'submitting' }), positionOf({ submitted: 'pending' }), '2026-01-01T00:00:02.000Z', {
      s: 1,
    });
    expect(patch).toMatchObject({
      status: 'submitted',
      substate: 'submitted.pending',
      submitted_at: '2026-01-01T00:00:02.000Z',
      backend: 'gpu0',
      attempts: 1,
      prompt: 'a fox sketching',
      negative_prompt: 'blurry',
      seed: 42,
      prompt_source: 'template',
      snapshot: { s: 1 },
    });
    expect(patch.debug).toMatchObject({ loras_applied: ['x'], comfy_submission: { prompt_id: 'prompt-1', queue_position: 4 } });
    expect(patch.finished_at).toBeUndefined();
  });

  it('a row without recorded runs (stored before they were) computes every timing from the stamps', () => {
    const done: JobRow = {
      ...row,
      status: 'completed',
      result: { files: [], metadataPath: 'm' },
      submitted_at: '2026-01-01T00:00:01.000Z',
      started_at: '2026-01-01T00:00:03.000Z',
      completed_at: '2026-01-01T00:00:10.500Z',
      finished_at: '2026-01-01T00:00:10.500Z',
      debug: { timestamps: { moving_at: '2026-01-01T00:00:10.000Z' } },
    };
    // Nothing says whether the service was down while ComfyUI ran it: unknown, not 0.
    expect(timingsOf(done)).toEqual({
      queue_wait_ms: 1_000,
      comfy_queue_wait_ms: 2_000,
      generation_ms: 7_000,
      file_move_ms: 500,
      lost_ms: 0,
      service_down_ms: null,
      total_ms: 10_500,
    });
    expect(jobViewOf(row).timings).toEqual({
      queue_wait_ms: null,
      comfy_queue_wait_ms: null,
      generation_ms: null,
      file_move_ms: null,
      lost_ms: 0,
      service_down_ms: 0,
      total_ms: null,
    });
  });
});
