/**
 * The campaign's judges must be able to say "violated": fed a clean history they find
 * nothing, fed a duplicate, a gap, a reordering or a second run they count it.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDelivery, deliveryViolations } from '../../bench/chaos/delivery-check.js';
import { storedWhileOffline } from '../../bench/chaos/campaign-verdict.js';
import type { ReceivedEvent } from '../../bench/chaos/event-recorder.js';
import { checkExecutions } from '../../bench/chaos/execution-check.js';
import { checkFiles } from '../../bench/chaos/file-check.js';

const persisted = [
  { jobId: 'a', seq: 1 },
  { jobId: 'a', seq: 2 },
  { jobId: 'a', seq: 3 },
  { jobId: 'b', seq: 1 },
  { jobId: 'b', seq: 2 },
];
const ev = (jobId: string, seq: number): ReceivedEvent => ({ eventId: `${jobId}:${seq}`, jobId, seq, state: undefined });

describe('delivery check', () => {
  it('accepts every event once, in order per job, interleaved across jobs', () => {
    const result = checkDelivery('s', persisted, [ev('a', 1), ev('b', 1), ev('a', 2), ev('b', 2), ev('a', 3)]);
    expect(result.exactlyOnce).toBe(5);
    expect(deliveryViolations(result, { requireGapless: true, atLeastOnce: false })).toBe(0);
  });

  it('counts a missing event as a gap on the stream', () => {
    const result = checkDelivery('s', persisted, [ev('a', 1), ev('a', 3), ev('b', 1), ev('b', 2)]);
    expect(result.missing).toBe(1);
    expect(result.gappedJobs).toBe(1);
    expect(result.examples.missing).toEqual(['a:2']);
    expect(deliveryViolations(result, { requireGapless: true, atLeastOnce: false })).toBe(2);
  });

  it('counts a reordering and a duplicate; a duplicate is no violation for an at-least-once subscriber', () => {
    const result = checkDelivery('s', persisted, [ev('a', 2), ev('a', 1), ev('a', 3), ev('b', 1), ev('b', 2), ev('b', 2)]);
    expect(result.outOfOrderJobs).toBe(1);
    expect(result.duplicated).toBe(1);
    expect(result.extraCopies).toBe(1);
    expect(deliveryViolations(result, { requireGapless: false, atLeastOnce: true })).toBe(1);
    expect(deliveryViolations(result, { requireGapless: false, atLeastOnce: false })).toBe(2);
  });

  it('reports, and does not count, a live event stored while the subscriber was disconnected; one stored while it was connected is missing', () => {
    const stream = persisted.map((p, i) => ({ ...ev(p.jobId, p.seq), storedAt: 10_000 + i * 1_000 }));
    // Offline from 11,900 to 12,100: a:3 (stored at 12,000) could not reach it, b:2 (14,000) could.
    const excused = storedWhileOffline(stream, [{ from: 11_900, to: 12_100 }]);
    const result = checkDelivery('live', persisted, [ev('a', 1), ev('a', 2), ev('b', 1)], excused);
    expect(result.missedWhileOffline).toBe(1);
    expect(result.missing).toBe(1);
    expect(result.examples.missing).toEqual(['b:2']);
    expect(deliveryViolations(result, { requireGapless: false, atLeastOnce: true })).toBe(1);
    // Still offline at the end of the run: everything stored since is excused.
    expect(storedWhileOffline(stream, [{ from: 13_900, to: undefined }])('b:2')).toBe(true);
    expect(storedWhileOffline(stream, [{ from: 13_900, to: undefined }])('a:2')).toBe(false);
  });

  it('counts an event the database never held', () => {
    const result = checkDelivery('s', persisted, [...persisted.map((p) => ev(p.jobId, p.seq)), ev('c', 1)]);
    expect(result.unknown).toBe(1);
  });
});

describe('execution check', () => {
  const prompts = new Map([
    ['job1', new Set(['p1', 'p1b'])],
    ['job2', new Set(['p2'])],
  ]);

  it('allows a job to run again after a simulator restart', () => {
    // epoch 1: p1 ran; restart; epoch 2: the resubmitted p1b ran, p2 ran.
    const result = checkExecutions(prompts, [{ p1: 1 }, { p1: 1, p1b: 1, p2: 1 }]);
    expect(result.duplicateJobs).toBe(0);
    expect(result.rerunAfterRestart).toBe(1);
    expect(result.totalExecutions).toBe(3);
  });

  it('flags two runs of one job inside one epoch, whether same prompt id or a new one', () => {
    expect(checkExecutions(prompts, [{ p1: 2 }]).duplicateJobs).toBe(1);
    expect(checkExecutions(prompts, [{ p1: 1, p1b: 1 }]).duplicateJobs).toBe(1);
  });

  it('flags executions of prompt ids no job recorded', () => {
    const result = checkExecutions(prompts, [{ p1: 1, stray: 1 }]);
    expect(result.unattributedExecutions).toBe(1);
    expect(result.examples.unattributed).toEqual(['stray']);
  });
});

describe('file check', () => {
  /** One completed job on disk: its image, its thumbnail and its sidecar, as the collector writes them. */
  async function completedJobOnDisk(dataDir: string, jobId: string) {
    const folder = join(dataDir, 'conversations', 'c1', 'images');
    await mkdir(folder, { recursive: true });
    const image = Buffer.from('image bytes');
    const sha256 = createHash('sha256').update(image).digest('hex');
    await writeFile(join(folder, `${jobId}.png`), image);
    await writeFile(join(folder, `${jobId}.thumb.webp`), Buffer.from('thumb'));
    const file = {
      path: `conversations/c1/images/${jobId}.png`,
      sha256,
      bytes: image.length,
      thumbnail: { path: `conversations/c1/images/${jobId}.thumb.webp`, bytes: 5 },
    };
    await writeFile(join(folder, `${jobId}.json`), JSON.stringify({ job_id: jobId, files: [file] }));
    return { jobId, result: { files: [file], metadataPath: `conversations/c1/images/${jobId}.json` } };
  }

  it("counts a thumbnail listed in the result as the job's own file, and a missing or stray one as a problem", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'chaos-files-'));
    try {
      const job = await completedJobOnDisk(dataDir, 'job1');
      const clean = await checkFiles(dataDir, [job], new Set());
      expect(clean.badJobs).toBe(0);
      expect(clean.leftovers).toEqual({ ofCompletedJobs: 0, ofFailedJobs: 0, unattributed: 0 });

      await writeFile(join(dataDir, 'conversations', 'c1', 'images', 'job1.extra.webp'), 'stray');
      expect((await checkFiles(dataDir, [job], new Set())).leftovers.ofCompletedJobs).toBe(1);

      await rm(join(dataDir, 'conversations', 'c1', 'images', 'job1.thumb.webp'));
      const missing = await checkFiles(dataDir, [job], new Set());
      expect(missing.badJobs).toBe(1);
      expect(missing.examples.bad[0]).toContain('thumbnail missing on disk');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
