import { describe, expect, it } from 'vitest';
import type { BackendHealth, ComfyBackend } from '../../src/comfy/backend-port.js';
import { checkReadiness, createHealthSources, jobFeedFromJobService, type FeedMessage } from '../../src/http/index.js';
import { JobServiceEvents } from '../../src/jobs/job-service-events.js';
import type { JobView } from '../../src/contracts/job-view.js';
import { FakeJobCommandHandler, FakeJobFeed } from '../support/fake-http-ports.js';

async function aJob(): Promise<JobView> {
  const handler = new FakeJobCommandHandler(new FakeJobFeed());
  return (await handler.generate({ conversation_id: 'conv-1', character: 'nova', prompt: 'x', priority: 0, strict_llm: false, parameters: {} })).job;
}

describe('jobFeedFromJobService', () => {
  it('turns transition and progress notices into feed messages, progress with the conversation', async () => {
    const events = new JobServiceEvents();
    const feed = jobFeedFromJobService(events, () => new Date('2026-11-25T12:00:00Z'));
    const got: FeedMessage[] = [];
    const off = feed.subscribe((m) => got.push(m));
    const job = await aJob();
    events.emit('transition', {
      jobId: job.id,
      seq: 2,
      type: 'submitted',
      from: 'queued.waiting',
      to: 'submitted.pending',
      job: { ...job, state: 'submitted' },
    });
    events.emit('progress', { jobId: job.id, conversationId: 'conv-1', progress: { value: 3, max: 10, node: '5' } });
    off();
    events.emit('progress', { jobId: job.id, conversationId: 'conv-1', progress: { value: 4, max: 10, node: '5' } });
    expect(got).toEqual([
      {
        type: 'transition',
        job: expect.objectContaining({ id: job.id, state: 'submitted' }),
        seq: 2,
        from: 'queued.waiting',
        to: 'submitted.pending',
        at: '2026-11-25T12:00:00.000Z',
      },
      { type: 'progress', job_id: job.id, conversation_id: 'conv-1', progress: { value: 3, max: 10, node: '5' } },
    ]);
  });
});

describe('createHealthSources', () => {
  const backend = (name: string, healthy: boolean): ComfyBackend =>
    ({
      name,
      url: `http://${name}`,
      maxConcurrent: 3,
      health: (): BackendHealth => ({ name, url: `http://${name}`, healthy, socket: healthy ? 'open' : 'closed' }),
    }) as unknown as ComfyBackend;

  it('counts jobs per state and the outbox from the store, capacity from the pool and scheduler', async () => {
    const counts: Record<string, number> = { queued: 2, completed: 5 };
    const health = createHealthSources({
      store: {
        countJobs: async (filter) => counts[filter?.states?.[0] ?? ''] ?? 0,
        countUnpublished: async () => 7,
      },
      pool: { list: () => [backend('a', true), backend('b', false)] },
      inUse: (name) => (name === 'a' ? 2 : 0),
      instanceId: 'i-1',
    });
    expect(await health.jobsByState()).toEqual({ queued: 2, submitted: 0, processing: 0, moving: 0, completed: 5, failed: 0, cancelled: 0 });
    expect(await health.outboxPending()).toBe(7);
    expect(health.backends()).toEqual([
      expect.objectContaining({ name: 'a', healthy: true, capacity: { max_concurrent: 3, in_use: 2 } }),
      expect.objectContaining({ name: 'b', healthy: false, capacity: { max_concurrent: 3, in_use: 0 } }),
    ]);
    expect(health.nats()).toBeNull();
    expect(await health.database()).toBe(true);
    expect((await checkReadiness(health)).ready).toBe(true);
  });

  it('reports the database down when the store throws', async () => {
    const health = createHealthSources({
      store: {
        countJobs: async () => {
          throw new Error('database is locked');
        },
        countUnpublished: async () => 0,
      },
      pool: { list: () => [] },
      inUse: () => 0,
      nats: () => ({ connected: false, kind: 'jetstream' }),
      instanceId: 'i-1',
    });
    expect(await health.database()).toBe(false);
    expect((await checkReadiness(health)).reasons).toEqual([
      'database does not answer',
      'NATS (jetstream) is not connected',
      'no ComfyUI backend is configured',
    ]);
  });
});
