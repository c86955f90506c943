/**
 * ComfyUI sends a sampler preview per step (dozens a second on a fast GPU); a person needs
 * a few. Per job: the first preview goes out at once, later ones at most every `intervalMs`,
 * and the newest one waiting when the interval ends is the one sent (a slow sampler's last
 * step is never swallowed). Nothing is kept once a job is forgotten.
 */
import type { JobPreviewNotice } from '../contracts/job-notices.js';

interface JobSlot {
  lastSentAt: number;
  waiting: JobPreviewNotice | null;
  timer: NodeJS.Timeout | null;
}

export class PreviewThrottle {
  private readonly jobs = new Map<string, JobSlot>();

  constructor(
    private readonly intervalMs: number,
    private readonly send: (preview: JobPreviewNotice) => void,
    private readonly now: () => number = Date.now,
  ) {}

  offer(preview: JobPreviewNotice): void {
    const slot = this.jobs.get(preview.jobId) ?? { lastSentAt: Number.NEGATIVE_INFINITY, waiting: null, timer: null };
    this.jobs.set(preview.jobId, slot);
    const due = slot.lastSentAt + this.intervalMs - this.now();
    if (due <= 0 && slot.timer === null) {
      this.flush(slot, preview);
      return;
    }
    slot.waiting = preview;
    if (slot.timer === null) {
      slot.timer = setTimeout(
        () => {
          slot.timer = null;
          if (slot.waiting) this.flush(slot, slot.waiting);
        },
        Math.max(0, due),
      );
      slot.timer.unref();
    }
  }

  /** The job left ComfyUI: drop what is waiting (a preview after the result is noise). */
  forget(jobId: string): void {
    const slot = this.jobs.get(jobId);
    if (slot?.timer) clearTimeout(slot.timer);
    this.jobs.delete(jobId);
  }

  close(): void {
    for (const jobId of [...this.jobs.keys()]) this.forget(jobId);
  }

  private flush(slot: JobSlot, preview: JobPreviewNotice): void {
    slot.waiting = null;
    slot.lastSentAt = this.now();
    this.send(preview);
  }
}
