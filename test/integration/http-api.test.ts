import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonHeaders, rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';

let h: HttpHarness;
const post = (target: string, body: unknown, headers: Record<string, string> = jsonHeaders) =>
  rawRequest(h.server.port, 'POST', target, { headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const get = (target: string, headers: Record<string, string> = {}) => rawRequest(h.server.port, 'GET', target, { headers });

beforeEach(async () => {
  h = await startHttpHarness();
});
afterEach(async () => {
  await h.close();
});

describe('POST /api/jobs', () => {
  it('creates a job (201) and returns it in the success envelope', async () => {
    const res = await post('/api/jobs', { conversation_id: 'c1', character: 'nova', user_request: 'a walk at dusk' });
    expect(res.status).toBe(201);
    const body = res.json();
    expect(body.ok).toBe(true);
    expect(body.created).toBe(true);
    expect(body.job).toMatchObject({ state: 'queued', conversation_id: 'c1', character: 'nova', workflow: 'sdxl-portrait' });
  });

  it('is idempotent on request_id: the second reply names the same job with 200', async () => {
    const cmd = { request_id: 'r-1', conversation_id: 'c1', character: 'nova', prompt: 'x' };
    const first = (await post('/api/jobs', cmd)).json();
    const second = await post('/api/jobs', cmd);
    expect(second.status).toBe(200);
    expect(second.json()).toMatchObject({ ok: true, created: false, job: { id: first.job.id } });
  });

  it('refuses a body that breaks the schema with INVALID_COMMAND and the failing fields', async () => {
    const res = await post('/api/jobs', { conversation_id: '../etc', character: 'nova', user_request: 'x', steps: 'many' });
    expect(res.status).toBe(400);
    const body = res.json();
    expect(body.ok).toBe(false);
    expect(body.error.code).toBe('INVALID_COMMAND');
    expect(body.error.suggestion).toMatch(/fields/);
    const paths = body.error.details.map((i: { path: string }) => i.path);
    expect(paths).toContain('conversation_id');
  });

  it('refuses wrong types, missing required choices and non-objects', async () => {
    for (const bad of [{ conversation_id: 'c1', character: 'nova', prompt: 42 }, { conversation_id: 'c1', prompt: 'x' }, [1, 2], 'null']) {
      const res = await post('/api/jobs', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.json().error.code).toBe('INVALID_COMMAND');
    }
  });

  it('answers bad JSON, wrong content type and too large bodies with the envelope', async () => {
    const badJson = await post('/api/jobs', '{"conversation_id": ');
    expect(badJson.status).toBe(400);
    expect(badJson.json().error.message).toMatch(/not valid JSON/);

    const wrongType = await post('/api/jobs', 'conversation_id=c1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.json().ok).toBe(false);

    const huge = await post('/api/jobs', JSON.stringify({ conversation_id: 'c1', prompt: 'x'.repeat(300_000) }));
    expect(huge.status).toBe(413);
    expect(huge.json().error.details.limit_bytes).toBe(256 * 1024);
    // Says what to do about the size, not "fix the fields named in details".
    expect(huge.json().error.suggestion).toMatch(/^Send at most 262144 bytes/);
    expect(huge.json().error.suggestion).not.toMatch(/fields named/);
  });

  it('maps handler errors to their HTTP status: WORKFLOW_NOT_FOUND 404, CHARACTER_NOT_FOUND 404, QUEUE_FULL 429', async () => {
    const noWorkflow = await post('/api/jobs', { conversation_id: 'c1', workflow: 'nope', prompt: 'x' });
    expect(noWorkflow.status).toBe(404);
    expect(noWorkflow.json().error).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', details: { available: ['sdxl-portrait', 'no-model-test'] } });

    const noCharacter = await post('/api/jobs', { conversation_id: 'c1', character: 'ghost', prompt: 'x' });
    expect(noCharacter.status).toBe(404);
    expect(noCharacter.json().error.code).toBe('CHARACTER_NOT_FOUND');

    await h.close();
    h = await startHttpHarness({ maxQueue: 1 });
    expect((await post('/api/jobs', { conversation_id: 'c1', character: 'nova', prompt: 'x' })).status).toBe(201);
    const full = await post('/api/jobs', { conversation_id: 'c1', character: 'nova', prompt: 'y' });
    expect(full.status).toBe(429);
    expect(full.json().error).toMatchObject({ code: 'QUEUE_FULL', recoverable: true });
  });
});

describe('GET /api/jobs and /api/jobs/:id', () => {
  beforeEach(async () => {
    await post('/api/jobs', { conversation_id: 'c1', character: 'nova', prompt: 'one' });
    await post('/api/jobs', { conversation_id: 'c2', character: 'sage', prompt: 'two' });
    await post('/api/jobs', { conversation_id: 'c1', character: 'sage', prompt: 'three' });
    await post('/api/jobs/job-0001/cancel', {});
  });

  it('filters by state, conversation and character, and pages', async () => {
    await expect(get('/api/jobs').then((r) => r.json().total)).resolves.toBe(3);
    const byConversation = (await get('/api/jobs?conversation=c1')).json();
    expect(byConversation.jobs.map((j: { id: string }) => j.id).sort()).toEqual(['job-0001', 'job-0003']);
    const byCharacter = (await get('/api/jobs?character=sage&state=queued')).json();
    expect(byCharacter.jobs.map((j: { id: string }) => j.id).sort()).toEqual(['job-0002', 'job-0003']);
    const byStates = (await get('/api/jobs?state=cancelled,completed')).json();
    expect(byStates.jobs.map((j: { id: string }) => j.id)).toEqual(['job-0001']);
    const page = (await get('/api/jobs?limit=1&offset=1')).json();
    expect(page).toMatchObject({ ok: true, total: 3, limit: 1, offset: 1 });
    expect(page.jobs).toHaveLength(1);
  });

  it('refuses bad filters and paging', async () => {
    for (const q of ['state=exploded', 'limit=0', 'limit=abc', 'offset=-1', 'color=blue', 'conversation=../x']) {
      const res = await get(`/api/jobs?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json().error.code, q).toBe('INVALID_COMMAND');
    }
  });

  it('returns the job with its transition history and debug facts', async () => {
    const res = await get('/api/jobs/job-0001');
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.job.state).toBe('cancelled');
    expect(body.events.map((e: { to_state: string }) => e.to_state)).toEqual(['queued', 'cancelled']);
    expect(body.debug.workflow.facts.checkpoints[0]).toMatch(/safetensors$/);
    expect((await get('/api/jobs/job-0001?debug=false')).json().debug).toBeUndefined();
  });

  it('404s an unknown job and 400s an id that could climb out of a folder', async () => {
    const missing = await get('/api/jobs/job-9999');
    expect(missing.status).toBe(404);
    expect(missing.json().error.code).toBe('JOB_NOT_FOUND');
    expect(missing.json().error.suggestion).toMatch(/Check the job id: .*GET \/api\/jobs/);
    const bad = await get('/api/jobs/..%2Fetc');
    expect(bad.status).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_COMMAND');
  });

  it('refuses a body that names another job than the path, or is not an object, and changes nothing', async () => {
    const other = await post('/api/jobs/job-0002/cancel', { job_id: 'job-0003' });
    expect(other.status).toBe(400);
    expect(other.json().error).toMatchObject({ code: 'INVALID_COMMAND', message: 'job_id comes from the path (job-0002); the body names another' });
    const extra = await post('/api/jobs/job-0002/cancel', { reason: 'x' });
    expect(extra.status).toBe(400);
    expect(extra.json().error.details).toEqual([{ path: '(root)', message: 'Unrecognized key: "reason"' }]);
    const notObject = await post('/api/jobs/job-0002/regenerate', 'null');
    expect(notObject.status).toBe(400);
    expect(notObject.json().error).toMatchObject({ code: 'INVALID_COMMAND', message: 'the request body must be a JSON object, got null' });
    expect((await post('/api/jobs/job-0002/regenerate', { job_id: 'job-0003' })).status).toBe(400);
    expect((await post('/api/workflows/sdxl-portrait/validate', { workflow: 'no-model-test' })).status).toBe(400);
    expect((await get('/api/jobs/job-0002')).json().job.state).not.toBe('cancelled');
    // The path's own id in the body is the same command.
    expect((await post('/api/jobs/job-0002/cancel', { job_id: 'job-0002' })).json().job.state).toBe('cancelled');
  });

  it('reads an empty ?state= as no filter', async () => {
    const all = (await get('/api/jobs')).json();
    expect((await get('/api/jobs?state=')).json().total).toBe(all.total);
  });

  it('cancels a job and repeats the answer for one already final', async () => {
    const res = await post('/api/jobs/job-0002/cancel', '');
    expect(res.status).toBe(200);
    expect(res.json().job.state).toBe('cancelled');
    const again = await post('/api/jobs/job-0002/cancel', '');
    expect(again.json().job.state).toBe('cancelled');
    expect((await post('/api/jobs/job-4242/cancel', '')).status).toBe(404);
  });
});

describe('workflows, backends, machine', () => {
  it('lists workflows with their problems', async () => {
    const body = (await get('/api/workflows')).json();
    expect(body.workflows.map((w: { name: string }) => w.name)).toEqual(['sdxl-portrait', 'no-model-test']);
    expect(body.problems[0]).toEqual({ file: 'broken.json', reason: 'not valid JSON' });
  });

  it('validates a workflow by name and 404s an unknown one', async () => {
    expect((await post('/api/workflows/sdxl-portrait/validate', {})).json()).toMatchObject({ ok: true, validation: { ok: true, errors: [] } });
    expect((await post('/api/workflows/nope/validate', {})).status).toBe(404);
    expect((await post('/api/workflows/sdxl-portrait/validate', { backend: 'a b' })).status).toBe(400);
  });

  it('lists backends with capacity', async () => {
    const body = (await get('/api/backends')).json();
    expect(body.backends[0]).toMatchObject({ name: 'local', healthy: true, capacity: { max_concurrent: 2, in_use: 0 } });
  });

  it('describes the machine for the diagram (architecture table when no machine is given)', async () => {
    const body = (await get('/api/machine')).json();
    expect(body.diagram.states).toEqual(['queued', 'submitted', 'processing', 'moving', 'completed', 'failed', 'cancelled']);
    expect(body.diagram.source).toBe('architecture');
    expect(body.diagram.edges).toContainEqual(expect.objectContaining({ from: 'moving', to: 'completed' }));
  });
});

describe('unknown routes, methods and malformed requests', () => {
  it('404s unknown routes and 405s wrong methods with Allow, in the envelope', async () => {
    const unknown = await get('/api/nothing');
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND' } });
    // An unknown route is told apart from an unknown job (JOB_NOT_FOUND): the routes there are, not "fix the fields".
    expect(unknown.json().error.suggestion).toMatch(/no such route: details\.routes lists/);
    const routes = unknown.json().error.details.routes as string[];
    expect(routes).toEqual(
      expect.arrayContaining(['GET /api/jobs', 'POST /api/jobs', 'GET /api/jobs/:id', 'POST /api/jobs/:id/cancel', 'GET /files/*', 'GET /healthz']),
    );
    expect(routes.filter((r) => /\.(js|css|html|svg|ico)$|^GET \/$/.test(r))).toEqual([]);
    const wrongMethod = await rawRequest(h.server.port, 'DELETE', '/api/jobs');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers['allow']).toMatch(/GET/);
    expect(wrongMethod.json().error.details.allowed).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(wrongMethod.json().error.suggestion).toBe('Use GET or POST on this path (the Allow header says the same).');
  });

  it('answers malformed HTTP with a 400 envelope and keeps serving', async () => {
    const { connect } = await import('node:net');
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(h.server.port, '127.0.0.1', () => socket.write('BOGUS\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    expect(reply).toMatch(/"ok":false/);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('turns a handler that throws a plain Error into INTERNAL 500 without its text, and keeps serving', async () => {
    h.handler.workflows = async () => {
      throw new TypeError('boom at /srv/secret/path');
    };
    const res = await get('/api/workflows');
    expect(res.status).toBe(500);
    expect(res.json().error).toMatchObject({ code: 'INTERNAL', message: 'GET /api/workflows failed with an internal error' });
    expect(res.json().error.details.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.toString()).not.toContain('boom');
    expect((await get('/api/backends')).status).toBe(200);
  });
});

describe('bearer token', () => {
  beforeEach(async () => {
    await h.close();
    h = await startHttpHarness({ token: 's3cret' });
  });

  it('401s API, metrics and file requests without or with a wrong token, as UNAUTHORIZED', async () => {
    for (const target of ['/api/jobs', '/metrics', '/readyz', '/files/conversations/c1/images/a.png']) {
      const res = await get(target);
      expect(res.status, target).toBe(401);
      expect(res.json().error, target).toMatchObject({ code: 'UNAUTHORIZED', recoverable: false, message: 'a bearer token is required' });
      expect(res.json().error.suggestion, target).toMatch(/Bearer/);
    }
    const wrong = await get('/api/jobs', { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.json().error).toMatchObject({ code: 'UNAUTHORIZED', message: 'the bearer token is wrong' });
  });

  it('accepts the header or ?token=, and leaves the page shell and /healthz open', async () => {
    expect((await get('/api/jobs', { authorization: 'Bearer s3cret' })).status).toBe(200);
    expect((await get('/api/jobs?token=s3cret')).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
  });
});
