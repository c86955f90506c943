/**
 * What the GPU handoff leaves in the row: its steps and the affinity grant in the debug
 * document, a `collected_at` stamp so file_move_ms ends when the files were safe (not after
 * the /free), and `queued.freeingLlm` holding the backend slot.
 */
import { initialTransition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine } from '../../machines/job.js';
import type { GpuHandoffStep } from '../../machines/job-types.js';
import { holdsSlot, positionOf } from '../../src/jobs/job-state-of.js';
import { applyPatch, patchForTransition } from '../../src/jobs/job-row-patch.js';
import { timingsOf } from '../../src/jobs/job-view-mapper.js';
import { debugDocumentOf } from '../../src/jobs/job-debug-document.js';
import { jobViewOf } from '../../src/jobs/job-view-mapper.js';
import { jobRowFixture } from '../support/job-row-fixture.js';
import { jobInput } from '../support/fake-job-machine-actors.js';

const row = jobRowFixture({
  status: 'moving',
  started_at: '2026-01-01T00:00:02.000Z',
  substate: 'moving.collecting',
  backend: 'gpu0',
  submitted_at: '2026-01-01T00:00:01.000Z',
  attempts: 1,
  debug: { timestamps: { moving_at: '2026-01-01T00:00:05.000Z' } },
  last_seq: 6,
  updated_at: '2026-01-01T00:00:05.000Z',
});

const steps: GpuHandoffStep[] = [
  { step: 'llm_unload', outcome: 'done', backend: 'gpu0', at: 1, ms: 400, detail: 'ollama unloaded llama3.1' },
  { step: 'comfy_free', outcome: 'done', backend: 'gpu0', at: 2, ms: 1500, detail: 'POST /free {unload_models, free_memory}' },
];

describe('GPU handoff in the jobs row', () => {
  it('records steps and affinity in debug; file_move_ms stops at collected_at', () => {
    const [initial] = initialTransition(jobMachine, jobInput());
    const result = { files: [], metadataPath: 'm.json' };
    const context = { ...initial.context, backend: 'gpu0', result, handoffSteps: steps.slice(0, 1), affinity: { matched: true, wentAhead: 2, passedOver: 0 } };
    const toFreeing = patchForTransition(
      row,
      context,
      positionOf({ moving: 'collecting' }),
      positionOf({ moving: 'freeingComfy' }),
      '2026-01-01T00:00:06.000Z',
      {},
    );
    const freeing = applyPatch(row, toFreeing, null, '2026-01-01T00:00:06.000Z');
    const toDone = patchForTransition(
      freeing,
      { ...context, handoffSteps: steps },
      positionOf({ moving: 'freeingComfy' }),
      positionOf('completed'),
      '2026-01-01T00:00:07.500Z',
      {},
    );
    const done = applyPatch(freeing, toDone, null, '2026-01-01T00:00:07.500Z');
    expect(timingsOf(done).file_move_ms).toBe(1_000);
    expect(timingsOf(done).total_ms).toBe(7_500);
    const document = debugDocumentOf(done, jobViewOf(done), []);
    expect(document['gpu_handoff']).toEqual(steps);
    expect(document['affinity']).toEqual({ matched: true, wentAhead: 2, passedOver: 0 });
  });

  it('a job unloading the LLM holds its backend slot', () => {
    expect(holdsSlot(positionOf({ queued: 'freeingLlm' }))).toBe(true);
    expect(holdsSlot(positionOf({ queued: 'waiting' }))).toBe(false);
    expect(holdsSlot(positionOf({ moving: 'freeingComfy' }))).toBe(false);
  });
});
