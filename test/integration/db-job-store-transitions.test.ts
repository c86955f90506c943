import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseJobStore } from '../../src/db/index.js';
import type { JobResult } from '../../src/contracts/job-view.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const result: JobResult = {
  files: [
    {
      kind: 'image',
      path: 'conversations/c1/images/j.png',
      absolutePath: '/data/conversations/c1/images/j.png',
      mediaType: 'image/png',
      bytes: 1234,
      sha256: 'ab'.repeat(32),
      width: 512,
      height: 768,
      original: { filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output', nodeId: '9' },
    },
  ],
  metadataPath: 'conversations/c1/images/j_metadata.json',
};

describe.each(databaseTargets)('JobStore transitions on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let store: DatabaseJobStore;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    store = await home.open();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('patches the row and appends events with increasing seq', async () => {
    const job = newJob();
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);

    const submitted = await store.recordTransition(
      job.id,
      { status: 'submitted', substate: null, backend: 'local', comfy_prompt_id: 'p-1', submitted_at: '2026-11-25T12:00:01.000Z', attempts: 1 },
      newEvent('queued', 'submitted', { backend: 'local' }),
    );
    const completed = await store.recordTransition(
      job.id,
      { status: 'completed', result, completed_at: '2026-11-25T12:00:09.000Z', snapshot: { value: 'completed', context: { n: [1, 2] } } },
      newEvent('submitted', 'completed'),
    );

    expect([submitted.seq, completed.seq]).toEqual([2, 3]);
    const row = await store.getJob(job.id);
    expect(row).toMatchObject({
      status: 'completed',
      substate: null,
      backend: 'local',
      comfy_prompt_id: 'p-1',
      attempts: 1,
      result,
      last_seq: 3,
      snapshot: { value: 'completed', context: { n: [1, 2] } },
      // Untouched by the patches.
      prompt: job.prompt,
      parameters: job.parameters,
    });
    const events = await store.listEvents(job.id);
    expect(events.map((event) => [event.seq, event.from_state, event.to_state])).toEqual([
      [1, null, 'queued'],
      [2, 'queued', 'submitted'],
      [3, 'submitted', 'completed'],
    ]);
    expect(events[1]?.data).toEqual({ backend: 'local' });
  });

  it('stores an error as JSON and clears it again with null', async () => {
    const job = newJob();
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    const error = { code: 'EXECUTION_ERROR' as const, message: 'boom', recoverable: true, details: { node: '3' } };
    await store.recordTransition(job.id, { status: 'failed', error }, newEvent('queued', 'failed'));
    expect((await store.getJob(job.id))?.error).toEqual(error);
    await store.recordTransition(job.id, { status: 'queued', error: null }, newEvent('failed', 'queued'));
    expect((await store.getJob(job.id))?.error).toBeNull();
  });

  it('throws JOB_NOT_FOUND for an unknown job and writes nothing', async () => {
    await expect(store.recordTransition('missing', { status: 'failed' }, newEvent('queued', 'failed'))).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
      details: { job_id: 'missing' },
    });
    expect(await store.countUnpublished()).toBe(0);
  });

  it('rolls the row update back when the event insert fails', async () => {
    const job = newJob();
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    // Occupy seq 2 behind the store's back, so the transition's event insert violates UNIQUE(job_id, seq).
    await store.database.db
      .insertInto('job_events')
      .values({ job_id: job.id, seq: 2, type: 'intruder', from_state: null, to_state: 'queued', data: '{}', at: 'x', published_at: null })
      .execute();
    const before = await store.getJob(job.id);

    await expect(store.recordTransition(job.id, { status: 'submitted', backend: 'b' }, newEvent('queued', 'submitted'))).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const after = await store.getJob(job.id);
    expect(after).toEqual(before);
    expect(after).toMatchObject({ status: 'queued', backend: null, last_seq: 1 });
    expect((await store.listEvents(job.id)).map((event) => event.type)).toEqual(['job.created', 'intruder']);
  });

  it('keeps concurrent transitions of other jobs when one of them fails', async () => {
    const [a, b, c] = [newJob(), newJob(), newJob()];
    for (const job of [a, b, c]) await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    await store.database.db
      .insertInto('job_events')
      .values({ job_id: b.id, seq: 2, type: 'intruder', from_state: null, to_state: 'queued', data: '{}', at: 'x', published_at: null })
      .execute();

    // Issued together, so on SQLite they share one group commit.
    const outcomes = await Promise.allSettled([a, b, c].map((job) => store.recordTransition(job.id, { status: 'submitted' }, newEvent('queued', 'submitted'))));
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.getJob(a.id))?.status).toBe('submitted');
    expect(await store.getJob(b.id)).toMatchObject({ status: 'queued', last_seq: 1 });
    expect((await store.getJob(c.id))?.last_seq).toBe(2);
  });

  it('close() lets calls already made finish first', async () => {
    const job = newJob();
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    const pending = [
      store.recordTransition(job.id, { status: 'submitted' }, newEvent('queued', 'submitted')),
      store.recordTransition(job.id, { attempts: 2 }, newEvent('submitted', 'submitted')),
    ];
    await store.close();
    await expect(Promise.all(pending)).resolves.toEqual([{ seq: 2 }, { seq: 3 }]);
    const reopened = await home.open();
    expect(await reopened.getJob(job.id)).toMatchObject({ status: 'submitted', attempts: 2, last_seq: 3 });
  });

  it('round-trips JSON and unicode text exactly', async () => {
    const prompt = 'Nova 🎨 sketching — 東京の夜, مرحبا, e\u0301, "quotes" and \\backslashes\\ \n newline';
    const parameters = { nested: { list: [1, 2.5, null, true, 'ünï'], empty: {} }, 'key with spaces': '🚀', zero: 0 };
    const snapshot = { status: 'active', value: { queued: 'waiting' }, context: { deadline: 1764072000000, text: '\u0000 nul in json' } };
    const job = newJob({ prompt, negative_prompt: 'blurry, 低品質', parameters, snapshot, debug: { prompt_components: { user_request: prompt } } });
    await store.createJob(job, newEvent(null, 'queued', { prompt }), roomyQueue);

    const row = await store.getJob(job.id);
    expect(row?.prompt).toBe(prompt);
    expect(row?.negative_prompt).toBe('blurry, 低品質');
    expect(row?.parameters).toEqual(parameters);
    expect(row?.snapshot).toEqual(snapshot);
    expect(row?.debug).toEqual({ prompt_components: { user_request: prompt } });
    expect((await store.listEvents(job.id))[0]?.data).toEqual({ prompt });
  });

  it('keeps per-job seq unique and gap-free under concurrent transitions of many jobs', async () => {
    const jobs = Array.from({ length: 40 }, () => newJob());
    const steps = ['submitted', 'processing', 'moving', 'completed'] as const;
    await Promise.all(
      jobs.map(async (job) => {
        await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
        let from: string = 'queued';
        for (const to of steps) {
          await store.recordTransition(job.id, { status: to }, newEvent(from, to));
          from = to;
        }
      }),
    );
    for (const job of jobs) {
      const events = await store.listEvents(job.id);
      expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
      expect((await store.getJob(job.id))?.last_seq).toBe(5);
    }
    expect(await store.countUnpublished()).toBe(jobs.length * 5);
  });
});
