import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatabaseJobStore } from '../../src/db/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

describe.each(databaseTargets)('JobStore queries and outbox on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let store: DatabaseJobStore;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    store = await home.open();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  async function seedJobs() {
    const specs = [
      { id: 'a', conversation_id: 'c1', character: 'nova', status: 'queued', created_at: '2026-11-25T10:00:00.000Z' },
      { id: 'b', conversation_id: 'c1', character: 'kai', status: 'processing', created_at: '2026-11-25T10:00:01.000Z' },
      { id: 'c', conversation_id: 'c2', character: 'nova', status: 'completed', created_at: '2026-11-25T10:00:02.000Z' },
      { id: 'd', conversation_id: 'c2', character: 'nova', status: 'failed', created_at: '2026-11-25T10:00:03.000Z' },
      { id: 'e', conversation_id: 'c1', character: 'nova', status: 'moving', created_at: '2026-11-25T10:00:04.000Z' },
    ] as const;
    for (const spec of specs) {
      await store.createJob(
        newJob({ id: spec.id, conversation_id: spec.conversation_id, character: spec.character, created_at: spec.created_at }),
        newEvent(null, 'queued'),
        roomyQueue,
      );
      if (spec.status !== 'queued') await store.recordTransition(spec.id, { status: spec.status }, newEvent('queued', spec.status));
    }
  }

  it('lists newest first with state, conversation and character filters', async () => {
    await seedJobs();
    const ids = async (filter?: Parameters<DatabaseJobStore['listJobs']>[0]) => (await store.listJobs(filter)).map((job) => job.id);

    expect(await ids()).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(await ids({ states: ['completed', 'failed'] })).toEqual(['d', 'c']);
    expect(await ids({ conversationId: 'c1' })).toEqual(['e', 'b', 'a']);
    expect(await ids({ character: 'nova', conversationId: 'c2' })).toEqual(['d', 'c']);
    expect(await ids({ states: [] })).toEqual([]);
    expect(await store.countJobs({ character: 'nova' })).toBe(4);
    expect(await store.countJobs({ states: ['queued', 'moving'] })).toBe(2);
    expect(await store.countJobs({ states: [] })).toBe(0);
  });

  it('finds jobs by id prefix (an "_" is a character, not a wildcard) and counts them per state', async () => {
    await seedJobs();
    await store.createJob(newJob({ id: 'job_1a', created_at: '2026-11-25T10:00:05.000Z' }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ id: 'jobX1b', created_at: '2026-11-25T10:00:06.000Z' }), newEvent(null, 'queued'), roomyQueue);
    expect((await store.listJobs({ idPrefix: 'job_' })).map((job) => job.id)).toEqual(['job_1a']);
    expect((await store.listJobs({ idPrefix: 'job' })).map((job) => job.id)).toEqual(['jobX1b', 'job_1a']);
    expect(await store.countJobs({ idPrefix: 'c' })).toBe(1);

    expect(await store.countByState()).toEqual({ queued: 3, processing: 1, completed: 1, failed: 1, moving: 1 });
    expect(await store.countByState({ conversationId: 'c2' })).toEqual({ completed: 1, failed: 1 });
  });

  it("links a regenerated job to its source, and lists each source's regenerations oldest first", async () => {
    await store.createJob(newJob({ id: 'src', created_at: '2026-11-25T10:00:00.000Z' }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ id: 'r2', regenerated_from: 'src', created_at: '2026-11-25T10:00:02.000Z' }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ id: 'r1', regenerated_from: 'src', created_at: '2026-11-25T10:00:01.000Z' }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ id: 'rr', regenerated_from: 'r1', created_at: '2026-11-25T10:00:03.000Z' }), newEvent(null, 'queued'), roomyQueue);
    expect((await store.getJob('r1'))?.regenerated_from).toBe('src');
    expect((await store.getJob('src'))?.regenerated_from).toBeNull();
    const links = await store.listRegenerations(['src', 'r1', 'r2']);
    expect(Object.fromEntries(links)).toEqual({ src: ['r1', 'r2'], r1: ['rr'] });
    expect((await store.listRegenerations([])).size).toBe(0);
  });

  it('pages with limit and offset', async () => {
    await seedJobs();
    const ids = async (limit?: number, offset?: number) =>
      (await store.listJobs({ ...(limit === undefined ? {} : { limit }), ...(offset === undefined ? {} : { offset }) })).map((job) => job.id);
    expect(await ids(2)).toEqual(['e', 'd']);
    expect(await ids(2, 2)).toEqual(['c', 'b']);
    expect(await ids(2, 4)).toEqual(['a']);
    expect(await ids(undefined, 3)).toEqual(['b', 'a']);
  });

  it('lists unfinished jobs oldest first', async () => {
    await seedJobs();
    expect((await store.listUnfinished()).map((job) => job.id)).toEqual(['a', 'b', 'e']);
  });

  it('hands out unpublished events in global order across jobs and marks them published', async () => {
    await store.createJob(newJob({ id: 'x' }), newEvent(null, 'queued'), roomyQueue);
    await store.createJob(newJob({ id: 'y' }), newEvent(null, 'queued'), roomyQueue);
    await store.recordTransition('y', { status: 'submitted' }, newEvent('queued', 'submitted'));
    await store.recordTransition('x', { status: 'submitted' }, newEvent('queued', 'submitted'));
    await store.recordTransition('y', { status: 'processing' }, newEvent('submitted', 'processing'));

    const all = await store.listUnpublished(100);
    expect(all.map((event) => `${event.job_id}:${event.seq}`)).toEqual(['x:1', 'y:1', 'y:2', 'x:2', 'y:3']);
    expect(all.map((event) => event.id)).toEqual([...all.map((event) => event.id)].sort((p, q) => p - q));
    expect((await store.listUnpublished(2)).map((event) => event.id)).toEqual(all.slice(0, 2).map((event) => event.id));

    const firstBatch = all.slice(0, 3).map((event) => event.id);
    await store.markPublished(firstBatch, '2026-11-25T12:00:00.000Z');
    await store.markPublished([], '2026-11-25T12:00:01.000Z');
    expect(await store.countUnpublished()).toBe(2);
    expect((await store.listUnpublished(100)).map((event) => `${event.job_id}:${event.seq}`)).toEqual(['x:2', 'y:3']);

    // Marking again keeps the first publication time.
    await store.markPublished(firstBatch, '2026-11-25T13:00:00.000Z');
    const x1 = (await store.listEvents('x'))[0];
    expect(x1?.published_at).toBe('2026-11-25T12:00:00.000Z');
  });

  it('marks a batch larger than one statement can bind', async () => {
    const job = newJob();
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    // Written directly in one statement: this test is about markPublished, not about transitions.
    const rows = Array.from({ length: 1_199 }, (_, i) => ({
      job_id: job.id,
      seq: i + 2,
      type: 'bulk',
      from_state: null,
      to_state: 'queued',
      data: '{}',
      at: 'x',
      published_at: null,
    }));
    await store.database.db.insertInto('job_events').values(rows).execute();
    const events = await store.listUnpublished(5_000);
    expect(events).toHaveLength(1_200);
    await store.markPublished(
      events.map((event) => event.id),
      new Date().toISOString(),
    );
    expect(await store.countUnpublished()).toBe(0);
  });

  it('reads everything back after the database is closed and reopened', async () => {
    await seedJobs();
    const jobsBefore = await store.listJobs();
    const eventsBefore = await Promise.all(jobsBefore.map((job) => store.listEvents(job.id)));
    const unpublishedBefore = await store.listUnpublished(100);
    await store.markPublished([unpublishedBefore[0]?.id ?? -1], '2026-11-25T12:00:00.000Z');
    await store.close();

    const reopened = await home.open();
    expect(await reopened.listJobs()).toEqual(jobsBefore);
    const publishedId = unpublishedBefore[0]?.id;
    expect(await Promise.all(jobsBefore.map((job) => reopened.listEvents(job.id)))).toEqual(
      eventsBefore.map((events) => events.map((event) => (event.id === publishedId ? { ...event, published_at: '2026-11-25T12:00:00.000Z' } : event))),
    );
    expect(await reopened.countUnpublished()).toBe(unpublishedBefore.length - 1);
    // New events continue after the old ones in the outbox order.
    const next = await reopened.recordTransition('a', { status: 'submitted' }, newEvent('queued', 'submitted'));
    expect(next.seq).toBe(2);
    const last = (await reopened.listUnpublished(100)).at(-1);
    expect(last?.id).toBeGreaterThan(Math.max(...unpublishedBefore.map((event) => event.id)));
  });
});
