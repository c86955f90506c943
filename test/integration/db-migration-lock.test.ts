/**
 * SQLite migrations, one process at a time: Kysely takes no lock around them, and two
 * processes migrating one new database at once interleaved them (a CLI test in CI: a table
 * rebuild met another process's added column). Whoever migrates holds `<db>.migrate-lock`;
 * the others wait for it, then find the schema current.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { migrationModules } from '../../src/db/migrations/index.js';
import { withSqliteMigrationLock } from '../../src/db/sqlite-migration-lock.js';
import { runTsxChild } from '../support/tsx-child.js';

const storeModule = pathToFileURL(path.resolve('src/db/index.ts')).href;

/** Opens the store as the service and the CLI do (createJobStore migrates it), writes one job, closes. */
const childProgram = `
const { createJobStore } = await import(${JSON.stringify(storeModule)});
const [file, name] = process.argv.slice(-2);
const store = await createJobStore('sqlite:' + file);
const at = Date.now();
const job = {
  id: name, conversation_id: 'c', thread_id: null, message_id: null, workflow: 'w', prompt: 'p', parameters: {},
  status: 'queued', created_at: new Date().toISOString(), substate: null, character: null, negative_prompt: null,
  seed: 1, prompt_source: null, request_id: null, priority: 0, snapshot: null, debug: {}, comfy_prompt_id: null,
};
await store.createJob(job, { type: 'job.created', from_state: null, to_state: 'queued', data: {}, at: job.created_at }, { maxQueueSize: 100 });
const count = await store.countJobs();
await store.close();
process.stdout.write(JSON.stringify({ at, count }));
`;

const runChild = (file: string, name: string) => runTsxChild<{ at: number; count: number }>(childProgram, [file, name], `child ${name}`);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'db-migration-lock-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('SQLite migrations across processes', () => {
  it('four processes opening one new database at once all migrate it and write to it; nobody fails', async () => {
    const file = path.join(root, 'jobs.db');
    const outcomes = await Promise.all(Array.from({ length: 4 }, (_, i) => runChild(file, `job-${i}`)));
    expect(outcomes).toHaveLength(4);
    const database = new BetterSqlite3(file);
    const applied = database.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>;
    expect(applied.map((row) => row.name)).toEqual(Object.keys(migrationModules).sort());
    expect(database.prepare('select count(*) as n from visual_generation_jobs').get()).toEqual({ n: 4 });
    database.close();
  }, 60_000);

  it('a process finding the migration lock held waits for it before it uses the database', async () => {
    const file = path.join(root, 'held.db');
    let released = 0;
    let waiting: Promise<{ at: number; count: number }> | undefined;
    await withSqliteMigrationLock(file, async () => {
      waiting = runChild(file, 'late');
      // The child starts (a TypeScript loader) and reaches the lock well within this.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      released = Date.now();
    });
    const outcome = await waiting!;
    expect(outcome.at).toBeGreaterThanOrEqual(released);
    expect(outcome.count).toBe(1);
  }, 60_000);
});
