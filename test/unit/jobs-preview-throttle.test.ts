import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobPreviewNotice } from '../../src/contracts/job-notices.js';
import { PreviewThrottle } from '../../src/jobs/preview-throttle.js';

const preview = (jobId: string, n: number): JobPreviewNotice => ({ jobId, conversationId: 'c1', node: '3', mediaType: 'image/png', bytes: Buffer.from([n]) });

describe('PreviewThrottle', () => {
  let sent: Array<{ at: number; jobId: string; n: number }>;
  let throttle: PreviewThrottle;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    throttle = new PreviewThrottle(400, (p) => sent.push({ at: Date.now(), jobId: p.jobId, n: p.bytes[0]! }));
  });
  afterEach(() => {
    throttle.close();
    vi.useRealTimers();
  });

  it('sends the first at once, then at most one per interval, always the newest waiting', () => {
    const start = Date.now();
    for (let n = 0; n < 20; n++) {
      throttle.offer(preview('a', n));
      vi.advanceTimersByTime(50); // a sampler step every 50 ms
    }
    vi.advanceTimersByTime(1000);
    expect(sent.map((s) => s.n)).toEqual([0, 7, 15, 19]);
    const gaps = sent.slice(1).map((s, i) => s.at - sent[i]!.at);
    expect(gaps.every((g) => g >= 400)).toBe(true);
    expect(sent[0]!.at).toBe(start);
  });

  it('keeps jobs apart, and sends nothing for a job once it is forgotten', () => {
    throttle.offer(preview('a', 1));
    throttle.offer(preview('b', 1));
    throttle.offer(preview('a', 2));
    throttle.forget('a');
    vi.advanceTimersByTime(1000);
    expect(sent.map((s) => `${s.jobId}${s.n}`)).toEqual(['a1', 'b1']);
  });
});
