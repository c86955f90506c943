/**
 * "No prompt executed twice except after a simulator restart". The simulator counts
 * execution starts per prompt id for its whole life (an in-process restart keeps the
 * counters), so the campaign snapshots the counters at every restart: the snapshots cut the
 * run into epochs, and within one epoch a job may have started at most one execution. A job
 * that ran again in a later epoch is allowed (ComfyUI forgot it) and counted.
 */
export interface ExecutionResult {
  totalExecutions: number;
  epochs: number;
  /** Jobs with two or more execution starts inside one simulator epoch: violations. */
  duplicateJobs: number;
  /** Jobs that ran in more than one epoch: re-run after a simulator restart (allowed). */
  rerunAfterRestart: number;
  /** Executions of prompt ids no job ever recorded (a run the service does not know about). */
  unattributedExecutions: number;
  examples: { duplicates: string[]; unattributed: string[] };
}

type Counts = Record<string, number>;

export function checkExecutions(promptIdsByJob: Map<string, Set<string>>, snapshots: Counts[]): ExecutionResult {
  const jobOfPrompt = new Map<string, string>();
  for (const [jobId, ids] of promptIdsByJob) for (const id of ids) jobOfPrompt.set(id, jobId);

  const perEpoch: Counts[] = snapshots.map((snap, i) => {
    const before = i === 0 ? {} : snapshots[i - 1]!;
    const delta: Counts = {};
    for (const [id, n] of Object.entries(snap)) if (n - (before[id] ?? 0) > 0) delta[id] = n - (before[id] ?? 0);
    return delta;
  });

  const duplicates: string[] = [];
  const epochsByJob = new Map<string, number>();
  const unattributed = new Set<string>();
  let unattributedRuns = 0;
  for (const delta of perEpoch) {
    const runsByJob = new Map<string, number>();
    for (const [promptId, runs] of Object.entries(delta)) {
      const jobId = jobOfPrompt.get(promptId);
      if (jobId === undefined) {
        unattributed.add(promptId);
        unattributedRuns += runs;
        continue;
      }
      runsByJob.set(jobId, (runsByJob.get(jobId) ?? 0) + runs);
    }
    for (const [jobId, runs] of runsByJob) {
      if (runs > 1) duplicates.push(`${jobId} (${runs} runs in one epoch)`);
      epochsByJob.set(jobId, (epochsByJob.get(jobId) ?? 0) + 1);
    }
  }
  const last = snapshots[snapshots.length - 1] ?? {};
  return {
    totalExecutions: Object.values(last).reduce((a, b) => a + b, 0),
    epochs: snapshots.length,
    duplicateJobs: duplicates.length,
    rerunAfterRestart: [...epochsByJob.values()].filter((n) => n > 1).length,
    unattributedExecutions: unattributedRuns,
    examples: { duplicates: duplicates.slice(0, 5), unattributed: [...unattributed].slice(0, 5) },
  };
}
