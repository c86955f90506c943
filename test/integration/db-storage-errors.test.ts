/**
 * A storage condition (here: SQLite's file may not grow, as on a full disk) is reported as
 * STORAGE_UNAVAILABLE, recoverable, so a caller retries later instead of reading a bug.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { createJobStore } from '../../src/db/index.js';
import { ChorusError } from '../../src/errors/index.js';
import { newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('a full database is STORAGE_UNAVAILABLE (recoverable), and nothing half-written stays', async () => {
  dir = await mkdtemp(join(tmpdir(), 'cv-db-full-'));
  const store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
  try {
    const pages = await sql<{ page_count: number }>`pragma page_count`.execute(store.database.db);
    // The file may not grow beyond what it holds now: the next big insert hits SQLITE_FULL.
    await sql.raw(`pragma max_page_count = ${pages.rows[0]!.page_count + 1}`).execute(store.database.db);
    let failure: unknown;
    for (let i = 0; i < 50 && failure === undefined; i += 1) {
      await store.createJob(newJob({ prompt: 'x'.repeat(20_000) }), newEvent(null, 'queued'), roomyQueue).catch((e: unknown) => (failure = e));
    }
    expect(failure).toBeInstanceOf(ChorusError);
    expect(failure).toMatchObject({ code: 'STORAGE_UNAVAILABLE', recoverable: true, details: { driver_code: 'SQLITE_FULL' } });
    const jobs = await store.countJobs();
    expect(await store.countUnpublished()).toBe(jobs);
  } finally {
    await store.close();
  }
});
