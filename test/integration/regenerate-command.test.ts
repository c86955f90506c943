/**
 * Regenerate, through all three doors of a real `chorus-visual serve` process (a private
 * nats-server, the ComfyUI simulator, SQLite): NATS `cmd.regenerate`, `POST
 * /api/jobs/{id}/regenerate` and `chorus-visual jobs regenerate ID --seed N`. Each makes a
 * new job from the earlier one's inputs, which completes, and both jobs name each other.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandReplySchema } from '../../src/commands/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const PREFIX = 'cvregen';
const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface JobView {
  id: string;
  state: string;
  conversation_id: string;
  character: string | null;
  workflow: string;
  prompt: string | null;
  negative_prompt: string | null;
  prompt_source: string | null;
  seed: number | null;
  regenerated_from: string | null;
  regenerations: string[];
  error: { code: string } | null;
}

let root: string;
let nats: NatsTestServer;
let sim: SimulatorHandle;
let service: ServiceProcess;
let httpUrl: string;
let client: NatsConnection;
let env: Record<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cv-regen-'));
  nats = await NatsTestServer.start({ jetstream: false });
  sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 2 });
  env = {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
    CHORUS_VISUAL_NATS_SUBJECT_PREFIX: PREFIX,
    CHORUS_VISUAL_HTTP_PORT: '0',
    CHORUS_VISUAL_LOG_LEVEL: 'info',
  };
  service = startServiceProcess(['serve'], env);
  const line = await service.waitForLine(/"msg":"chorus-visual listening"/, 30_000);
  httpUrl = (JSON.parse(line) as { http: string }).http;
  await service.waitForLine(/NATS command service listening/, 30_000);
  client = await connect({ servers: nats.url });
  await listenForFinalEvents();
}, 60_000);

afterAll(async () => {
  await client?.close();
  await service?.kill('SIGTERM');
  await sim?.close();
  await nats?.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function request(name: string, body: unknown): Promise<Record<string, any>> {
  const reply = await client.request(`${PREFIX}.cmd.${name}`, JSON.stringify(body), { timeout: 15_000 });
  return reply.json<Record<string, any>>();
}

/** Every job's final view, heard from its published events since the start (none missed). */
const finals = new Map<string, JobView>();
const finalWaiters = new Map<string, (job: JobView) => void>();

async function listenForFinalEvents(): Promise<void> {
  const sub = client.subscribe(`${PREFIX}.events.>`);
  await client.flush();
  void (async () => {
    for await (const msg of sub) {
      if (msg.subject.endsWith('.progress')) continue;
      const job = msg.json<{ data: JobView }>().data;
      if (!['completed', 'failed', 'cancelled'].includes(job.state)) continue;
      finals.set(job.id, job);
      finalWaiters.get(job.id)?.(job);
    }
  })();
}

function finalOf(jobId: string): Promise<JobView> {
  const known = finals.get(jobId);
  return known ? Promise.resolve(known) : new Promise((resolve) => finalWaiters.set(jobId, resolve));
}

async function generateAndFinish(body: Record<string, unknown>): Promise<JobView> {
  const reply = await request('generate', body);
  expect(reply['ok']).toBe(true);
  return finalOf((reply['job'] as JobView).id);
}

async function get(id: string): Promise<JobView> {
  const reply = await request('get', { job_id: id });
  expect(reply['ok']).toBe(true);
  return reply['job'] as JobView;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('regenerate', () => {
  it('over NATS: a new job from a finished prompt, same inputs, a new seed, linked both ways', { timeout: 60_000 }, async () => {
    const first = await generateAndFinish({
      conversation_id: 'regen-1',
      character: 'nova',
      prompt: 'nova sketching by a window, soft light',
      negative_prompt: 'blurry',
      parameters: { steps: 4, width: 512, height: 512 },
    });
    expect(first.state).toBe('completed');
    expect(first.seed).toEqual(expect.any(Number));

    const reply = await request('regenerate', { job_id: first.id });
    // The same envelope and shape as generate's reply.
    expect(commandReplySchema.safeParse(reply).success).toBe(true);
    expect(Object.keys(reply).sort()).toEqual(['created', 'job', 'ok']);
    expect(reply).toMatchObject({ ok: true, created: true, job: { state: 'queued', regenerated_from: first.id, regenerations: [] } });
    const id = (reply['job'] as JobView).id;
    expect(id).not.toBe(first.id);

    const second = await finalOf(id);
    expect(second).toMatchObject({
      state: 'completed',
      conversation_id: 'regen-1',
      character: 'nova',
      workflow: first.workflow,
      prompt: 'nova sketching by a window, soft light',
      negative_prompt: 'blurry',
      prompt_source: 'caller',
      regenerated_from: first.id,
    });
    expect(second.seed).toEqual(expect.any(Number));
    expect(second.seed).not.toBe(first.seed);
    expect((await get(first.id)).regenerations).toEqual([id]);
    expect((await get(id)).regenerated_from).toBe(first.id);

    // The parameters travel too: the new job injected (or set aside) exactly what the first did.
    const [before, after] = await Promise.all([first.id, id].map((job_id) => request('get', { job_id, debug: true })));
    const withoutSeed = (debug: Record<string, any>) => ({ ...debug['debug']['parameters_injected'], seed: undefined });
    expect(withoutSeed(after!)).toEqual(withoutSeed(before!));
    expect(after!['debug']['parameters_ignored']).toEqual(before!['debug']['parameters_ignored']);
    // nova's FLUX workflow has no size or steps placeholder: the parameters are set aside, by name.
    expect(before!['debug']['parameters_ignored']).toEqual(expect.arrayContaining(['negative', 'steps', 'width', 'height']));
  });

  it('over HTTP with a given seed, and from the CLI with --seed: each completes with that seed', { timeout: 120_000 }, async () => {
    const first = await generateAndFinish({ conversation_id: 'regen-2', character: 'nova', user_request: 'a selfie at the beach' });
    expect(first.state).toBe('completed');

    const res = await fetch(`${httpUrl}/api/jobs/${first.id}/regenerate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seed: 4242 }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { ok: boolean; created: boolean; job: JobView };
    expect(Object.keys(body).sort()).toEqual(['created', 'job', 'ok']);
    const httpId = body.job.id;
    const viaHttp = await finalOf(httpId);
    expect(viaHttp).toMatchObject({ state: 'completed', seed: 4242, regenerated_from: first.id, prompt_source: first.prompt_source });
    // A request-based job is regenerated from the request: the prompt is written again from it.
    const debug = await request('get', { job_id: httpId, debug: true });
    expect(debug['debug']['prompt_components']).toMatchObject({ user: 'a selfie at the beach' });

    const out = await cli(['jobs', 'regenerate', first.id, '--seed', '77', '--json']);
    expect(out.code).toBe(0);
    const cliReply = JSON.parse(out.stdout) as { ok: boolean; job: JobView };
    expect(cliReply).toMatchObject({ ok: true, job: { regenerated_from: first.id } });
    const cliId = cliReply.job.id;
    expect(await finalOf(cliId)).toMatchObject({ state: 'completed', seed: 77 });

    expect((await get(first.id)).regenerations).toEqual([httpId, cliId]);
    // Both views: the list shows the links as well.
    const listed = await request('list', { conversation_id: 'regen-2' });
    const byId = new Map((listed['jobs'] as JobView[]).map((j) => [j.id, j]));
    expect(byId.get(first.id)?.regenerations).toEqual([httpId, cliId]);
    expect(byId.get(cliId)?.regenerated_from).toBe(first.id);
    // And the CLI's own reading of the database.
    const shown = JSON.parse((await cli(['jobs', 'show', first.id, '--json'])).stdout) as { job: JobView };
    expect(shown.job.regenerations).toEqual([httpId, cliId]);
  });

  it('a repeated request_id names one job; bad input is a structured error and creates nothing', { timeout: 60_000 }, async () => {
    const first = await generateAndFinish({ conversation_id: 'regen-3', workflow: 'no_model_test', prompt: 'a lighthouse at dusk' });
    const a = await request('regenerate', { job_id: first.id, request_id: 'regen-once' });
    const b = await request('regenerate', { job_id: first.id, request_id: 'regen-once' });
    expect(a).toMatchObject({ ok: true, created: true });
    expect(b).toMatchObject({ ok: true, created: false, job: { id: a['job']['id'] } });

    const before = (await request('list', { conversation_id: 'regen-3' }))['total'];
    expect(await request('regenerate', { job_id: 'no-such-job' })).toMatchObject({ ok: false, error: { code: 'JOB_NOT_FOUND' } });
    expect(await request('regenerate', { job_id: first.id, seed: -1 })).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
    expect(await request('regenerate', { job_id: first.id, prompt: 'not a regenerate field' })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_COMMAND' },
    });
    const httpBad = await fetch(`${httpUrl}/api/jobs/${first.id}/regenerate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seed: 'seven' }),
    });
    expect(httpBad.status).toBe(400);
    expect(await httpBad.json()).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
    const cliBad = await cli(['jobs', 'regenerate', first.id, '--seed', 'x']);
    expect(cliBad.code).not.toBe(0);
    expect(cliBad.stderr).toMatch(/INVALID_COMMAND/);
    expect((await request('list', { conversation_id: 'regen-3' }))['total']).toBe(before);
  });
});
