import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJobStore, isUniqueViolation, migrateToLatest, openDatabase, type Database } from '../../src/db/index.js';
import { createMigrator } from '../../src/db/migrate.js';
import { ChorusError } from '../../src/errors/index.js';
import { createTestDatabaseHome, databaseTargets, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const allMigrations = [
  '2026_11_25_120000_create_jobs',
  '2026_11_25_120100_create_job_events',
  '2026_11_26_090000_add_instance_coordination',
  '2026_11_29_080000_add_regenerated_from',
  '2026_11_29_090000_request_id_per_conversation',
  '2026_11_29_120000_add_comfy_graph',
  '2026_11_30_090000_add_instance_run_token',
];

describe.each(databaseTargets)('database setup on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  let database: Database | undefined;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
  });
  afterEach(async () => {
    await database?.close();
    database = undefined;
    await home.cleanup();
  });

  it('runs every migration once; running again applies nothing and keeps the data', async () => {
    database = await openDatabase(home.url);
    expect(await migrateToLatest(database.db)).toEqual(allMigrations);
    await database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'kept' })
      .execute();
    expect(await migrateToLatest(database.db)).toEqual([]);
    await database.close();

    // And again through a fresh connection, as a restarted service does.
    const store = await home.open();
    expect((await store.getJob('kept'))?.id).toBe('kept');
    expect(await migrateToLatest(store.database.db)).toEqual([]);
  });

  it('names the failing migration in an INTERNAL ChorusError', async () => {
    database = await openDatabase(home.url);
    // A table in the way makes the second migration fail.
    await sql`create table job_events (x integer)`.execute(database.db);
    const failure = await migrateToLatest(database.db).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ChorusError);
    expect(failure).toMatchObject({ code: 'INTERNAL', details: { migration: '2026_11_25_120100_create_job_events' } });
    expect((failure as Error).message).toContain('2026_11_25_120100_create_job_events');
  });

  it('enforces the job_events foreign key and reports unique violations recognisably', async () => {
    const store = await home.open();
    const orphan = store.database.db
      .insertInto('job_events')
      .values({ job_id: 'nobody', seq: 1, type: 't', from_state: null, to_state: 'queued', data: '{}', at: 'x', published_at: null })
      .execute();
    await expect(orphan).rejects.toThrow(/FOREIGN KEY/i);

    const job = newJob({ request_id: 'r' });
    await store.createJob(job, newEvent(null, 'queued'), roomyQueue);
    const duplicate = await store.database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'other', conversation_id: job.conversation_id, request_id: 'r' })
      .execute()
      .catch((error: unknown) => error);
    expect(isUniqueViolation(duplicate)).toBe(true);
    expect(isUniqueViolation(new Error('something else'))).toBe(false);
  });

  it('an existing database moves to request_id per conversation, keeping every job and event', async () => {
    database = await openDatabase(home.url);
    const before = await (await createMigrator(database.db)).migrateTo('2026_11_29_080000_add_regenerated_from');
    expect(before.error).toBeUndefined();
    await database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'old', conversation_id: 'a', request_id: 'msg-1' })
      .execute();
    await database.db
      .insertInto('job_events')
      .values({ job_id: 'old', seq: 1, type: 'created', from_state: null, to_state: 'queued', data: '{}', at: 'x', published_at: null })
      .execute();
    // Before: one request_id in the whole database.
    const globalClash = await database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'clash', conversation_id: 'b', request_id: 'msg-1' })
      .execute()
      .catch((e: unknown) => e);
    expect(isUniqueViolation(globalClash)).toBe(true);

    expect(await migrateToLatest(database.db)).toEqual(allMigrations.slice(4));
    expect(await database.db.selectFrom('job_events').select('job_id').where('job_id', '=', 'old').execute()).toHaveLength(1);
    expect(await database.db.selectFrom('visual_generation_jobs').select(['id', 'request_hash']).where('id', '=', 'old').executeTakeFirst()).toEqual({
      id: 'old',
      request_hash: null,
    });
    await database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'other-conversation', conversation_id: 'b', request_id: 'msg-1' })
      .execute();
    const sameConversation = await database.db
      .insertInto('visual_generation_jobs')
      .values({ ...rowDefaults, id: 'dup', conversation_id: 'a', request_id: 'msg-1' })
      .execute()
      .catch((e: unknown) => e);
    expect(isUniqueViolation(sameConversation)).toBe(true);
    // The foreign key still holds after the rebuild.
    const orphan = await database.db
      .insertInto('job_events')
      .values({ job_id: 'nobody', seq: 1, type: 't', from_state: null, to_state: 'queued', data: '{}', at: 'x', published_at: null })
      .execute()
      .catch((e: unknown) => e);
    expect(String(orphan)).toMatch(/FOREIGN KEY|foreign key/);
  });
});

describe('SQLite specifics', () => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;
  beforeEach(async () => {
    home = await createTestDatabaseHome(databaseTargets[0]!);
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('creates the parent folder and sets WAL, synchronous NORMAL, busy_timeout and foreign keys', async () => {
    const store = await home.open();
    const pragma = async (name: string) => {
      const { rows } = await sql.raw(`pragma ${name}`).execute(store.database.db);
      return Object.values(rows[0] as Record<string, unknown>)[0];
    };
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('synchronous')).toBe(1);
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('busy_timeout')).toBe(5000);
    expect(store.dialect).toBe('sqlite');
    expect(store.database.description).toBe(home.url);
  });

  it('works in memory', async () => {
    const store = await createJobStore('sqlite::memory:');
    try {
      await store.createJob(newJob({ id: 'm' }), newEvent(null, 'queued'), roomyQueue);
      expect((await store.getJob('m'))?.status).toBe('queued');
    } finally {
      await store.close();
    }
  });

  it('refuses URLs it cannot open (CONFIG_INVALID; an unreachable server STORAGE_UNAVAILABLE), never echoing a password', async () => {
    const cases: Array<[string, string]> = [
      ['mysql://root:hunter2@db/jobs', 'CONFIG_INVALID'],
      ['sqlite:', 'CONFIG_INVALID'],
      // A PostgreSQL server that is not there: a connection failure, still without the password.
      ['postgres://app:hunter2@127.0.0.1:1/jobs', 'STORAGE_UNAVAILABLE'],
    ];
    for (const [url, code] of cases) {
      const failure = await openDatabase(url).catch((error: unknown) => error);
      expect(failure).toMatchObject({ code });
      expect(JSON.stringify((failure as ChorusError).toJSON())).not.toContain('hunter2');
      expect((failure as Error).message).not.toContain('hunter2');
    }
  });
});

const rowDefaults = {
  conversation_id: 'c',
  thread_id: null,
  message_id: null,
  workflow: 'w',
  prompt: null,
  parameters: '{}',
  status: 'queued',
  created_at: '2026-11-25T00:00:00.000Z',
  started_at: null,
  completed_at: null,
  comfy_prompt_id: null,
  result: null,
  error: null,
  substate: null,
  character: null,
  negative_prompt: null,
  seed: null,
  prompt_source: null,
  request_id: null,
  priority: 0,
  backend: null,
  submitted_at: null,
  finished_at: null,
  attempts: 0,
  snapshot: null,
  debug: '{}',
  last_seq: 0,
  updated_at: '2026-11-25T00:00:00.000Z',
};
