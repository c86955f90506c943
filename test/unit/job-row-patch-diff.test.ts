/** A transition's patch carries only the columns that moved, and applying it loses nothing. */
import { initialTransition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine } from '../../machines/job.js';
import { positionOf } from '../../src/jobs/job-state-of.js';
import { applyPatch, patchForTransition } from '../../src/jobs/job-row-patch.js';
import { jobRowFixture } from '../support/job-row-fixture.js';
import { composedFixture, jobInput } from '../support/fake-job-machine-actors.js';

const row = jobRowFixture();

describe('patchForTransition writes only what moved', () => {
  const [initial] = initialTransition(jobMachine, jobInput());
  const composed = { ...composedFixture, debug: { loras_applied: ['x'] } };

  it('writes the composed prompt and debug once, then only state, snapshot and stamps', () => {
    const composedCtx = { ...initial.context, composed };
    const toWaiting = patchForTransition(row, composedCtx, positionOf({ queued: 'composing' }), positionOf({ queued: 'waiting' }), '2026-01-01T00:00:01.000Z', {
      s: 1,
    });
    expect(toWaiting).toMatchObject({
      status: 'queued',
      substate: 'queued.waiting',
      prompt: 'a fox sketching',
      negative_prompt: 'blurry',
      seed: 42,
      prompt_source: 'template',
      snapshot: { s: 1 },
    });
    expect(toWaiting.debug).toMatchObject({ loras_applied: ['x'] });
    const waiting = applyPatch(row, toWaiting, null, '2026-01-01T00:00:01.000Z');

    const toSubmitting = patchForTransition(
      waiting,
      composedCtx,
      positionOf({ queued: 'waiting' }),
      positionOf({ queued: 'submitting' }),
      '2026-01-01T00:00:02.000Z',
      { s: 2 },
    );
    expect(Object.keys(toSubmitting).sort()).toEqual(['snapshot', 'status', 'substate']);

    const submittedCtx = { ...composedCtx, backend: 'gpu0', attempts: 1, queuePosition: 3 };
    const submitting = applyPatch(waiting, toSubmitting, null, '2026-01-01T00:00:02.000Z');
    const toSubmitted = patchForTransition(
      submitting,
      submittedCtx,
      positionOf({ queued: 'submitting' }),
      positionOf({ submitted: 'pending' }),
      '2026-01-01T00:00:03.000Z',
      { s: 3 },
    );
    expect(Object.keys(toSubmitted).sort()).toEqual(['attempts', 'backend', 'debug', 'snapshot', 'status', 'submitted_at', 'substate']);
    expect(toSubmitted.debug).toMatchObject({ loras_applied: ['x'], comfy_submission: { backend: 'gpu0', queue_position: 3 } });

    // Entering moving adds a stamp: the debug document is written again, with the older facts.
    const submitted = applyPatch(submitting, toSubmitted, null, '2026-01-01T00:00:03.000Z');
    const toMoving = patchForTransition(submitted, submittedCtx, positionOf({ submitted: 'pending' }), positionOf('moving'), '2026-01-01T00:00:04.000Z', {
      s: 4,
    });
    expect(toMoving.debug).toMatchObject({ timestamps: { moving_at: '2026-01-01T00:00:04.000Z' }, comfy_submission: { backend: 'gpu0' } });
    expect(toMoving.prompt).toBeUndefined();

    // Applying the diffs gives the same row as applying full patches would.
    const moving = applyPatch(submitted, toMoving, null, '2026-01-01T00:00:04.000Z');
    expect(moving).toMatchObject({
      prompt: 'a fox sketching',
      seed: 42,
      backend: 'gpu0',
      attempts: 1,
      submitted_at: '2026-01-01T00:00:03.000Z',
      status: 'moving',
      snapshot: { s: 4 },
    });
  });

  it('writes a value that changed back, and an error once it is set', () => {
    const withBackend = { ...row, backend: 'gpu0', attempts: 1 };
    const failedCtx = {
      ...initial.context,
      backend: null,
      attempts: 1,
      error: { code: 'COMFY_LOST', message: 'm', recoverable: false },
    } as typeof initial.context;
    const patch = patchForTransition(withBackend, failedCtx, positionOf({ submitted: 'pending' }), positionOf('failed'), '2026-01-01T00:00:05.000Z', null);
    expect(patch).toMatchObject({ backend: null, error: { code: 'COMFY_LOST' }, finished_at: '2026-01-01T00:00:05.000Z' });
    expect('attempts' in patch).toBe(false);
  });
});
