/**
 * What a transition writes: the jobs-row patch derived from the actor's snapshot, with the
 * timestamps of the state it entered. Pure, so the mapping is tested without a database.
 */
import type { JobContext } from '../../machines/job-types.js';
import type { JobPatch, JobRow } from '../contracts/job-store-port.js';
import type { JobPosition } from './job-state-of.js';

export function patchForTransition(row: JobRow, context: JobContext, from: JobPosition, to: JobPosition, nowIso: string, snapshot: unknown): JobPatch {
  const composed = context.composed;
  const stamps = { ...((row.debug['timestamps'] as Record<string, string> | undefined) ?? {}) };
  // Every transition rewrites the row, so only columns whose value moved go into the
  // UPDATE: the composed prompt, result and error are written once, not on all 7 steps.
  const patch: JobPatch = { status: to.state, substate: to.substate, snapshot };
  const changed = <K extends keyof JobPatch & keyof JobRow>(key: K, value: JobRow[K]): void => {
    if (row[key] !== value) patch[key] = value;
  };
  changed('comfy_prompt_id', context.promptId);
  changed('backend', context.backend);
  changed('attempts', context.attempts);
  changed('prompt', composed?.prompt ?? row.prompt);
  changed('negative_prompt', composed?.negative ?? row.negative_prompt);
  changed('seed', composed?.seed ?? row.seed);
  changed('prompt_source', composed?.source ?? row.prompt_source);
  changed('result', context.result);
  // The graph goes into its own column once, when composed (the snapshot leaves it out).
  const graph = composed?.apiPrompt ?? null;
  if (graph !== null && row.comfy_graph !== graph) patch.comfy_graph = graph;
  changed('error', context.error);
  const entered = from.state !== to.state;
  // The current run's own times when it has them, so the row and `debug.runs` agree to the ms.
  const run = context.runs?.[context.runs.length - 1];
  if (entered && to.state === 'submitted') patch.submitted_at = isoOr(run?.submittedAt, nowIso);
  if (entered && to.state === 'processing') patch.started_at = isoOr(run?.startedAt, nowIso);
  if (entered && to.state === 'moving') stamps['moving_at'] = nowIso;
  if (to.state === 'completed') patch.completed_at = nowIso;
  if (to.state === 'completed' || to.state === 'failed' || to.state === 'cancelled') patch.finished_at = nowIso;
  if (to.substate === 'processing.overdue') stamps['overdue_at'] = nowIso;
  // Files are safe; what follows in `moving` is the GPU handoff, not file moving.
  if (to.substate === 'moving.freeingComfy') stamps['collected_at'] = nowIso;

  const debug: Record<string, unknown> = { ...row.debug, timestamps: stamps, resubmits: context.resubmits };
  if (composed) Object.assign(debug, composed.debug);
  if (context.handoffSteps && context.handoffSteps.length > 0) debug['gpu_handoff'] = context.handoffSteps;
  if (context.affinity) debug['affinity'] = context.affinity;
  // Every run ComfyUI accepted: the timing breakdown is computed from them (job-timings.ts).
  if (context.runs && context.runs.length > 0) debug['runs'] = context.runs;
  if (entered && to.state === 'submitted') {
    debug['comfy_submission'] = {
      prompt_id: context.promptId,
      queue_position: context.queuePosition,
      submitted_at: patch.submitted_at ?? nowIso,
      backend: context.backend,
    };
  }
  if (!sameDebug(row.debug, debug)) patch.debug = debug;
  return patch;
}

function isoOr(ms: number | null | undefined, fallback: string): string {
  return typeof ms === 'number' ? new Date(ms).toISOString() : fallback;
}

/** Applies a patch to the in-memory mirror of a row exactly as the store applies it. */
export function applyPatch(row: JobRow, patch: JobPatch, seq: number | null, nowIso: string): JobRow {
  return { ...row, ...patch, last_seq: seq ?? row.last_seq, updated_at: nowIso } as JobRow;
}

/**
 * Whether the rebuilt debug document equals the stored one, one level into plain objects
 * (the timestamps map is rebuilt on every call; composed facts are the same references).
 * A false "changed" only costs a write; a false "same" cannot happen: every value compared
 * is either identical or a flat object with identical entries.
 */
function sameDebug(stored: Record<string, unknown>, rebuilt: Record<string, unknown>): boolean {
  const keys = Object.keys(rebuilt);
  if (keys.length !== Object.keys(stored).length) return false;
  return keys.every((key) => key in stored && (stored[key] === rebuilt[key] || sameFlat(stored[key], rebuilt[key])));
}

function sameFlat(a: unknown, b: unknown): boolean {
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(b);
  return keys.length === Object.keys(a).length && keys.every((key) => key in a && a[key] === b[key]);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
