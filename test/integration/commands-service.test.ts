/**
 * The NATS command service against a real nats-server, a real SQLite JobStore and a fake
 * JobService: every endpoint's ok and error replies, and micro-service discovery.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_NAMES, commandReplySchema, startCommandService, type CommandService } from '../../src/commands/index.js';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import { connectNats } from '../../src/events/index.js';
import { FakeJobCommandHandler } from '../support/fake-job-command-handler.js';
import { NatsTestServer } from '../support/nats-server.js';

const PREFIX = 'chorus.visual';

describe('NATS command service', () => {
  let server: NatsTestServer;
  let dir: string;
  let store: DatabaseJobStore;
  let nc: NatsConnection;
  let client: NatsConnection;
  let handler: FakeJobCommandHandler;
  let service: CommandService;

  beforeAll(async () => {
    server = await NatsTestServer.start();
    dir = await mkdtemp(join(tmpdir(), 'chorus-cmd-'));
    store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
    const cfg = {
      enabled: true,
      servers: [server.url],
      name: 'cmd-test',
      subject_prefix: PREFIX,
      stream: { name: 'S', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
      progress_per_second: 4,
    };
    nc = await connectNats(cfg);
    client = await connectNats({ ...cfg, name: 'cmd-client' });
    handler = new FakeJobCommandHandler(store);
    service = await startCommandService(nc, handler, { prefix: PREFIX, version: '0.1.0', instanceId: 'test-1' });
  });
  afterAll(async () => {
    await service?.stop();
    await client?.close();
    await nc?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    await server.cleanup();
  });

  async function send(command: string, body: unknown): Promise<Record<string, any>> {
    const msg = await client.request(`${PREFIX}.cmd.${command}`, new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)), {
      timeout: 5_000,
    });
    const reply = JSON.parse(new TextDecoder().decode(msg.data));
    commandReplySchema.parse(reply);
    return reply;
  }

  it('generate creates a job, and the same request_id names the same job', async () => {
    const cmd = { request_id: 'req-1', conversation_id: 'conv-1', character: 'nova', prompt: 'a lighthouse at dusk', seed: 42 };
    const first = await send('generate', cmd);
    expect(first).toMatchObject({ ok: true, created: true, job: { state: 'queued', conversation_id: 'conv-1', seed: 42 } });
    const again = await send('generate', cmd);
    expect(again).toMatchObject({ ok: true, created: false, job: { id: first.job.id } });
    expect(await store.countJobs({ conversationId: 'conv-1' })).toBe(1);
  });

  it('generate refuses invalid commands and passes handler errors through', async () => {
    const missing = await send('generate', { conversation_id: 'c' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', recoverable: false } });
    expect(missing.error.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'character' }), expect.objectContaining({ path: 'user_request' })]),
    );
    expect(missing.error.suggestion).toBeTruthy();
    const unknownWorkflow = await send('generate', { conversation_id: 'c', workflow: 'missing', prompt: 'x' });
    expect(unknownWorkflow).toMatchObject({ ok: false, error: { code: 'WORKFLOW_NOT_FOUND', details: { workflow: 'missing' } } });
  });

  it('get returns the job with its events, and JOB_NOT_FOUND / INTERNAL otherwise', async () => {
    const { job } = await send('generate', { conversation_id: 'conv-get', user_request: 'draw me', character: 'nova' });
    const got = await send('get', { job_id: job.id, debug: true });
    expect(got).toMatchObject({ ok: true, job: { id: job.id }, events: [{ seq: 1, to_state: 'queued' }], debug: {} });
    expect(await send('get', { job_id: 'nope' })).toMatchObject({ ok: false, error: { code: 'JOB_NOT_FOUND' } });
    const internal = await send('get', { job_id: 'explode' });
    expect(internal).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: 'get failed with an internal error' } });
    expect(internal.error.details.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(internal)).not.toContain('secret');
  });

  it('cancel cancels, and refuses unknown or path-like ids', async () => {
    const { job } = await send('generate', { conversation_id: 'conv-cancel', prompt: 'p', workflow: 'default' });
    expect(await send('cancel', { job_id: job.id })).toMatchObject({ ok: true, job: { id: job.id, state: 'cancelled' } });
    expect(await send('cancel', { job_id: 'nope' })).toMatchObject({ ok: false, error: { code: 'JOB_NOT_FOUND' } });
    expect(await send('cancel', { job_id: '../etc/passwd' })).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
  });

  it('list filters and counts; refuses bad filters', async () => {
    const listed = await send('list', { conversation_id: 'conv-1', limit: 5 });
    expect(listed).toMatchObject({ ok: true, total: 1, jobs: [{ conversation_id: 'conv-1' }] });
    expect(await send('list', { state: 'exploded' })).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
    expect(await send('list', { limit: 0 })).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
  });

  it('workflows lists workflows and problems; refuses an empty body', async () => {
    expect(await send('workflows', {})).toMatchObject({ ok: true, workflows: [{ name: 'default' }], problems: [{ file: 'broken.json' }] });
    expect(await send('workflows', '')).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', message: expect.stringMatching(/empty/) } });
  });

  it('validate answers for a known workflow and WORKFLOW_NOT_FOUND otherwise', async () => {
    expect(await send('validate', { workflow: 'default' })).toMatchObject({ ok: true, valid: true, errors: [], warnings: [{ node: '3' }] });
    // A workflow with errors: the command ran (`ok`), the verdict is `valid: false`.
    expect(await send('validate', { workflow: 'broken' })).toMatchObject({ ok: true, valid: false, errors: [{ node: '1' }] });
    expect(await send('validate', { workflow: 'other' })).toMatchObject({ ok: false, error: { code: 'WORKFLOW_NOT_FOUND' } });
    expect(await send('validate', {})).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
  });

  it('is discoverable through $SRV.PING, INFO and STATS', async () => {
    const services = client.services.client();
    const pings = [];
    for await (const p of await services.ping('chorus-visual')) pings.push(p);
    expect(pings).toHaveLength(1);
    expect(pings[0]).toMatchObject({ name: 'chorus-visual', version: '0.1.0', metadata: { instance: 'test-1' } });
    const infos = [];
    for await (const i of await services.info('chorus-visual')) infos.push(i);
    expect(infos[0]?.endpoints.map((e) => e.subject).sort()).toEqual(COMMAND_NAMES.map((n) => `${PREFIX}.cmd.${n}`).sort());
    expect(infos[0]?.endpoints.every((e) => e.queue_group === 'chorus-visual')).toBe(true);
    const stats = [];
    for await (const s of await services.stats('chorus-visual')) stats.push(s);
    const generate = stats[0]?.endpoints?.find((e) => e.name === 'generate');
    expect(generate?.num_requests).toBeGreaterThan(0);
  });

  it('marks error replies with the micro-service error headers (the body stays our envelope)', async () => {
    const msg = await client.request(`${PREFIX}.cmd.get`, new TextEncoder().encode('{"job_id":"nope"}'), { timeout: 5_000 });
    expect(msg.headers?.get('Nats-Service-Error-Code')).toBe('404');
    expect(msg.json()).toMatchObject({ ok: false, error: { code: 'JOB_NOT_FOUND' } });
  });
});
