/**
 * The timing breakdown callers see (`timings` of a job, `timing` of its debug document, the
 * sidecar's `timings`). Its parts add up to `total_ms`: queue wait, lost, ComfyUI queue wait,
 * generation, service down, file move. For the ordinary job (one run ComfyUI accepted, watched
 * to its end) lost and service down are 0 and the rest is the original design's. The
 * meaning of each part is in docs/driving-from-chorus-engine.md ("Timings").
 */
import type { ComfyRun } from '../../machines/job-types.js';
import type { JobEventRow, JobRow } from '../contracts/job-store-port.js';
import type { JobTimings } from '../contracts/job-view.js';

type Stamps = Record<string, string | undefined>;

function at(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

function span(from: number | null, to: number | null): number | null {
  return from === null || to === null ? null : Math.max(0, to - from);
}

function stampsOf(row: Pick<JobRow, 'debug'>): Stamps {
  return (row.debug['timestamps'] as Stamps | undefined) ?? {};
}

/** The moment ComfyUI finished and collecting began; kept in `debug.timestamps`. */
export function movingAtOf(row: Pick<JobRow, 'debug'>): string | null {
  return stampsOf(row)['moving_at'] ?? null;
}

/**
 * When the job last began sending its prompt to ComfyUI (ms): its last transition into
 * `queued.submitting` up to seq `upTo` (the POST follows once that transition is stored).
 */
export function sendingStartedAt(events: readonly Pick<JobEventRow, 'seq' | 'to_state' | 'at'>[], upTo: number): number | null {
  const sending = events.filter((event) => event.seq <= upTo && event.to_state === 'queued.submitting').at(-1);
  return sending ? at(sending.at) : null;
}

/** The runs the machine recorded (`debug.runs`), oldest first. */
export function runsOf(row: Pick<JobRow, 'debug'>): ComfyRun[] {
  const runs = row.debug['runs'];
  return Array.isArray(runs) ? runs.filter((run): run is ComfyRun => typeof (run as ComfyRun | null)?.submittedAt === 'number') : [];
}

/**
 * Whether the runs tell the whole story: a job admitted before runs were recorded, and
 * restored since, has none for what ComfyUI forgot before the upgrade (one per resubmit).
 */
function runsComplete(row: JobRow, runs: ComfyRun[]): boolean {
  const resubmits = typeof row.debug['resubmits'] === 'number' ? row.debug['resubmits'] : 0;
  return runs.length > 0 && runs.filter((run) => run.outcome === 'lost').length >= resubmits;
}

type RunParts = Pick<JobTimings, 'comfy_queue_wait_ms' | 'generation_ms' | 'service_down_ms'>;

/**
 * The run that made the picture (or failed), from its acceptance to `end` (moving began).
 * ComfyUI's own execution time (`ranMs`, exact whatever its clock's skew) corrects what we
 * could not watch: an outcome found in /history by a restarted service, or a start first
 * seen after the run had been going a while.
 */
function partsOfRun(run: ComfyRun, end: number | null): RunParts {
  const { submittedAt: submitted, startedAt: started, ranMs } = run;
  if (end === null || ranMs === null) return { comfy_queue_wait_ms: span(submitted, started ?? end), generation_ms: span(started, end), service_down_ms: 0 };
  if (run.foundLate) {
    // It finished unwatched. Seen starting: it ran ranMs from there, the rest waited for us.
    // Never seen starting: its ComfyUI queue wait and the outage cannot be told apart.
    const watchedFrom = started ?? submitted;
    const generation = Math.min(ranMs, span(watchedFrom, end) ?? 0);
    return { comfy_queue_wait_ms: span(submitted, started), generation_ms: generation, service_down_ms: Math.max(0, end - watchedFrom - generation) };
  }
  if (started !== null && ranMs > end - started) {
    const generation = Math.min(ranMs, span(submitted, end) ?? 0);
    return { comfy_queue_wait_ms: Math.max(0, end - generation - submitted), generation_ms: generation, service_down_ms: 0 };
  }
  return { comfy_queue_wait_ms: span(submitted, started ?? end), generation_ms: span(started, end), service_down_ms: 0 };
}

export function timingsOf(row: JobRow): JobTimings {
  const created = at(row.created_at);
  const finished = at(row.finished_at);
  const movingAt = at(movingAtOf(row));
  const fileMoveEnd = at(stampsOf(row)['collected_at'] ?? row.completed_at ?? row.finished_at);
  const file_move_ms = row.status === 'completed' || row.result !== null ? span(movingAt, fileMoveEnd) : null;
  const total_ms = span(created, finished);
  const runs = runsOf(row);
  if (!runsComplete(row, runs)) return legacyTimings(row, movingAt, { file_move_ms, total_ms });

  const first = runs[0] as ComfyRun;
  const last = runs[runs.length - 1] as ComfyRun;
  const queue_wait_ms = span(created, first.submittedAt);
  if (last.outcome === 'lost') {
    // No run made anything: from the first acceptance on, everything went to lost runs.
    const lost_ms = span(first.submittedAt, finished ?? last.endedAt);
    return { queue_wait_ms, comfy_queue_wait_ms: null, generation_ms: null, file_move_ms, lost_ms, service_down_ms: 0, total_ms };
  }
  const lost_ms = span(first.submittedAt, last.submittedAt);
  return { queue_wait_ms, ...partsOfRun(last, movingAt), file_move_ms, lost_ms, total_ms };
}

/**
 * A job without a complete record of its runs: from the row's stamps, which are the last
 * submission's. Right for a job that reached ComfyUI once; for an older job that was
 * resubmitted, the time lost is inside queue_wait_ms and lost_ms is unknown (null).
 */
function legacyTimings(row: JobRow, movingAt: number | null, rest: Pick<JobTimings, 'file_move_ms' | 'total_ms'>): JobTimings {
  const submitted = at(row.submitted_at);
  const started = at(row.started_at);
  const reached = submitted !== null;
  const resubmitted = typeof row.debug['resubmits'] === 'number' && row.debug['resubmits'] > 0;
  return {
    queue_wait_ms: span(at(row.created_at), submitted),
    comfy_queue_wait_ms: span(submitted, started ?? movingAt),
    generation_ms: span(started, movingAt),
    file_move_ms: rest.file_move_ms,
    lost_ms: reached && resubmitted ? null : 0,
    service_down_ms: reached ? null : 0,
    total_ms: rest.total_ms,
  };
}
