/**
 * The command line beside a service that holds the SQLite database but does not answer over
 * HTTP, as real processes. A service stopped with SIGSTOP (as a hung one) still takes the
 * connection and the request: each command gives up after COMMAND_REPLY_MS, as over NATS, and
 * says what that means — a generate or regenerate may have been made (check, or retry with the
 * same --request-id, which cannot make a second job), a cancel gets the plain "did not answer".
 * The bound is per request, not per job: generate follows a job longer than that to its end.
 * A reply that is not the service's JSON (a proxy's HTML page) is said to be that, not a bug.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_REPLY_MS } from '../../src/cli/driver-client.js';
import { createJobStore } from '../../src/db/index.js';
import { driverLockPathsFor, StoreDriverLock } from '../../src/db/store-driver-lock.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { startServiceProcess } from '../support/service-process.js';
import { newEvent, newJob, roomyQueue } from './db-test-fixtures.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const seconds = COMMAND_REPLY_MS / 1000;
let sim: SimulatorHandle;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  sim = await startSimulator({ outputDir: join(await mkdtemp(join(tmpdir(), 'cv-unanswered-sim-')), 'output'), stepDelayMs: 2 });
});
afterAll(async () => {
  await sim?.close();
});
afterEach(async () => {
  sim.faults.executionDelayMs(0);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/**
 * Runs a command; one still waiting after 90 s is killed (code null): far past COMMAND_REPLY_MS
 * and a slow start on a busy machine, far short of the 300 s undici alone waits for a reply.
 */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr, ms: Date.now() - started };
  } catch (error) {
    const e = error as { code: number | null; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : null, stdout: e.stdout, stderr: e.stderr, ms: Date.now() - started };
  }
}

async function environment(): Promise<{ env: Record<string, string>; database: string }> {
  const root = await mkdtemp(join(tmpdir(), 'cv-unanswered-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const database = `sqlite:${join(root, 'data', 'jobs.db')}`;
  return {
    database,
    env: {
      CHORUS_VISUAL_COMFYUI_URL: sim.url,
      CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
      CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_DATABASE_URL: database,
      CHORUS_VISUAL_HTTP_PORT: '0',
      CHORUS_VISUAL_NATS_ENABLED: 'false',
    },
  };
}

async function serve(env: Record<string, string>, instanceId: string): Promise<{ pid: number; http: string }> {
  const proc = startServiceProcess(['serve', '--instance-id', instanceId], env);
  cleanups.push(() => proc.kill('SIGKILL'));
  const line = JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string };
  return { pid: proc.child.pid!, http: line.http };
}

async function postJob(http: string, body: Record<string, unknown>): Promise<string> {
  const reply = await fetch(`${http}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return ((await reply.json()) as { job: { id: string } }).job.id;
}

describe('commands through a service that is stopped but alive', { timeout: 240_000 }, () => {
  it(`give up after ${seconds} s, say the job may have been made and how to check, and a retry with the request id makes no second job`, async () => {
    const { env } = await environment();
    const service = await serve(env, 'stopped');
    const source = await postJob(service.http, { conversation_id: 'c-stopped', workflow: 'no_model_test', prompt: 'a quay' });

    process.kill(service.pid, 'SIGSTOP');
    const resumed = { done: false };
    cleanups.push(async () => {
      if (!resumed.done) process.kill(service.pid, 'SIGCONT');
    });
    const generate = ['generate', '--workflow', 'no_model_test', '--conversation', 'c-stopped', '--request-id', 'req-stopped', '--prompt', '--json', 'a pier'];
    const [generated, regenerated, cancelled, shown] = await Promise.all([
      cli(generate, env),
      cli(['jobs', 'regenerate', source], env),
      cli(['jobs', 'cancel', source], env),
      cli(['jobs', 'show', source, '--json'], env),
    ]);

    // Reading needs no service: it reads the database beside the stopped one.
    expect(shown.code, shown.stderr).toBe(0);
    const unanswered = `error STORE_LOCKED: the running service holds the job database but did not answer over HTTP ${service.http}: no reply within ${seconds} s`;
    for (const outcome of [generated, regenerated, cancelled]) {
      expect(outcome.code, outcome.stderr).toBe(1);
      expect(outcome.ms).toBeGreaterThanOrEqual(COMMAND_REPLY_MS);
      expect(outcome.stderr).toContain(unanswered);
    }
    expect(generated.stderr).toContain(`${unanswered}; it may have made the job before it stopped answering`);
    expect(generated.stderr).toContain(
      "suggestion: Check before running it again: `chorus-visual jobs list --conversation c-stopped` lists that conversation's jobs; running it again may make a second job. Running it again with the same `--request-id req-stopped` is safe: it returns the same job.",
    );
    expect(regenerated.stderr).toContain(`${unanswered}; it may have made the new job before it stopped answering`);
    expect(regenerated.stderr).toContain(`suggestion: Check before running it again: \`chorus-visual jobs show ${source}\` lists its regenerations`);
    expect(cancelled.stderr).toContain('suggestion: Check that the service is healthy (GET /healthz)');

    // The service goes on: the advised retry returns the job the first try may have made, never a second.
    process.kill(service.pid, 'SIGCONT');
    resumed.done = true;
    const retried = await cli(generate, env);
    expect(retried.code, retried.stderr).toBe(0);
    const listed = await cli(['jobs', 'list', '--conversation', 'c-stopped', '--json'], env);
    // Besides the source and its regeneration, if the service made that one once it went on.
    const generatedJobs = (JSON.parse(listed.stdout) as Array<{ id: string; regenerated_from: string | null }>).filter(
      (job) => job.id !== source && job.regenerated_from === null,
    );
    expect(generatedJobs.map((job) => job.id)).toEqual([(JSON.parse(retried.stdout) as { id: string }).id]);
  });

  it(`let generate follow a job that runs longer than ${seconds} s to its end`, async () => {
    const { env } = await environment();
    await serve(env, 'slow-job');
    sim.faults.executionDelayMs(COMMAND_REPLY_MS + 2_000);

    const generated = await cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-slow', '--prompt', '--json', 'a long exposure'], env);

    expect(generated.code, generated.stderr).toBe(0);
    expect((JSON.parse(generated.stdout) as { state: string }).state).toBe('completed');
    expect(generated.ms).toBeGreaterThan(COMMAND_REPLY_MS);
  });
});

describe('a reply that is not the service’s JSON', { timeout: 120_000 }, () => {
  it('is said to be that, with the same advice as no reply, not a parse error or a bug', async () => {
    const { env, database } = await environment();
    const store = await createJobStore(database);
    const { job } = await store.createJob(newJob({ workflow: 'no_model_test' }), newEvent(null, 'queued'), roomyQueue).finally(() => store.close());
    // What answers at the holder's URL: a proxy's error page, and JSON of some other program.
    const proxy: Server = createServer((req, res) => {
      if (req.url === '/api/jobs') {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    // This test process is the holder of the database's lock, and says it serves at that URL.
    const lock = StoreDriverLock.acquire(driverLockPathsFor(database)!, { instance_id: 'behind-proxy', command: 'serve', http_url: null, nats: null });
    cleanups.push(async () => lock.release());
    lock.describe({ state: 'serving', http_url: url });

    const [generated, cancelled] = await Promise.all([
      cli(['generate', '--workflow', 'no_model_test', '--conversation', 'c-proxy', '--prompt', 'a pier'], env),
      cli(['jobs', 'cancel', job.id], env),
    ]);

    expect(generated.code, generated.stderr).toBe(1);
    expect(generated.stderr).toContain(
      `error STORE_LOCKED: the running service holds the job database but did not answer over HTTP ${url}: the reply is not chorus-visual's (HTTP 502, text/html): <html> <body><h1>502 Bad Gateway</h1></body> </html>; it may have made the job before it stopped answering`,
    );
    expect(generated.stderr).toContain('suggestion: Check before running it again: `chorus-visual jobs list --conversation c-proxy`');
    expect(cancelled.code, cancelled.stderr).toBe(1);
    expect(cancelled.stderr).toContain(`did not answer over HTTP ${url}: the reply is not chorus-visual's (HTTP 200, application/json): {"status":"ok"}`);
    for (const outcome of [generated, cancelled]) {
      expect(outcome.stderr).not.toContain('INTERNAL');
      expect(outcome.stderr).not.toContain('not valid JSON');
    }
  });
});
