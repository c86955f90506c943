/**
 * What a transition writes: the jobs-row patch derived from the actor's snapshot, with the
 * timestamps of the state it entered. Pure, so the mapping is tested without a database.
 */
import type { JobContext } from '../../machines/job-types.js';
import type { JobPatch, JobRow } from './job-store-port.js';
import type { JobPosition } from './job-state-of.js';

export function patchForTransition(row: JobRow, context: JobContext, from: JobPosition, to: JobPosition, nowIso: string, snapshot: unknown): JobPatch {
  const composed = context.composed;
  const stamps = { ...((row.debug['timestamps'] as Record<string, string> | undefined) ?? {}) };
  const patch: JobPatch = {
    status: to.state,
    substate: to.substate,
    comfy_prompt_id: context.promptId,
    backend: context.backend,
    attempts: context.attempts,
    prompt: composed?.prompt ?? row.prompt,
    negative_prompt: composed?.negative ?? row.negative_prompt,
    seed: composed?.seed ?? row.seed,
    prompt_source: composed?.source ?? row.prompt_source,
    result: context.result,
    error: context.error,
    snapshot,
  };
  const entered = from.state !== to.state;
  if (entered && to.state === 'submitted') patch.submitted_at = nowIso;
  if (entered && to.state === 'processing') patch.started_at = nowIso;
  if (entered && to.state === 'moving') stamps['moving_at'] = nowIso;
  if (to.state === 'completed') patch.completed_at = nowIso;
  if (to.state === 'completed' || to.state === 'failed' || to.state === 'cancelled') patch.finished_at = nowIso;
  if (to.substate === 'processing.overdue') stamps['overdue_at'] = nowIso;

  const debug: Record<string, unknown> = { ...row.debug, timestamps: stamps, resubmits: context.resubmits };
  if (composed) Object.assign(debug, composed.debug);
  if (entered && to.state === 'submitted') {
    debug['comfy_submission'] = { prompt_id: context.promptId, queue_position: context.queuePosition, submitted_at: nowIso, backend: context.backend };
  }
  patch.debug = debug;
  return patch;
}

/** Applies a patch to the in-memory mirror of a row exactly as the store applies it. */
export function applyPatch(row: JobRow, patch: JobPatch, seq: number | null, nowIso: string): JobRow {
  return { ...row, ...patch, last_seq: seq ?? row.last_seq, updated_at: nowIso } as JobRow;
}
