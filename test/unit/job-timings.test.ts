/**
 * The timing breakdown from the runs the machine recorded: the ordinary job keeps the
 * original design's numbers; runs ComfyUI forgot go to lost_ms, not to queue wait; a run
 * that finished while the service was down counts ComfyUI's own execution time as
 * generation and the rest as service_down_ms. The parts always add up to the total.
 */
import { describe, expect, it } from 'vitest';
import type { ComfyRun } from '../../machines/job-types.js';
import type { JobTimings } from '../../src/contracts/job-view.js';
import type { JobRow } from '../../src/contracts/job-store-port.js';
import { timingLine } from '../../src/cli/job-summary-format.js';
import { debugDocumentOf } from '../../src/jobs/job-debug-document.js';
import { jobViewOf, timingsOf } from '../../src/jobs/job-view-mapper.js';
import { jobRowFixture } from '../support/job-row-fixture.js';

const t0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(t0 + ms).toISOString();
const run = (changes: Partial<ComfyRun> & Pick<ComfyRun, 'submittedAt'>): ComfyRun => ({
  promptId: 'p1',
  backend: 'gpu0',
  startedAt: null,
  endedAt: null,
  outcome: null,
  ranMs: null,
  foundLate: false,
  ...changes,
  submittedAt: t0 + changes.submittedAt,
  ...(changes.startedAt != null ? { startedAt: t0 + changes.startedAt } : {}),
  ...(changes.endedAt != null ? { endedAt: t0 + changes.endedAt } : {}),
});

/** A completed job: moving began at `movingAt`, finished at `finishedAt` (ms after creation). */
function completed(runs: ComfyRun[], movingAt: number, finishedAt: number, resubmits = runs.length - 1): JobRow {
  const last = runs[runs.length - 1]!;
  return jobRowFixture({
    status: 'completed',
    substate: null,
    result: { files: [], metadataPath: 'm' },
    comfy_prompt_id: last.promptId,
    submitted_at: new Date(last.submittedAt).toISOString(),
    started_at: last.startedAt === null ? null : new Date(last.startedAt).toISOString(),
    completed_at: iso(finishedAt),
    finished_at: iso(finishedAt),
    debug: { timestamps: { moving_at: iso(movingAt) }, resubmits, runs },
  });
}

const partsOf = (t: JobTimings) =>
  [t.queue_wait_ms, t.lost_ms, t.comfy_queue_wait_ms, t.generation_ms, t.service_down_ms, t.file_move_ms].reduce<number>((sum, ms) => sum + (ms ?? 0), 0);

describe('job timings from the recorded runs', () => {
  it('one run watched to its end: the original design breakdown, nothing lost, nothing unwatched', () => {
    const done = completed([run({ submittedAt: 1_000, startedAt: 3_000, endedAt: 10_000, outcome: 'succeeded', ranMs: 6_990 })], 10_000, 10_500);
    expect(timingsOf(done)).toEqual({
      queue_wait_ms: 1_000,
      comfy_queue_wait_ms: 2_000,
      generation_ms: 7_000,
      file_move_ms: 500,
      lost_ms: 0,
      service_down_ms: 0,
      total_ms: 10_500,
    });
  });

  it('a run ComfyUI forgot: queue wait ends at the first submission, the forgotten run is lost time, not queue wait', () => {
    const runs = [
      run({ promptId: 'p1', submittedAt: 1_000, startedAt: 2_000, endedAt: 9_000, outcome: 'lost' }),
      run({ promptId: 'p2', submittedAt: 9_500, startedAt: 10_000, endedAt: 15_000, outcome: 'succeeded' }),
    ];
    const t = timingsOf(completed(runs, 15_000, 15_200));
    expect(t).toEqual({
      queue_wait_ms: 1_000,
      lost_ms: 8_500,
      comfy_queue_wait_ms: 500,
      generation_ms: 5_000,
      service_down_ms: 0,
      file_move_ms: 200,
      total_ms: 15_200,
    });
    expect(partsOf(t)).toBe(t.total_ms);
  });

  it('a run seen starting, then finished while the service was down: ComfyUI’s execution time is generation, the rest is service down', () => {
    // Started at 3 s, ComfyUI ran it 4 s; the restarted service found it in /history at 60 s.
    const done = completed(
      [run({ submittedAt: 1_000, startedAt: 3_000, endedAt: 60_000, outcome: 'succeeded', ranMs: 4_000, foundLate: true })],
      60_000,
      60_300,
    );
    const t = timingsOf(done);
    expect(t).toMatchObject({ queue_wait_ms: 1_000, comfy_queue_wait_ms: 2_000, generation_ms: 4_000, service_down_ms: 53_000, file_move_ms: 300, lost_ms: 0 });
    expect(partsOf(t)).toBe(t.total_ms);
  });

  it('a run never seen starting, found finished after a restart: its ComfyUI queue wait cannot be told from the outage', () => {
    const done = completed([run({ submittedAt: 1_000, endedAt: 60_000, outcome: 'succeeded', ranMs: 4_000, foundLate: true })], 60_000, 60_300);
    const t = timingsOf(done);
    expect(t).toMatchObject({ queue_wait_ms: 1_000, comfy_queue_wait_ms: null, generation_ms: 4_000, service_down_ms: 55_000 });
    expect(partsOf(t)).toBe(t.total_ms);
  });

  it('a start first seen after the run had been going a while (a restart, a deaf socket): generation is ComfyUI’s execution time', () => {
    const done = completed([run({ submittedAt: 1_000, startedAt: 30_000, endedAt: 32_000, outcome: 'succeeded', ranMs: 9_000 })], 32_000, 32_100);
    const t = timingsOf(done);
    expect(t).toMatchObject({ comfy_queue_wait_ms: 22_000, generation_ms: 9_000, service_down_ms: 0 });
    expect(partsOf(t)).toBe(t.total_ms);
  });

  it('every run forgotten (COMFY_LOST): all the time after the first submission is lost', () => {
    const runs = [
      run({ promptId: 'p1', submittedAt: 1_000, startedAt: 2_000, endedAt: 5_000, outcome: 'lost' }),
      run({ promptId: 'p2', submittedAt: 6_000, endedAt: 8_000, outcome: 'lost' }),
    ];
    const failed = jobRowFixture({ status: 'failed', substate: null, finished_at: iso(8_000), debug: { resubmits: 1, runs } });
    const t = timingsOf(failed);
    expect(t).toMatchObject({ queue_wait_ms: 1_000, lost_ms: 7_000, comfy_queue_wait_ms: null, generation_ms: null, total_ms: 8_000 });
    expect(partsOf(t)).toBe(t.total_ms);
  });

  it('a job resubmitted before runs were recorded falls back to the stamps and says the lost time is unknown', () => {
    // Restored from an old snapshot: only the second run is on record.
    const runs = [run({ promptId: 'p2', submittedAt: 9_500, startedAt: 10_000, endedAt: 15_000, outcome: 'succeeded' })];
    const t = timingsOf(completed(runs, 15_000, 15_200, 1));
    expect(t).toMatchObject({ queue_wait_ms: 9_500, lost_ms: null, service_down_ms: null, generation_ms: 5_000 });
  });

  it('the debug document lists every run with its outcome, beside the timing', () => {
    const runs = [
      run({ promptId: 'p1', submittedAt: 1_000, startedAt: 2_000, endedAt: 9_000, outcome: 'lost' }),
      run({ promptId: 'p2', submittedAt: 9_500, startedAt: 10_000, endedAt: 15_000, outcome: 'succeeded', ranMs: 4_990 }),
    ];
    const done = completed(runs, 15_000, 15_200);
    const document = debugDocumentOf(done, jobViewOf(done), []);
    expect(document['runs']).toEqual([
      {
        prompt_id: 'p1',
        backend: 'gpu0',
        submitted_at: iso(1_000),
        started_at: iso(2_000),
        ended_at: iso(9_000),
        outcome: 'lost',
        comfy_ran_ms: null,
        found_after_restart: false,
      },
      {
        prompt_id: 'p2',
        backend: 'gpu0',
        submitted_at: iso(9_500),
        started_at: iso(10_000),
        ended_at: iso(15_000),
        outcome: 'succeeded',
        comfy_ran_ms: 4_990,
        found_after_restart: false,
      },
    ]);
    expect(document['timing']).toMatchObject({ queue_wait_ms: 1_000, lost_ms: 8_500 });
    expect(document['comfy_submission']).toMatchObject({ prompt_id: 'p2', submitted_at: iso(9_500) });
  });
});

describe('the timing line of `jobs show`', () => {
  const ordinary = { queue_wait_ms: 12, comfy_queue_wait_ms: 3, generation_ms: 800, file_move_ms: 40, lost_ms: 0, service_down_ms: 0, total_ms: 855 };

  it('stays the original four parts for the ordinary job, and names lost and service-down time in their place when there is some', () => {
    expect(timingLine(ordinary)).toBe('queue 12 ms + ComfyUI queue 3 ms + generation 800 ms + file move 40 ms = total 855 ms');
    expect(timingLine({ ...ordinary, lost_ms: 5_000, service_down_ms: 30_000, total_ms: 35_855 })).toBe(
      'queue 12 ms + lost to forgotten runs 5000 ms + ComfyUI queue 3 ms + generation 800 ms + service down 30000 ms + file move 40 ms = total 35855 ms',
    );
  });
});
