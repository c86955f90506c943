/**
 * `jobs show <id> --debug`: the original design's debug shape, built from the row's
 * `debug` column and the job's events (the transition history).
 */
import type { JobEventRow, JobRow } from '../contracts/job-store-port.js';
import type { JobView } from '../contracts/job-view.js';
import type { ComfyRun } from '../../machines/job-types.js';
import { runsOf } from './job-timings.js';

const isoOf = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** One run ComfyUI accepted, as the debug document shows it (outcome null: it was not over for the job). */
function runEntryOf(run: ComfyRun): Record<string, unknown> {
  return {
    prompt_id: run.promptId,
    backend: run.backend,
    submitted_at: isoOf(run.submittedAt),
    started_at: isoOf(run.startedAt),
    ended_at: isoOf(run.endedAt),
    outcome: run.outcome,
    comfy_ran_ms: run.ranMs,
    found_after_restart: run.foundLate,
  };
}

export function debugDocumentOf(row: JobRow, view: JobView, events: JobEventRow[]): Record<string, unknown> {
  const debug = row.debug;
  const submission = (debug['comfy_submission'] as Record<string, unknown> | undefined) ?? null;
  return {
    // The original design's shape: `workflow_used` is the workflow's name (Chorus Engine
    // reads it as a string); what we know about the workflow sits beside it.
    workflow_used: row.workflow,
    workflow: debug['workflow_used'] ?? { name: row.workflow },
    prompt_components: debug['prompt_components'] ?? null,
    prompt_truncated: debug['prompt_truncated'] ?? null,
    parameters_injected: debug['parameters_injected'] ?? null,
    parameters_ignored: debug['parameters_ignored'] ?? [],
    // `weight` is the original design's name for the strength; both are given.
    loras_applied: ((debug['loras_applied'] as Array<Record<string, unknown>> | undefined) ?? []).map((l) => ({ ...l, weight: l['strength'] ?? null })),
    llm: debug['llm'] ?? null,
    comfy_submission: {
      prompt_id: row.comfy_prompt_id,
      queue_position: submission?.['queue_position'] ?? null,
      submitted_at: row.submitted_at,
      backend: row.backend,
    },
    // GPU handoff steps (unload the LLM, free ComfyUI) with outcome and duration; [] when off.
    gpu_handoff: debug['gpu_handoff'] ?? [],
    affinity: debug['affinity'] ?? null,
    resubmits: debug['resubmits'] ?? 0,
    // Why a waiting job is not going on (no backend reachable); null otherwise.
    note: view.note ?? null,
    attempts: row.attempts,
    // Every submission ComfyUI accepted, oldest first ([] for a job stored before they were recorded).
    runs: runsOf(row).map(runEntryOf),
    timing: view.timings,
    // Which way each file came from ComfyUI (auto mode picks per file).
    output_files: (view.result?.files ?? []).map((f) => ({ path: f.path, via: f.via ?? null, original: f.original })),
    timestamps: { created_at: row.created_at, ...((debug['timestamps'] as object | undefined) ?? {}), finished_at: row.finished_at },
    transitions: events.map((e) => ({ seq: e.seq, type: e.type, from: e.from_state, to: e.to_state, at: e.at })),
  };
}
