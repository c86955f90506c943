/**
 * The job's ComfyUI runs (`context.runs`): one entry per submission ComfyUI accepted, so the
 * timing breakdown can tell the run that made the picture from the ones ComfyUI forgot.
 * Pure: times come with the events and actor outputs, never from a clock here.
 */
import type { ComfyRun, ComfyRunOutcome } from './job-types.js';

/** A submission ComfyUI accepted: a new run, appended. */
export function withRunAccepted(runs: ComfyRun[] | undefined, promptId: string, backend: string, at: number): ComfyRun[] {
  return [...(runs ?? []), { promptId, backend, submittedAt: at, startedAt: null, endedAt: null, outcome: null, ranMs: null, foundLate: false }];
}

/**
 * Changes the current run (the last one, while it has no outcome). A snapshot stored before
 * runs existed has none to change: it stays as it is, and the timings fall back to the row.
 */
function withCurrentRun(runs: ComfyRun[] | undefined, change: (run: ComfyRun) => ComfyRun): ComfyRun[] | undefined {
  const current = runs?.[runs.length - 1];
  if (!runs || !current || current.outcome !== null) return runs;
  return [...runs.slice(0, -1), change(current)];
}

/** The first sign of execution; later ones (progress) leave it. */
export function withRunStarted(runs: ComfyRun[] | undefined, at: number): ComfyRun[] | undefined {
  return withCurrentRun(runs, (run) => (run.startedAt === null ? { ...run, startedAt: at } : run));
}

export function withRunEnded(
  runs: ComfyRun[] | undefined,
  at: number,
  outcome: ComfyRunOutcome,
  facts: { ranMs?: number | null | undefined; foundLate?: boolean | undefined } = {},
): ComfyRun[] | undefined {
  return withCurrentRun(runs, (run) => ({ ...run, endedAt: at, outcome, ranMs: facts.ranMs ?? null, foundLate: facts.foundLate ?? false }));
}
