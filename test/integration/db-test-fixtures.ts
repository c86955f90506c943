/**
 * Shared by the db-*.test.ts files: the database URLs every store test runs against, temp
 * folders that are removed afterwards, and job/event factories.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  createJobStore,
  databaseLeaseClock,
  KyselyInstanceCoordinator,
  localLeaseClock,
  type CreateJobStoreOptions,
  type DatabaseJobStore,
  type LeaseClock,
} from '../../src/db/index.js';
import type { NewJob, NewJobEvent } from '../../src/contracts/job-store-port.js';

export interface DatabaseTarget {
  name: string;
  /** A fresh, empty database: its URL, and how to remove it afterwards. */
  create(dir: string): Promise<{ url: string; drop(): Promise<void> }>;
}

/**
 * The PostgreSQL server the store tests use (these machines run one on 5432 with trust
 * auth); CHORUS_TEST_POSTGRES_URL=off leaves PostgreSQL out.
 */
export const testPostgresUrl = process.env.CHORUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let schemaCounter = 0;

/**
 * A schema of its own on the test server, dropped afterwards: runs and test files never
 * see each other's rows. The URL carries it as `search_path`, as a deployment could.
 */
export async function createPostgresSchema(baseUrl = testPostgresUrl): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  schemaCounter += 1;
  const schema = `chorus_test_${process.pid}_${Date.now().toString(36)}_${schemaCounter}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`create schema "${schema}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

const sqliteTarget: DatabaseTarget = {
  name: 'sqlite file',
  create: async (dir) => ({ url: `sqlite:${path.join(dir, 'nested', 'folder', 'jobs.db')}`, drop: async () => undefined }),
};

const postgresTarget: DatabaseTarget = { name: 'postgresql', create: () => createPostgresSchema() };

/** Every store test runs once per entry: SQLite, and PostgreSQL (issue 9). */
export const databaseTargets: DatabaseTarget[] = testPostgresUrl === 'off' ? [sqliteTarget] : [sqliteTarget, postgresTarget];

/** A temp folder plus the stores opened in it; `cleanup()` closes them and removes it. */
export async function createTestDatabaseHome(target: DatabaseTarget) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chorus-db-test-'));
  const database = await target.create(dir);
  const url = database.url;
  const opened: DatabaseJobStore[] = [];
  return {
    dir,
    url,
    dialect: url.startsWith('sqlite:') ? ('sqlite' as const) : ('postgres' as const),
    async open(options: CreateJobStoreOptions = {}): Promise<DatabaseJobStore> {
      const store = await createJobStore(url, options);
      opened.push(store);
      return store;
    },
    async cleanup(): Promise<void> {
      for (const store of opened) await store.close();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A coordinator whose lease clock the test moves forward (`advance`) instead of waiting, on
 * either dialect: on SQLite the process's clock, from a fixed time; on PostgreSQL the
 * database's own clock (the statements the service runs) plus the test's offset.
 */
export function steppedCoordinator(store: DatabaseJobStore): { coordinator: KyselyInstanceCoordinator; advance(ms: number): void } {
  let offset = 0;
  const start = Date.UTC(2026, 10, 26, 9, 0, 0);
  const clock: LeaseClock =
    store.database.dialect === 'postgres'
      ? {
          read: () => {
            const at = offset;
            return { now: databaseLeaseClock.read().after(at), after: (ms) => databaseLeaseClock.read().after(at + ms) };
          },
        }
      : localLeaseClock(() => start + offset);
  return {
    coordinator: new KyselyInstanceCoordinator(store.database.db, store.database.dialect, clock),
    advance: (ms) => {
      offset += ms;
    },
  };
}

let counter = 0;

export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  counter += 1;
  return {
    id: `job-${process.pid}-${counter}`,
    conversation_id: 'conv-1',
    thread_id: null,
    message_id: null,
    workflow: 'selfie',
    prompt: 'a quiet harbour at dawn',
    parameters: { steps: 20 },
    status: 'queued',
    created_at: new Date(Date.UTC(2026, 10, 25, 12, 0, counter % 60, counter % 1000)).toISOString(),
    substate: 'queued.composing',
    character: 'nova',
    negative_prompt: null,
    seed: 42,
    prompt_source: 'template',
    request_id: null,
    priority: 0,
    snapshot: { value: 'queued' },
    debug: {},
    comfy_prompt_id: null,
    ...overrides,
  };
}

export function newEvent(fromState: string | null, toState: string, data: Record<string, unknown> = {}): NewJobEvent {
  return { type: fromState === null ? 'job.created' : 'job.transition', from_state: fromState, to_state: toState, data, at: new Date().toISOString() };
}

export const roomyQueue = { maxQueueSize: 1_000_000 };
