/**
 * Terminal display of jobs as they move: one progress bar per job, fed by ComfyUI's
 * progress ticks, and a line per state change. Falls back to plain lines when stdout is
 * not a terminal (CI logs, pipes), where redrawn bars would be noise. A job waiting for a
 * slot while no backend is reachable shows its note (COMFY_UNAVAILABLE) beside its state.
 */
import cliProgress from 'cli-progress';
import type { JobView } from '../contracts/index.js';

export interface JobProgressDisplay {
  track(job: JobView, label: string): void;
  transition(job: JobView): void;
  progress(jobId: string, value: number, max: number): void;
  stop(): void;
}

export function createJobProgressDisplay(out: NodeJS.WriteStream = process.stdout): JobProgressDisplay {
  const interactive = out.isTTY === true;
  const labels = new Map<string, string>();
  const bars = new Map<string, cliProgress.SingleBar>();
  /** What the last line (or bar state) of each job said: a repeated view adds no line. */
  const shown = new Map<string, string>();
  const multi = interactive
    ? new cliProgress.MultiBar(
        { format: ' {label} |{bar}| {percentage}% {state}', hideCursor: true, clearOnComplete: false, stream: out },
        cliProgress.Presets.shades_classic,
      )
    : undefined;

  const line = (text: string) => {
    if (multi) multi.log(`${text}\n`);
    else out.write(`${text}\n`);
  };

  return {
    track(job, label) {
      labels.set(job.id, label);
      if (multi) bars.set(job.id, multi.create(100, 0, { label: label.padEnd(22).slice(0, 22), state: job.state }));
      else line(`  ${label}: ${job.state} (job ${job.id})`);
    },
    transition(job) {
      const label = labels.get(job.id);
      if (label === undefined) return;
      const bar = bars.get(job.id);
      const position = job.substate ?? job.state;
      // A waiting job's note (no backend reachable) is said beside its state, once per change.
      const text = job.note ? `${position} (${job.note.code}: ${job.note.message})` : position;
      if (shown.get(job.id) === text) return;
      shown.set(job.id, text);
      if (bar) {
        if (job.state === 'completed') bar.update(100, { state: job.state });
        else bar.update({ state: text });
      } else {
        line(`  ${label}: ${text}`);
      }
    },
    progress(jobId, value, max) {
      const bar = bars.get(jobId);
      if (bar && max > 0) bar.update(Math.min(99, Math.round((value / max) * 100)));
    },
    stop() {
      multi?.stop();
    },
  };
}
