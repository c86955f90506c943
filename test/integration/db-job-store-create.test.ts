import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseJobStore } from '../../src/db/index.js';
import { ChorusError } from '../../src/errors/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

describe.each(databaseTargets)('JobStore.createJob on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let store: DatabaseJobStore;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    store = await home.open();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('inserts the job with last_seq 1 and its creation event as seq 1', async () => {
    const job = newJob({ request_id: 'req-1', seed: 123 });
    const outcome = await store.createJob(job, newEvent(null, 'queued', { by: 'test' }), roomyQueue);

    expect(outcome.created).toBe(true);
    expect(outcome.job).toMatchObject({ id: job.id, status: 'queued', last_seq: 1, attempts: 0, seed: 123, result: null, error: null });
    expect(await store.getJob(job.id)).toEqual(outcome.job);
    const events = await store.listEvents(job.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ job_id: job.id, seq: 1, from_state: null, to_state: 'queued', data: { by: 'test' }, published_at: null });
  });

  it('returns the row as stored without reading it back: every column, JSON ones included, equals the read', async () => {
    const source = (await store.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
    const full = newJob({
      request_id: 'full',
      request_hash: 'h-full',
      thread_id: 't-1',
      message_id: 'm-1',
      negative_prompt: 'fog',
      seed: 2 ** 53 - 1,
      priority: 3,
      parameters: { steps: 30, sizes: [512, 768], nested: { cfg: 7.5 } },
      debug: { request: { user_request: 'a harbour', activity: null }, timestamps: {} },
      snapshot: { value: { queued: 'composing' }, context: { list: [1, 'two', null] }, children: {} },
      comfy_graph: { '1': { class_type: 'KSampler', inputs: { seed: 1 } } },
      regenerated_from: source.id,
    });
    const { job } = await store.createJob(full, newEvent(null, 'queued'), roomyQueue);
    expect(await store.getJob(full.id)).toEqual(job);
    expect(job).toMatchObject({ last_seq: 1, attempts: 0, request_hash: 'h-full', regenerated_from: source.id, seed: 2 ** 53 - 1 });
    // Without the optional columns: null, as a read gives them.
    const bare = newJob();
    const { job: bareRow } = await store.createJob(bare, newEvent(null, 'queued'), roomyQueue);
    expect(bareRow).toMatchObject({ regenerated_from: null, comfy_graph: null, request_hash: null });
    expect(await store.getJob(bare.id)).toEqual(bareRow);
  });

  it('returns the existing job for a repeated request_id and writes nothing', async () => {
    const first = await store.createJob(newJob({ request_id: 'same' }), newEvent(null, 'queued'), roomyQueue);
    const again = await store.createJob(newJob({ request_id: 'same', prompt: 'different' }), newEvent(null, 'queued'), roomyQueue);

    expect(again.created).toBe(false);
    expect(again.job).toEqual(first.job);
    expect(await store.countJobs()).toBe(1);
    expect(await store.countUnpublished()).toBe(1);
    expect((await store.findByRequestId(first.job.conversation_id, 'same'))?.id).toBe(first.job.id);
    expect(await store.findByRequestId(first.job.conversation_id, 'nobody')).toBeUndefined();
  });

  it('request_id is unique per conversation: the same id in another conversation is another job', async () => {
    const here = await store.createJob(newJob({ conversation_id: 'conv-a', request_id: 'msg-1' }), newEvent(null, 'queued'), roomyQueue);
    const there = await store.createJob(newJob({ conversation_id: 'conv-b', request_id: 'msg-1' }), newEvent(null, 'queued'), roomyQueue);
    expect([here.created, there.created]).toEqual([true, true]);
    expect(there.job.id).not.toBe(here.job.id);
    expect((await store.findByRequestId('conv-b', 'msg-1'))?.id).toBe(there.job.id);
    const again = await store.createJob(newJob({ conversation_id: 'conv-a', request_id: 'msg-1', request_hash: 'h' }), newEvent(null, 'queued'), roomyQueue);
    expect(again).toMatchObject({ created: false, job: { id: here.job.id } });
  });

  it('treats jobs without a request_id as distinct', async () => {
    await store.createJob(newJob({ request_id: null }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ request_id: null }), newEvent(null, 'queued'), roomyQueue);
    expect(await store.countJobs()).toBe(2);
  });

  it('refuses with QUEUE_FULL at maxQueueSize unfinished jobs and writes nothing', async () => {
    const limits = { maxQueueSize: 2 };
    const a = await store.createJob(newJob(), newEvent(null, 'queued'), limits);
    await store.createJob(newJob(), newEvent(null, 'queued'), limits);

    const refused = store.createJob(newJob({ request_id: 'third' }), newEvent(null, 'queued'), limits);
    await expect(refused).rejects.toBeInstanceOf(ChorusError);
    await expect(refused).rejects.toMatchObject({ code: 'QUEUE_FULL', details: { max_queue_size: 2, active: 2 } });
    expect(await store.countJobs()).toBe(2);
    expect(await store.countUnpublished()).toBe(2);
    expect(await store.findByRequestId(a.job.conversation_id, 'third')).toBeUndefined();

    // A finished job no longer counts against the limit.
    await store.recordTransition(a.job.id, { status: 'completed' }, newEvent('queued', 'completed'));
    const admitted = await store.createJob(newJob({ request_id: 'third' }), newEvent(null, 'queued'), limits);
    expect(admitted.created).toBe(true);
  });

  it('admits exactly up to the limit when many creates arrive at once', async () => {
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => store.createJob(newJob(), newEvent(null, 'queued'), { maxQueueSize: 5 })));
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(5);
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(refused.map((outcome) => (outcome.reason as { code: string }).code)).toEqual(['QUEUE_FULL', 'QUEUE_FULL', 'QUEUE_FULL']);
    expect(await store.countJobs()).toBe(5);
    expect(await store.countUnpublished()).toBe(5);
  });

  it('answers a retried request with its job even when the queue is full', async () => {
    const limits = { maxQueueSize: 1 };
    const first = await store.createJob(newJob({ request_id: 'retry-me' }), newEvent(null, 'queued'), limits);
    const retried = await store.createJob(newJob({ request_id: 'retry-me' }), newEvent(null, 'queued'), limits);
    expect(retried).toEqual({ job: first.job, created: false });
  });

  it('creates exactly one job for concurrent calls with the same request_id', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, () => store.createJob(newJob({ request_id: 'burst' }), newEvent(null, 'queued'), roomyQueue)),
    );
    expect(outcomes.filter((outcome) => outcome.created)).toHaveLength(1);
    expect(new Set(outcomes.map((outcome) => outcome.job.id)).size).toBe(1);
    expect(await store.countJobs()).toBe(1);
    expect(await store.countUnpublished()).toBe(1);
  });

  it('keeps a ComfyUI seed of 2^53-1 exact, also after reopening', async () => {
    const job = newJob({ seed: Number.MAX_SAFE_INTEGER });
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    const other = newJob({ seed: null });
    await store.createJob(other, newEvent(null, 'queued'), roomyQueue);
    await store.recordTransition(other.id, { seed: Number.MAX_SAFE_INTEGER - 1 }, newEvent('queued', 'queued'));
    await store.close();

    const reopened = await home.open();
    const read = await reopened.getJob(job.id);
    expect(read?.seed).toBe(9007199254740991);
    expect(typeof read?.seed).toBe('number');
    expect((await reopened.getJob(other.id))?.seed).toBe(9007199254740990);
  });

  it('refuses a seed a JS number cannot hold exactly', async () => {
    await expect(store.createJob(newJob({ seed: 2 ** 53 }), newEvent(null, 'queued'), roomyQueue)).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    expect(await store.countJobs()).toBe(0);
  });
});
