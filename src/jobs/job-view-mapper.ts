/** From a jobs row (plus live progress) to the JobView callers see, with the timing breakdown. */
import type { JobRow } from '../contracts/job-store-port.js';
import type { JobProgress } from '../../machines/job-types.js';
import type { JobTimings, JobView } from '../contracts/job-view.js';

function ms(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  const d = Date.parse(to) - Date.parse(from);
  return Number.isFinite(d) ? Math.max(0, d) : null;
}

/** The moment ComfyUI finished and collecting began; kept in `debug.timestamps`. */
export function movingAtOf(row: Pick<JobRow, 'debug'>): string | null {
  const stamps = row.debug['timestamps'] as Record<string, string | undefined> | undefined;
  return stamps?.['moving_at'] ?? null;
}

/** The moment the files were safe, when a GPU handoff step followed (`moving.freeingComfy`). */
function collectedAtOf(row: Pick<JobRow, 'debug'>): string | null {
  const stamps = row.debug['timestamps'] as Record<string, string | undefined> | undefined;
  return stamps?.['collected_at'] ?? null;
}

export function timingsOf(row: JobRow): JobTimings {
  const movingAt = movingAtOf(row);
  return {
    queue_wait_ms: ms(row.created_at, row.submitted_at),
    comfy_queue_wait_ms: ms(row.submitted_at, row.started_at ?? movingAt),
    generation_ms: ms(row.started_at, movingAt),
    file_move_ms: row.status === 'completed' || row.result !== null ? ms(movingAt, collectedAtOf(row) ?? row.completed_at ?? row.finished_at) : null,
    total_ms: ms(row.created_at, row.finished_at),
  };
}

export function jobViewOf(row: JobRow, progress: JobProgress | null = null, regenerations: readonly string[] = []): JobView {
  return {
    id: row.id,
    state: row.status,
    substate: row.substate,
    conversation_id: row.conversation_id,
    thread_id: row.thread_id,
    message_id: row.message_id,
    character: row.character,
    workflow: row.workflow,
    prompt: row.prompt,
    negative_prompt: row.negative_prompt,
    seed: row.seed,
    prompt_source: row.prompt_source,
    backend: row.backend,
    comfy_prompt_id: row.comfy_prompt_id,
    priority: row.priority,
    attempts: row.attempts,
    progress: progress === null ? null : { ...progress },
    result: row.result,
    error: row.error,
    created_at: row.created_at,
    submitted_at: row.submitted_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    completed_at: row.completed_at,
    timings: timingsOf(row),
    regenerated_from: row.regenerated_from ?? null,
    regenerations: [...regenerations],
  };
}
