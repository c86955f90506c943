/**
 * The SQLite store runs its statements straight on the connection (SqliteDirectExecutor),
 * past Kysely's connection mutex: that is sound only because each runs inside the group
 * commit's own transaction, which holds the connection. Held here from the outside: a
 * transaction someone else has open on the same Kysely instance is never joined.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import { newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

let dir: string;
let store: DatabaseJobStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cv-db-direct-'));
  store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

it('uses the direct path for its statements, and never writes into a transaction another caller holds', async () => {
  const direct = store.database.direct!;
  const run = direct.executeQuery.bind(direct);
  let directStatements = 0;
  direct.executeQuery = (query) => {
    directStatements += 1;
    return run(query);
  };
  const first = (await store.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
  expect(directStatements).toBeGreaterThan(0);

  // Another caller's transaction, open while the store writes, then rolled back.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const foreign = store.database.db
    .transaction()
    .execute(async (trx) => {
      await trx.updateTable('visual_generation_jobs').set({ prompt: 'foreign' }).where('id', '=', first.id).execute();
      await held;
      throw new Error('roll back');
    })
    .catch(() => undefined);
  const second = newJob();
  const created = store.createJob(second, newEvent(null, 'queued'), roomyQueue);
  const transition = store.recordTransition(first.id, { status: 'submitted', substate: 'submitted.pending' }, newEvent('queued', 'submitted'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  await foreign;
  await Promise.all([created, transition]);

  // Both writes outlived the foreign rollback; the foreign change did not.
  expect(await store.getJob(second.id)).toMatchObject({ id: second.id, last_seq: 1 });
  expect(await store.getJob(first.id)).toMatchObject({ status: 'submitted', last_seq: 2, prompt: first.prompt });
  expect((await store.listEvents(first.id)).map((event) => event.seq)).toEqual([1, 2]);
});

it('a read while the store is idle runs outside its transactions, and never inside one another caller holds', async () => {
  const first = (await store.createJob(newJob(), newEvent(null, 'queued'), roomyQueue)).job;
  const before = (await store.listUnpublished(100)).map((event) => event.job_id);
  expect(before).toEqual([first.id]);

  // Another caller's transaction writes an event row it will roll back.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let wrote!: () => void;
  const written = new Promise<void>((resolve) => (wrote = resolve));
  const foreign = store.database.db
    .transaction()
    .execute(async (trx) => {
      await trx
        .insertInto('job_events')
        .values({
          job_id: first.id,
          seq: 99,
          type: 'foreign',
          from_state: null,
          to_state: 'queued',
          data: '{}',
          at: new Date().toISOString(),
          published_at: null,
        })
        .execute();
      wrote();
      await held;
      throw new Error('roll back');
    })
    .catch(() => undefined);
  await written;
  // The store is idle: this read runs at once, outside a batch — and must not see that row.
  const reading = store.listUnpublished(100);
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  await foreign;
  expect((await reading).map((event) => [event.job_id, event.seq])).toEqual([[first.id, 1]]);
});
