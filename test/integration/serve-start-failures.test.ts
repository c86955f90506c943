/**
 * Start is all-or-nothing (`chorus-visual serve` as a real process, as the README runs it).
 * Each way a start can fail — database driven by another instance, HTTP port taken, NATS
 * refusing our credentials, a config that cannot be read, a database folder that cannot be
 * made — ends the process non-zero within
 * seconds with one structured error line, and in none of them was the unfinished job in the
 * database restored or submitted, or a `$SRV.PING` answered. NATS merely unreachable is not
 * a failure: the service serves HTTP and runs jobs, and the events wait in the outbox.
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { driverLockPathsFor, StoreDriverLock } from '../../src/db/store-driver-lock.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { databaseWithUnfinishedJob, freePort, jobFacts, pingRespondersUntil, type UnfinishedJob } from '../support/lifecycle-fixture.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

/** Spawn to exit. Generous for a loaded 2-core machine; a hang (the old behaviour) never exits. */
const EXIT_WITHIN_MS = 30_000;

let sim: SimulatorHandle;
let nats: NatsTestServer;
let authNats: NatsTestServer;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  sim = await startSimulator({ outputDir: join(await tempDir(), 'comfy-output'), stepDelayMs: 2 });
  nats = await NatsTestServer.start({ jetstream: false });
  authNats = await NatsTestServer.start({ jetstream: false, args: ['--user', 'chorus', '--pass', 'right-pass'] });
});
afterAll(async () => {
  await sim?.close();
  await nats?.cleanup();
  await authNats?.cleanup();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-start-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function serviceEnv(job: UnfinishedJob, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_DATA_DIR: join(job.databasePath, '..'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${job.databasePath}`,
    CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
    CHORUS_VISUAL_HTTP_PORT: '0',
    ...extra,
  };
}

function spawnServe(env: Record<string, string>, args: string[] = []): ServiceProcess {
  const proc = startServiceProcess(['serve', ...args], env);
  cleanups.push(() => proc.kill('SIGKILL'));
  return proc;
}

interface StartError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  suggestion?: string;
}

/**
 * Waits for a serve that must fail: exit code 1, within the bound, never "listening", one
 * structured error line. Returns the error and the instances that answered pings meanwhile.
 */
async function expectRefusedStart(
  proc: ServiceProcess,
  pingWith: ConnectionOptions = { servers: nats.url },
): Promise<{ error: StartError; responders: string[] }> {
  const responders = pingRespondersUntil(pingWith, proc.exited);
  const code = await Promise.race([proc.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), EXIT_WITHIN_MS))]);
  expect(code, proc.lines.slice(-20).join('\n')).toBe(1);
  expect(proc.lines.some((l) => l.includes('"msg":"chorus-visual listening"'))).toBe(false);
  const line = proc.lines.find((l) => l.includes('"msg":"chorus-visual did not start"'));
  expect(line, proc.lines.join('\n')).toBeDefined();
  return { error: (JSON.parse(line!) as { error: StartError }).error, responders: await responders };
}

describe('a start that fails ends at once and touches nothing', { timeout: 120_000 }, () => {
  it('database driven by another instance: STORE_LOCKED naming the holder and how to reach it', async () => {
    const job = await databaseWithUnfinishedJob(await tempDir());
    // The first instance runs with ComfyUI unreachable, so the restored job stays where it
    // is, and anything that moves it or reaches the simulator is the second process.
    const first = spawnServe(serviceEnv(job, { CHORUS_VISUAL_COMFYUI_URL: `http://127.0.0.1:${await freePort()}`, CHORUS_VISUAL_INSTANCE_ID: 'first-driver' }));
    const listening = JSON.parse(await first.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string };
    await first.waitForLine(/"msg":"NATS commands and events ready"/);
    const before = jobFacts(job);
    const submissionsBefore = sim.stats().submissions;

    const second = spawnServe(serviceEnv(job, { CHORUS_VISUAL_INSTANCE_ID: 'second-driver' }));
    const { error, responders } = await expectRefusedStart(second);

    expect(error.code).toBe('STORE_LOCKED');
    expect(error.details?.['holder']).toMatchObject({
      instance_id: 'first-driver',
      pid: first.child.pid,
      host: hostname(),
      state: 'serving',
      http_url: listening.http,
      nats: { servers: [nats.url], subject_prefix: 'chorus.visual' },
    });
    expect(error.message).toContain('first-driver');
    expect(error.message).toContain(listening.http);
    expect(responders).toEqual(['first-driver']);
    expect(jobFacts(job)).toEqual(before);
    expect(sim.stats().submissions).toBe(submissionsBefore);
    // The first instance goes on serving.
    expect((await fetch(`${listening.http}/healthz`)).status).toBe(200);
    expect(await first.kill('SIGTERM')).toBe(0);
  });

  it('HTTP port taken: CONFIG_INVALID naming http.port; no job restored, NATS never answered', async () => {
    const job = await databaseWithUnfinishedJob(await tempDir());
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as { port: number }).port;
    const before = jobFacts(job);
    const submissionsBefore = sim.stats().submissions;

    const { error, responders } = await expectRefusedStart(spawnServe(serviceEnv(job, { CHORUS_VISUAL_HTTP_PORT: String(port) })));

    expect(error).toMatchObject({ code: 'CONFIG_INVALID', details: { key: 'http.port', port, reason: 'EADDRINUSE' } });
    expect(responders).toEqual([]);
    expect(jobFacts(job)).toEqual(before);
    expect(sim.stats().submissions).toBe(submissionsBefore);
    await expectLockFree(job);
  });

  it('NATS refuses the credentials: CONFIG_INVALID, the HTTP port given back, no job restored', async () => {
    const job = await databaseWithUnfinishedJob(await tempDir());
    const port = await freePort();
    const before = jobFacts(job);
    const submissionsBefore = sim.stats().submissions;

    const proc = spawnServe(
      serviceEnv(job, {
        CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([authNats.url]),
        CHORUS_VISUAL_NATS_USER: 'chorus',
        CHORUS_VISUAL_NATS_PASS: 'wrong-pass',
        CHORUS_VISUAL_HTTP_PORT: String(port),
      }),
    );
    const { error, responders } = await expectRefusedStart(proc, { servers: authNats.url, user: 'chorus', pass: 'right-pass' });

    expect(error).toMatchObject({ code: 'CONFIG_INVALID', details: { key: 'nats', reason: 'AUTHORIZATION_VIOLATION' } });
    expect(error.suggestion).toContain('nats.user');
    expect(responders).toEqual([]);
    expect(jobFacts(job)).toEqual(before);
    expect(sim.stats().submissions).toBe(submissionsBefore);
    // Torn down in reverse: the port it had bound is free again, and so is the database.
    await expectPortFree(port);
    await expectLockFree(job);
  });

  it('a database whose folder cannot be made (a file in the way): STORAGE_UNAVAILABLE naming the folder, not an internal error', async () => {
    const root = await tempDir();
    const job = await databaseWithUnfinishedJob(root);
    const blocker = join(root, 'not-a-folder');
    await writeFile(blocker, 'a regular file where database.url wants a folder\n');
    const { error, responders } = await expectRefusedStart(
      spawnServe(serviceEnv(job, { CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(blocker, 'jobs', 'chorus-visual.db')}` })),
    );
    expect(error).toMatchObject({ code: 'STORAGE_UNAVAILABLE', details: { folder: join(blocker, 'jobs') } });
    expect(error.message).toContain(join(blocker, 'jobs'));
    expect(error.suggestion).toContain('database.url');
    expect(responders).toEqual([]);
  });

  it('a config that cannot be read: CONFIG_INVALID, nothing opened', async () => {
    const root = await tempDir();
    const job = await databaseWithUnfinishedJob(root);
    const before = jobFacts(job);
    const broken = join(root, 'broken.yaml');
    await writeFile(broken, 'comfyui: [this is: not, a mapping\n');

    for (const configPath of [join(root, 'missing.yaml'), broken, root]) {
      const { error, responders } = await expectRefusedStart(spawnServe(serviceEnv(job), ['--config', configPath]));
      expect(error.code, configPath).toBe('CONFIG_INVALID');
      expect(responders).toEqual([]);
    }
    expect(jobFacts(job)).toEqual(before);
  });
});

describe('NATS unreachable is not a start failure', { timeout: 120_000 }, () => {
  it('serves HTTP and runs a job at once; its events wait in the outbox', async () => {
    const job = await databaseWithUnfinishedJob(await tempDir());
    const proc = spawnServe(serviceEnv(job, { CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([`nats://127.0.0.1:${await freePort()}`]) }));
    const listening = JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string; restored: number };
    expect(proc.lines.some((l) => l.includes('NATS not reachable'))).toBe(true);
    expect(listening.restored).toBe(1);

    const created = (await (
      await fetch(`${listening.http}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: 'c-no-nats', workflow: 'no_model_test', prompt: 'no broker needed' }),
      })
    ).json()) as { ok: boolean; job: { id: string } };
    expect(created.ok).toBe(true);
    for (const id of [created.job.id, job.jobId]) {
      await expect
        .poll(async () => ((await (await fetch(`${listening.http}/api/jobs/${id}`)).json()) as { job: { state: string } }).job.state, {
          timeout: 30_000,
          interval: 50,
        })
        .toBe('completed');
    }
    expect(await proc.kill('SIGTERM')).toBe(0);
    const db = new Database(job.databasePath, { readonly: true });
    try {
      const { n } = db.prepare('select count(*) as n from job_events where job_id = ? and published_at is null').get(created.job.id) as { n: number };
      expect(n).toBeGreaterThanOrEqual(5);
    } finally {
      db.close();
    }
  });
});

async function expectPortFree(port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(port, '127.0.0.1', resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
}

async function expectLockFree(job: UnfinishedJob): Promise<void> {
  const paths = driverLockPathsFor(`sqlite:${job.databasePath}`)!;
  expect(StoreDriverLock.currentHolder(paths)).toBeUndefined();
}
