/**
 * `chorus-visual serve` as a real process, configured through CHORUS_VISUAL_* variables the
 * way a deployment does it. One run uses every secret — the HTTP token (in the header and
 * in ?token=, accepted and refused), NATS credentials (a private nats-server that demands
 * them), the LLM API key (a fake OpenAI-compatible server that records it) — with the log
 * at debug level; then its whole output and every API answer are searched for them.
 * The secrets hold `#`, `&` and quotes, which YAML parsing of env values used to mangle.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSimulator } from '../../src/simulator/index.js';
import { startFakeOpenAiServer } from '../support/fake-openai-server.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Each holds a word found nowhere else (not hex, so no UUID can contain it). */
const httpToken = 'tok-QUOKKA #frag &amp "q"';
const natsPass = "nats-WOMBAT #&'x'";
const natsToken = 'ntok-PLATYPUS #y &z';
const llmKey = 'sk-KOALA #key &x';
const secretWords = ['QUOKKA', 'WOMBAT', 'PLATYPUS', 'KOALA'];

async function baseEnv(root: string): Promise<Record<string, string>> {
  const sim = await startSimulator({ outputDir: join(root, 'comfy', 'output') });
  cleanups.push(() => sim.close());
  return {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_HTTP_PORT: '0',
  };
}

async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cv-secrets-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return root;
}

function serve(env: Record<string, string>, args: string[] = []): ServiceProcess {
  const proc = startServiceProcess(['serve', ...args], env);
  cleanups.push(() => proc.kill('SIGKILL'));
  return proc;
}

interface NatsAuthCase {
  auth: string;
  natsArgs: string[];
  natsEnv: Record<string, string>;
  client: { user?: string; pass?: string; token?: string };
}

describe.each<NatsAuthCase>([
  {
    auth: 'user and password',
    natsArgs: ['--user', 'chorus', '--pass', natsPass],
    natsEnv: { CHORUS_VISUAL_NATS_USER: 'chorus', CHORUS_VISUAL_NATS_PASS: natsPass },
    client: { user: 'chorus', pass: natsPass },
  },
  { auth: 'token', natsArgs: ['--auth', natsToken], natsEnv: { CHORUS_VISUAL_NATS_TOKEN: natsToken }, client: { token: natsToken } },
])('a run that used every secret (NATS $auth)', ({ natsArgs, natsEnv, client }) => {
  it('takes the secrets literally, uses each, and leaves none in its logs or API answers', async () => {
    const root = await tempRoot();
    const nats = await NatsTestServer.start({ args: natsArgs });
    cleanups.push(() => nats.cleanup());
    const llm = await startFakeOpenAiServer();
    cleanups.push(() => llm.close());
    const proc = serve({
      ...(await baseEnv(root)),
      ...natsEnv,
      CHORUS_VISUAL_NATS_SERVERS: `["${nats.url}"]`,
      CHORUS_VISUAL_HTTP_TOKEN: httpToken,
      CHORUS_VISUAL_LLM_BASE_URL: llm.baseUrl,
      CHORUS_VISUAL_LLM_API_KEY: llmKey,
      CHORUS_VISUAL_LOG_LEVEL: 'debug',
    });
    const url = (JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 50_000)) as { http: string }).http;
    await proc.waitForLine(/"msg":"NATS commands and events ready"/, 20_000);
    const answers: string[] = [];
    const call = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${url}${path}`, init);
      const text = await res.text();
      answers.push(text);
      return { status: res.status, text, json: () => JSON.parse(text) };
    };
    const bearer = { authorization: `Bearer ${httpToken}` };
    const q = `token=${encodeURIComponent(httpToken)}`;

    // The token is the whole value: what YAML made of it (`tok-QUOKKA`) is refused.
    expect((await call('/api/jobs', { headers: { authorization: 'Bearer tok-QUOKKA' } })).status).toBe(401);
    expect((await call('/api/jobs')).status).toBe(401);
    expect((await call(`/api/jobs?token=wrong-QUOKKA`)).status).toBe(401);

    // A job whose prompt the LLM writes: the key goes out, exactly as given.
    const created = await call('/api/jobs', {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'c-secrets', character: 'nova', user_request: 'a quiet morning' }),
    });
    expect(created.status).toBe(201);
    const jobId = created.json().job.id as string;
    await expect.poll(async () => (await call(`/api/jobs/${jobId}?${q}`)).json().job.state, { timeout: 30_000, interval: 100 }).toBe('completed');
    expect(llm.requests[0]?.headers['authorization']).toBe(`Bearer ${llmKey}`);

    // NATS: the service is connected with its credentials; a client with them gets the job.
    const nc = await connect({ servers: nats.url, ...client });
    cleanups.push(() => nc.close());
    const reply = JSON.parse(
      new TextDecoder().decode(
        (await nc.request('chorus.visual.cmd.get', new TextEncoder().encode(JSON.stringify({ job_id: jobId, debug: true })), { timeout: 5_000 })).data,
      ),
    );
    expect(reply).toMatchObject({ ok: true, job: { id: jobId, state: 'completed' } });
    answers.push(JSON.stringify(reply));

    // Refused and failing requests that carry the real token in their query string.
    expect((await call(`/api/nothing?${q}`)).status).toBe(404);
    expect((await call(`/api/jobs?${q}&limit=many`)).status).toBe(400);
    expect((await call(`/files/conversations/../x.png?${q}`)).status).toBe(400);
    expect((await call(`/api/jobs?${q}`, { method: 'POST', body: 'x' })).status).toBe(415);
    const foreignSocket = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/api/live?${q}`, { headers: { origin: 'http://evil.example' } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(foreignSocket).toBe(403);

    // Everything a client can read, with the token.
    for (const path of ['/api/backends', '/readyz', '/metrics', '/api/workflows', '/api/machine', `/api/jobs?${q}`, `/api/jobs/${jobId}?debug=true`]) {
      expect((await call(path, { headers: bearer })).status, path).toBe(200);
    }

    expect(await proc.kill('SIGTERM')).toBe(0);
    const log = proc.lines.join('\n');
    for (const word of secretWords) {
      expect(log.includes(word), `${word} in the log`).toBe(false);
      expect(
        answers.some((a) => a.includes(word)),
        `${word} in an API answer`,
      ).toBe(false);
    }
    // The refusals were logged (at debug), by path only.
    expect(log).toContain('"msg":"request refused"');
    expect(log).toContain('"path":"/api/nothing?…"');
  }, 120_000);
});

describe('serve refuses a configuration that would open the door by accident', () => {
  it('an empty CHORUS_VISUAL_HTTP_TOKEN is an error naming it, not "authentication off"', async () => {
    const proc = serve({ ...(await baseEnv(await tempRoot())), CHORUS_VISUAL_NATS_ENABLED: 'false', CHORUS_VISUAL_HTTP_TOKEN: '' });
    expect(await proc.exited).toBe(1);
    expect(proc.lines.join('\n')).toMatch(/error CONFIG_INVALID: CHORUS_VISUAL_HTTP_TOKEN \(http\.token\) is set but empty/);
    expect(proc.lines.some((l) => l.includes('listening'))).toBe(false);
  }, 60_000);

  it('a bad flag value names the flag', async () => {
    const proc = serve({ ...(await baseEnv(await tempRoot())), CHORUS_VISUAL_NATS_ENABLED: 'false' }, ['--http-port', 'eighty']);
    expect(await proc.exited).toBe(1);
    expect(proc.lines.join('\n')).toMatch(/error CONFIG_INVALID: --http-port is invalid: --http-port \(http\.port\)/);
  }, 60_000);

  it('a non-loopback address without a token refuses to start, naming the variable', async () => {
    const proc = serve({ ...(await baseEnv(await tempRoot())), CHORUS_VISUAL_NATS_ENABLED: 'false', CHORUS_VISUAL_HTTP_HOST: '0.0.0.0' });
    expect(await proc.exited).toBe(1);
    const output = proc.lines.join('\n');
    expect(output).toMatch(
      /error CONFIG_INVALID: CHORUS_VISUAL_HTTP_HOST \(http\.host\) is 0\.0\.0\.0, an address other machines can reach, and http\.token is not set/,
    );
    expect(output).toMatch(/suggestion: .*http\.allow_unauthenticated/);
  }, 60_000);

  it('with http.allow_unauthenticated it starts, and its listening line says authentication is off', async () => {
    const proc = serve({
      ...(await baseEnv(await tempRoot())),
      CHORUS_VISUAL_NATS_ENABLED: 'false',
      CHORUS_VISUAL_HTTP_HOST: '0.0.0.0',
      CHORUS_VISUAL_HTTP_ALLOW_UNAUTHENTICATED: 'true',
    });
    // The whole start (signal handlers included) before looking back at the HTTP line.
    await proc.waitForLine(/"msg":"chorus-visual listening"/, 50_000);
    const line = JSON.parse(proc.lines.find((l) => l.includes('"msg":"http server listening'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 40, authentication: 'off' });
    expect(line['msg']).toMatch(/without authentication/);
    expect(await proc.kill('SIGTERM')).toBe(0);
  }, 60_000);

  it('binds to 127.0.0.1 when nothing says otherwise', async () => {
    const proc = serve({ ...(await baseEnv(await tempRoot())), CHORUS_VISUAL_NATS_ENABLED: 'false' });
    const line = JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 50_000)) as { http: string };
    expect(line.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const listening = JSON.parse(proc.lines.find((l) => l.includes('"msg":"http server listening"'))!) as Record<string, unknown>;
    expect(listening).toMatchObject({ level: 30, authentication: 'off' });
    expect(await proc.kill('SIGTERM')).toBe(0);
  }, 60_000);
});
