/** From a jobs row (plus live progress) to the JobView callers see, with the timing breakdown. */
import type { JobRow } from '../contracts/job-store-port.js';
import type { JobProgress } from '../../machines/job-types.js';
import type { JobView } from '../contracts/job-view.js';
import { timingsOf } from './job-timings.js';

export { timingsOf } from './job-timings.js';

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
