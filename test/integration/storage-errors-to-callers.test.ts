/**
 * A storage condition reaches every caller as STORAGE_UNAVAILABLE: HTTP 503 and a NATS error
 * reply (status 503, code in the body), never INTERNAL/500. The database is a real SQLite file
 * behind the real KyselyJobStore; the driver errors are raised inside Kysely (a plugin refuses
 * writes with the driver's own code), so the store's own mapping is what is tested. SQLite's
 * full disk and read-only database are also produced for real.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCommandService, type CommandService } from '../../src/commands/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { asStoreError } from '../../src/db/kysely-job-store.js';
import { KyselyJobStore, migrateToLatest, openDatabase, type Database } from '../../src/db/index.js';
import { connectNats } from '../../src/events/index.js';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';
import { rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';
import { NatsTestServer } from '../support/nats-server.js';

/** Driver codes of storage conditions: SQLite full, read-only, I/O; PostgreSQL disk full, shutdown, connection lost. */
const storageCodes = [
  'SQLITE_FULL',
  'SQLITE_READONLY',
  'SQLITE_IOERR_WRITE',
  'SQLITE_IOERR_FSYNC',
  'SQLITE_CANTOPEN',
  '53100',
  '57P01',
  '08006',
  'ECONNREFUSED',
];

class RefuseWrites implements KyselyPlugin {
  code: string | null = null;
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    const writes = node.kind === 'InsertQueryNode' || node.kind === 'UpdateQueryNode';
    if (this.code !== null && writes) throw Object.assign(new Error(`simulated driver failure ${this.code}`), { code: this.code });
    return node;
  }
  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}

let dir: string;
let database: Database;
let runtime: JobRuntime;
let http: HttpHarness;
let nats: NatsTestServer;
let nc: NatsConnection;
let client: NatsConnection;
let commands: CommandService;
const refuse = new RefuseWrites();
const PREFIX = 'storage.test';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cv-storage-callers-'));
  database = await openDatabase(`sqlite:${join(dir, 'jobs.db')}`);
  await migrateToLatest(database.db);
  const store = new KyselyJobStore(database.db.withPlugin(refuse), 'sqlite', { close: async () => undefined });
  const config = parseServiceConfig({ data_dir: join(dir, 'data'), nats: { enabled: false }, comfyui: { queue: { max_queue_size: 100 } } });
  runtime = await createJobRuntime(config, { store, backends: [new FakeComfyBackend('local', 1)], restore: false });
  http = await startHttpHarness({ handler: runtime.commands });
  nats = await NatsTestServer.start();
  const natsConfig = {
    enabled: true,
    servers: [nats.url],
    name: 'storage-test',
    subject_prefix: PREFIX,
    stream: { name: 'S', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
    progress_per_second: 4,
  };
  nc = await connectNats(natsConfig);
  client = await connectNats({ ...natsConfig, name: 'storage-client' });
  commands = await startCommandService(nc, runtime.commands, { prefix: PREFIX, version: '0.0.0', instanceId: 'storage-test' });
});
afterAll(async () => {
  await commands?.stop();
  await client?.close();
  await nc?.close();
  await nats?.cleanup();
  await http?.close();
  await runtime?.stop();
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

const generate = { conversation_id: 'c-storage', workflow: 'no_model_test', prompt: 'a red square' };

async function viaHttp(path: string, body: unknown) {
  const res = await rawRequest(http.server.port, 'POST', path, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: res.json() };
}

async function viaNats(command: string, body: unknown) {
  const msg = await client.request(`${PREFIX}.cmd.${command}`, new TextEncoder().encode(JSON.stringify(body)), { timeout: 5_000 });
  return { status: msg.headers?.get('Nats-Service-Error-Code') ?? null, body: JSON.parse(new TextDecoder().decode(msg.data)) };
}

describe('storage conditions reach callers as STORAGE_UNAVAILABLE (503)', () => {
  it('the store maps each storage driver code to STORAGE_UNAVAILABLE and anything else to INTERNAL', () => {
    for (const code of storageCodes)
      expect(asStoreError('write', Object.assign(new Error(code), { code }))).toMatchObject({
        code: 'STORAGE_UNAVAILABLE',
        recoverable: true,
        details: { driver_code: code },
      });
    for (const code of ['SQLITE_CONSTRAINT_CHECK', '42P01', undefined])
      expect(asStoreError('write', Object.assign(new Error('x'), { code })).code).toBe('INTERNAL');
  });

  for (const code of storageCodes) {
    it(`${code} while admitting a job: HTTP 503 and NATS 503, code STORAGE_UNAVAILABLE`, async () => {
      refuse.code = code;
      try {
        const overHttp = await viaHttp('/api/jobs', generate);
        expect(overHttp.status).toBe(503);
        expect(overHttp.body).toMatchObject({ ok: false, error: { code: 'STORAGE_UNAVAILABLE', recoverable: true } });
        const overNats = await viaNats('generate', generate);
        expect(overNats.status).toBe('503');
        expect(overNats.body).toMatchObject({ ok: false, error: { code: 'STORAGE_UNAVAILABLE', recoverable: true } });
      } finally {
        refuse.code = null;
      }
    });
  }

  it('a cancel that cannot be stored answers 503 STORAGE_UNAVAILABLE over HTTP and NATS, not "cancelled"', async () => {
    const created = await viaHttp('/api/jobs', generate);
    expect(created.status).toBeLessThan(300);
    const jobId = created.body.job.id as string;
    refuse.code = 'SQLITE_IOERR_WRITE';
    try {
      const overHttp = await viaHttp(`/api/jobs/${jobId}/cancel`, {});
      expect(overHttp).toMatchObject({ status: 503, body: { error: { code: 'STORAGE_UNAVAILABLE' } } });
      const overNats = await viaNats('cancel', { job_id: jobId });
      expect(overNats).toMatchObject({ status: '503', body: { error: { code: 'STORAGE_UNAVAILABLE' } } });
    } finally {
      refuse.code = null;
    }
  });

  it('real SQLite conditions: a file that may not grow (full) and a read-only database', async () => {
    await sql`pragma query_only = 1`.execute(database.db);
    try {
      const readOnly = await viaHttp('/api/jobs', generate);
      expect(readOnly).toMatchObject({
        status: 503,
        body: { error: { code: 'STORAGE_UNAVAILABLE', details: { driver_code: expect.stringMatching(/^SQLITE_READONLY/) } } },
      });
    } finally {
      await sql`pragma query_only = 0`.execute(database.db);
    }
    const pages = await sql<{ page_count: number }>`pragma page_count`.execute(database.db);
    await sql.raw(`pragma max_page_count = ${pages.rows[0]!.page_count}`).execute(database.db);
    try {
      let full: { status: number; body: any } | undefined;
      for (let i = 0; i < 50 && full?.status !== 503; i += 1)
        full = await viaNats('generate', { ...generate, prompt: 'x'.repeat(4_000) }).then((r) => ({ status: Number(r.status ?? 200), body: r.body }));
      expect(full).toMatchObject({ status: 503, body: { error: { code: 'STORAGE_UNAVAILABLE', details: { driver_code: 'SQLITE_FULL' } } } });
    } finally {
      await sql.raw('pragma max_page_count = 1073741823').execute(database.db);
    }
  });

  it('REQUEST_ID_CONFLICT (same request_id, another request, same conversation) is 409 over HTTP and NATS and names the job', async () => {
    const first = await viaHttp('/api/jobs', { ...generate, request_id: 'msg-conflict' });
    const jobId = first.body.job.id as string;
    expect((await viaNats('generate', { ...generate, request_id: 'msg-conflict' })).body).toMatchObject({ ok: true, created: false, job: { id: jobId } });
    const overHttp = await viaHttp('/api/jobs', { ...generate, prompt: 'a blue circle', request_id: 'msg-conflict' });
    expect(overHttp).toMatchObject({ status: 409, body: { error: { code: 'REQUEST_ID_CONFLICT', details: { job_id: jobId } } } });
    const overNats = await viaNats('generate', { ...generate, prompt: 'a blue circle', request_id: 'msg-conflict' });
    expect(overNats).toMatchObject({ status: '409', body: { error: { code: 'REQUEST_ID_CONFLICT', details: { job_id: jobId } } } });
  });
});
