/**
 * The command line beside a running service, as real processes: `generate` and `jobs cancel`
 * go through the service that holds the database's driver lock (its HTTP API, or its NATS
 * command service when it serves no HTTP) and say so; `jobs list/show` read the database
 * beside it; with no service running, `jobs cancel` drives that one job itself. `jobs
 * regenerate` goes to that service too (HTTP, else NATS); on SQLite with none it fails at once
 * (never over NATS, where only another database's service could answer); on PostgreSQL it asks
 * the NATS command service, and a refusal says what it refused. When no service answers, the
 * error says so (not a lock, not a bug), and a reply that never comes says the command may
 * have been performed (so does a generate or regenerate whose service dies while it waits:
 * check before running it again, or retry with the same request id); a job already accepted
 * by a service that then died is said to be stored.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { createJobStore } from '../../src/db/index.js';
import { databaseWithUnfinishedJob, freePort, jobFacts } from '../support/lifecycle-fixture.js';
import { createPostgresSchema, newEvent, newJob, roomyQueue } from './db-test-fixtures.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let sim: SimulatorHandle;
let nats: NatsTestServer;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  sim = await startSimulator({ outputDir: join(await mkdtemp(join(tmpdir(), 'cv-route-sim-')), 'output'), stepDelayMs: 2 });
  nats = await NatsTestServer.start({ jetstream: false });
});
afterAll(async () => {
  await sim?.close();
  await nats?.cleanup();
});
afterEach(async () => {
  sim.faults.executionDelayMs(0);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function environment(extra: Record<string, string> = {}): Promise<{ env: Record<string, string>; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'cv-route-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return {
    root,
    env: {
      CHORUS_VISUAL_COMFYUI_URL: sim.url,
      CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
      CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
      CHORUS_VISUAL_HTTP_PORT: '0',
      CHORUS_VISUAL_NATS_ENABLED: 'false',
      ...extra,
    },
  };
}

async function serve(env: Record<string, string>, instanceId: string): Promise<{ pid: number; http: string | null; proc: ServiceProcess }> {
  const proc = startServiceProcess(['serve', '--instance-id', instanceId], env);
  cleanups.push(() => proc.kill('SIGTERM'));
  const line = JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string | null };
  return { pid: proc.child.pid!, http: line.http, proc };
}

describe('generate and jobs cancel beside a running service', { timeout: 180_000 }, () => {
  it('go through its HTTP API and say so; jobs list and show read beside it', async () => {
    const { env } = await environment();
    const service = await serve(env, 'http-driver');

    const generated = await cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-routed', '--prompt', '--json', 'a lighthouse'], env);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stderr).toContain(`route: through the running service http-driver (pid ${service.pid} on `);
    expect(generated.stderr).toContain(`over HTTP ${service.http}`);
    const job = JSON.parse(generated.stdout) as { id: string; state: string; comfy_prompt_id: string };
    expect(job.state).toBe('completed');
    expect(sim.stats().executions[job.comfy_prompt_id]).toBe(1);
    // The service ran it: its API knows the job, with the whole history.
    const fromService = (await (await fetch(`${service.http}/api/jobs/${job.id}`)).json()) as { job: { state: string } };
    expect(fromService.job.state).toBe('completed');

    const listed = await cli(['jobs', 'list', '--conversation', 'c-routed', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((j) => j.id)).toEqual([job.id]);
    const shown = await cli(['jobs', 'show', job.id, '--json'], env);
    expect((JSON.parse(shown.stdout) as { job: { state: string } }).job.state).toBe('completed');

    sim.faults.executionDelayMs(20_000);
    const slow = (await (
      await fetch(`${service.http}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: 'c-routed', workflow: 'no_model_test', prompt: 'to be cancelled' }),
      })
    ).json()) as { job: { id: string } };
    await expect
      .poll(async () => ((await (await fetch(`${service.http}/api/jobs/${slow.job.id}`)).json()) as { job: { state: string } }).job.state, {
        timeout: 20_000,
        interval: 50,
      })
      .toBe('processing');
    const cancelled = await cli(['jobs', 'cancel', slow.job.id], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain(`over HTTP ${service.http}`);
    await expect
      .poll(async () => ((await (await fetch(`${service.http}/api/jobs/${slow.job.id}`)).json()) as { job: { state: string } }).job.state, {
        timeout: 20_000,
        interval: 50,
      })
      .toBe('cancelled');
  });

  it('go through its NATS command service when it serves no HTTP', async () => {
    const { env } = await environment({
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'routed',
      CHORUS_VISUAL_HTTP_ENABLED: 'false',
    });
    const service = await serve(env, 'nats-driver');
    expect(service.http).toBeNull();

    const generated = await cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-nats', '--prompt', '--json', 'over the broker'], env);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stderr).toContain(`route: through the running service nats-driver (pid ${service.pid} on `);
    expect(generated.stderr).toContain('over NATS routed.cmd.*');
    const job = JSON.parse(generated.stdout) as { id: string; state: string; comfy_prompt_id: string };
    expect(job.state).toBe('completed');
    expect(sim.stats().executions[job.comfy_prompt_id]).toBe(1);

    const cancelled = await cli(['jobs', 'cancel', job.id, '--json'], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain('over NATS routed.cmd.*');
    expect((JSON.parse(cancelled.stdout) as { job: { state: string } }).job.state).toBe('completed');
  });
});

describe('generate following a job whose service dies', { timeout: 180_000 }, () => {
  it('says the job is stored and how to follow it, not that a live service holds the database', async () => {
    const { env } = await environment();
    const service = await serve(env, 'dies');
    sim.faults.executionDelayMs(20_000);
    const submissionsBefore = sim.stats().submissions;

    const following = cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-dies', '--prompt', 'follow me'], env);
    // The service has the job (it reached ComfyUI, and stored it as processing); then it dies without a word.
    await expect.poll(() => sim.stats().submissions, { timeout: 30_000, interval: 50 }).toBeGreaterThan(submissionsBefore);
    await expect
      .poll(
        async () => {
          const listed = (await (await fetch(`${service.http}/api/jobs?conversation_id=c-dies`)).json()) as { jobs: Array<{ state: string }> };
          return listed.jobs.map((job) => job.state);
        },
        { timeout: 30_000, interval: 50 },
      )
      .toEqual(['processing']);
    await service.proc.kill('SIGKILL');
    const generated = await following;

    expect(generated.code).toBe(1);
    expect(generated.stderr).not.toContain('STORE_LOCKED');
    const jobId = /error SERVICE_UNAVAILABLE: job (\S+) is stored, but the service stopped/.exec(generated.stderr)?.[1];
    expect(jobId, generated.stderr).toBeDefined();
    expect(generated.stderr).toContain('the job continues when `chorus-visual serve` runs again');
    expect(generated.stderr).toContain(`suggestion: Follow it with \`chorus-visual jobs watch ${jobId}\``);
    // It is stored indeed, unfinished, for the next service to drive.
    const shown = await cli(['jobs', 'show', jobId!, '--json'], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { job: { state: string } }).job.state).toBe('processing');
  });
});

describe('jobs regenerate beside a service without NATS', { timeout: 180_000 }, () => {
  it('goes through its HTTP API and says so', async () => {
    const { env } = await environment();
    const service = await serve(env, 'http-only');
    const created = (await (
      await fetch(`${service.http}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: 'c-regen-http', workflow: 'no_model_test', prompt: 'a harbour' }),
      })
    ).json()) as { job: { id: string } };

    const regenerated = await cli(['jobs', 'regenerate', created.job.id, '--seed', '5', '--json'], env);
    expect(regenerated.code, regenerated.stderr).toBe(0);
    expect(regenerated.stderr).toContain(`route: through the running service http-only (pid ${service.pid} on `);
    expect(regenerated.stderr).toContain(`over HTTP ${service.http}`);
    const reply = JSON.parse(regenerated.stdout) as { ok: boolean; job: { id: string; regenerated_from: string; seed: number } };
    expect(reply).toMatchObject({ ok: true, job: { regenerated_from: created.job.id, seed: 5 } });
    const fromService = (await (await fetch(`${service.http}/api/jobs/${reply.job.id}`)).json()) as { job: { regenerated_from: string } };
    expect(fromService.job.regenerated_from).toBe(created.job.id);
  });
});

/**
 * Whether bytes sent to this local TCP port wait, unread, in a connection's receive queue
 * (/proc/net/tcp{,6}: `tx_queue:rx_queue` in hex): a stopped service's request has arrived.
 */
async function unreadBytesAt(port: number): Promise<boolean> {
  const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => '')));
  return tables
    .flatMap((table) => table.split('\n').slice(1))
    .map((row) => row.trim().split(/\s+/))
    .some(
      ([, local, , state, queues]) =>
        local !== undefined && Number.parseInt(local.split(':').at(-1)!, 16) === port && state === '01' && Number.parseInt(queues!.split(':')[1]!, 16) > 0,
    );
}

/**
 * Runs the command against a stopped service and kills that service once the command's request
 * has arrived unread: stopped, the service still holds the lock and its socket still takes
 * connections, so the command is sent and waits for a reply that never comes.
 */
async function sendThenKillService(service: { pid: number; http: string | null; proc: ServiceProcess }, args: string[], env: Record<string, string>) {
  process.kill(service.pid, 'SIGSTOP');
  cleanups.push(() => service.proc.kill('SIGKILL'));
  const sending = cli(args, env);
  const port = Number(new URL(service.http!).port);
  await expect.poll(() => unreadBytesAt(port), { timeout: 30_000, interval: 50 }).toBe(true);
  await service.proc.kill('SIGKILL');
  return sending;
}

describe('jobs regenerate whose service dies while it waits for the reply', { timeout: 60_000 }, () => {
  it('says the new job may or may not have been made and to check before running it again, not just to run it again', async () => {
    const { env } = await environment();
    const service = await serve(env, 'regen-dies');
    const source = (await (
      await fetch(`${service.http}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: 'c-regen-dies', workflow: 'no_model_test', prompt: 'a quay' }),
      })
    ).json()) as { job: { id: string } };

    const regenerated = await sendThenKillService(service, ['jobs', 'regenerate', source.job.id], env);

    expect(regenerated.code).toBe(1);
    expect(regenerated.stderr).toContain(`over HTTP ${service.http}`);
    expect(regenerated.stderr).toContain('error SERVICE_UNAVAILABLE: the service stopped');
    expect(regenerated.stderr).toContain('it may have made the new job before it stopped');
    expect(regenerated.stderr).toContain(
      `suggestion: Check before running it again: \`chorus-visual jobs show ${source.job.id}\` lists its regenerations, \`chorus-visual jobs list\` the newest jobs; running it again may make a second new job.`,
    );
    expect(regenerated.stderr).toContain('With `--request-id ID` (the same ID each time) a retry is safe');
    expect(regenerated.stderr).not.toContain('then run this command again');
    // This time the service never read the command: only the source job is stored.
    const listed = await cli(['jobs', 'list', '--conversation', 'c-regen-dies', '--json'], env);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((j) => j.id)).toEqual([source.job.id]);
  });
});

describe('generate whose service dies before it answers with the job', { timeout: 60_000 }, () => {
  it('says the job may or may not have been made and to check the conversation before running it again', async () => {
    const { env } = await environment();
    const service = await serve(env, 'gen-dies');

    const generated = await sendThenKillService(
      service,
      ['generate', '--workflow', 'no_model_test', '--conversation', 'c-gen-dies', '--prompt', 'a pier'],
      env,
    );

    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain(`over HTTP ${service.http}`);
    expect(generated.stderr).toContain('error SERVICE_UNAVAILABLE: the service stopped');
    expect(generated.stderr).toContain('it may have made the job before it stopped');
    expect(generated.stderr).toContain(
      "suggestion: Check before running it again: `chorus-visual jobs list --conversation c-gen-dies` lists that conversation's jobs; running it again may make a second job.",
    );
    expect(generated.stderr).toContain('With `--request-id ID` (the same ID each time) a retry is safe: it returns the same job.');
    expect(generated.stderr).not.toContain('run this command again');
    // This time the service never read the command: no job is stored.
    const listed = await cli(['jobs', 'list', '--conversation', 'c-gen-dies', '--json'], env);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  it('names the request id it was given as the safe retry', async () => {
    const { env } = await environment();
    const service = await serve(env, 'gen-dies-id');

    const generated = await sendThenKillService(
      service,
      ['generate', '--workflow', 'no_model_test', '--conversation', 'c-gen-dies-id', '--request-id', 'req-pier-1', '--prompt', 'a pier'],
      env,
    );

    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain('error SERVICE_UNAVAILABLE: the service stopped');
    expect(generated.stderr).toContain('it may have made the job before it stopped');
    expect(generated.stderr).toContain('Running it again with the same `--request-id req-pier-1` is safe: it returns the same job.');
    expect(generated.stderr).not.toContain('run this command again');
  });

  it('says the same over NATS when the command service received it and never replied', async () => {
    const { env } = await environment({
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'gen-dies',
      CHORUS_VISUAL_HTTP_ENABLED: 'false',
    });
    const service = await serve(env, 'gen-dies-nats');
    // A silent listener beside the service sees the command reach the subject.
    const watcher = await connect({ servers: nats.url });
    cleanups.push(() => watcher.close());
    let delivered = 0;
    watcher.subscribe('gen-dies.cmd.generate', { callback: () => (delivered += 1) });
    await watcher.flush();

    process.kill(service.pid, 'SIGSTOP');
    cleanups.push(() => service.proc.kill('SIGKILL'));
    const generating = cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-gen-dies-nats', '--prompt', 'a pier'], env);
    await expect.poll(() => delivered, { timeout: 30_000, interval: 50 }).toBe(1);
    await service.proc.kill('SIGKILL');
    const generated = await generating;

    expect(generated.code).toBe(1);
    expect(generated.stderr).toContain('over NATS gen-dies.cmd.*');
    expect(generated.stderr).toContain('error SERVICE_UNAVAILABLE: the service stopped');
    expect(generated.stderr).toContain('it may have made the job before it stopped');
    expect(generated.stderr).toContain('suggestion: Check before running it again: `chorus-visual jobs list --conversation c-gen-dies-nats`');
    expect(generated.stderr).toContain('With `--request-id ID` (the same ID each time) a retry is safe');
    expect(generated.stderr).not.toContain('run this command again');
  });
});

describe('jobs regenerate on SQLite with no service driving the database', { timeout: 180_000 }, () => {
  it('fails at once, without asking NATS, whether NATS is off or another service answers there', async () => {
    const { root, env } = await environment();
    const job = await databaseWithUnfinishedJob(root);

    // nats.enabled: false (as in environment()): not a NATS failure, there is no service.
    const withoutNats = await cli(['jobs', 'regenerate', job.jobId], env);
    expect(withoutNats.code).toBe(1);
    expect(withoutNats.stderr).not.toContain('route: NATS');
    expect(withoutNats.stderr).toContain('error SERVICE_UNAVAILABLE: no service drives ');
    expect(withoutNats.stderr).toContain('regenerate needs a running service to drive the new job');
    expect(withoutNats.stderr).toContain('Start `chorus-visual serve` with this database');

    // Another database's service listens on the same subjects: it must not be asked.
    const other = await connect({ servers: nats.url });
    cleanups.push(() => other.close());
    let asked = 0;
    other.subscribe('shared.cmd.regenerate', {
      callback: (_error, msg) => {
        asked += 1;
        msg.respond(JSON.stringify({ ok: false, error: { code: 'JOB_NOT_FOUND', message: `no job with id ${job.jobId}` } }));
      },
    });
    await other.flush();
    const besideOther = await cli(['jobs', 'regenerate', job.jobId], {
      ...env,
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'shared',
    });
    expect(besideOther.code).toBe(1);
    expect(besideOther.stderr).toContain('error SERVICE_UNAVAILABLE: no service drives ');
    expect(besideOther.stderr).not.toContain('JOB_NOT_FOUND');
    expect(asked).toBe(0);
    expect(jobFacts(job).status).toBe('queued');
  });
});

/** A PostgreSQL database (a schema of its own) holding one queued job, for the NATS way. */
async function postgresWithJob(): Promise<{ url: string; jobId: string }> {
  const database = await createPostgresSchema();
  cleanups.push(() => database.drop());
  const store = await createJobStore(database.url);
  try {
    const { job } = await store.createJob(newJob({ workflow: 'no_model_test' }), newEvent(null, 'queued'), roomyQueue);
    return { url: database.url, jobId: job.id };
  } finally {
    await store.close();
  }
}

describe('jobs regenerate on PostgreSQL, through the NATS command service', { timeout: 180_000 }, () => {
  it('says no service answered when NATS has no responder, and that NATS is unreachable when it is', async () => {
    const database = await postgresWithJob();
    const { env } = await environment({
      CHORUS_VISUAL_DATABASE_URL: database.url,
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'nobody',
    });

    const unanswered = await cli(['jobs', 'regenerate', database.jobId], env);
    expect(unanswered.code).toBe(1);
    expect(unanswered.stderr).toContain('route: NATS nobody.cmd.regenerate');
    expect(unanswered.stderr).toContain('error SERVICE_UNAVAILABLE: no chorus-visual service answered on NATS nobody.cmd.regenerate');
    expect(unanswered.stderr).toContain('(`serve --no-nats`) cannot be reached this way');
    expect(unanswered.stderr).toContain(`POST /api/jobs/${database.jobId}/regenerate`);

    const noNats = await cli(['jobs', 'regenerate', database.jobId], {
      ...env,
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([`nats://127.0.0.1:${await freePort()}`]),
    });
    expect(noNats.code).toBe(1);
    expect(noNats.stderr).toContain('error EVENTS_UNAVAILABLE: cannot reach NATS at nats://127.0.0.1:');
    expect(noNats.stderr).toContain('check nats.servers, start nats-server');
  });

  it('says the regenerate may have been made when a service hears it but never replies', async () => {
    const database = await postgresWithJob();
    const { env } = await environment({
      CHORUS_VISUAL_DATABASE_URL: database.url,
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'slow',
    });
    // A live service too busy to reply in time: it heard the command, and may act on it.
    const slow = await connect({ servers: nats.url });
    cleanups.push(() => slow.close());
    let heard = 0;
    slow.subscribe('slow.cmd.regenerate', { callback: () => (heard += 1) });
    await slow.flush();

    const timedOut = await cli(['jobs', 'regenerate', database.jobId, '--json'], env);
    expect(timedOut.code).toBe(1);
    expect(heard).toBe(1);
    expect(timedOut.stderr).not.toContain('no chorus-visual service answered');
    expect(timedOut.stderr).toContain(
      'error SERVICE_UNAVAILABLE: no reply on NATS slow.cmd.regenerate within 15 s; a service received it and may have performed the regenerate',
    );
    expect(timedOut.stderr).toContain(`\`chorus-visual jobs show ${database.jobId}\` lists its regenerations`);
    expect(timedOut.stderr).toContain('With `--request-id ID` (the same ID each time) a retry is safe');
  });

  it('names the regenerate when the service refuses it without a message', async () => {
    const database = await postgresWithJob();
    const { env } = await environment({
      CHORUS_VISUAL_DATABASE_URL: database.url,
      CHORUS_VISUAL_NATS_ENABLED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
      CHORUS_VISUAL_NATS_SUBJECT_PREFIX: 'refusing',
    });
    // chorus-visual's own replies always carry a message; anything else on the subject may not.
    const responder = await connect({ servers: nats.url });
    cleanups.push(() => responder.close());
    let received: unknown;
    responder.subscribe('refusing.cmd.regenerate', {
      callback: (_error, msg) => {
        received = msg.json();
        msg.respond(JSON.stringify({ ok: false }));
      },
    });
    await responder.flush();

    const refused = await cli(['jobs', 'regenerate', database.jobId, '--seed', '9', '--request-id', 'regen-once'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('route: NATS refusing.cmd.regenerate');
    expect(refused.stderr).toContain('error INTERNAL: the regenerate failed\n');
    expect(received).toEqual({ job_id: database.jobId, seed: 9, request_id: 'regen-once' });
  });
});

describe('jobs regenerate --help', () => {
  it('says what --seed takes and what no seed does', async () => {
    const help = await cli(['jobs', 'regenerate', '--help'], {});
    expect(help.stdout).toMatch(/--seed N +the new job's seed \(default: a new random seed/);
    expect(help.stdout).not.toContain('random  ');
    expect(help.stdout).not.toContain('the same seed');
  });
});

describe('jobs cancel with no service running', { timeout: 180_000 }, () => {
  it('takes the driver lock, restores that one job, cancels it, and says so', async () => {
    const { root, env } = await environment();
    const job = await databaseWithUnfinishedJob(root);
    const submissionsBefore = sim.stats().submissions;

    const cancelled = await cli(['jobs', 'cancel', job.jobId], env);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toContain('route: in this process (no service drives ');
    expect(cancelled.stdout).toBe(`job ${job.jobId} cancelled\n`);
    expect(jobFacts(job).status).toBe('cancelled');
    expect(sim.stats().submissions).toBe(submissionsBefore);
  });
});
