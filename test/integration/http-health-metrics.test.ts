import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';
import { runFakeLifecycle } from '../support/fake-http-ports.js';

let h: HttpHarness;
const get = (target: string) => rawRequest(h.server.port, 'GET', target);

beforeEach(async () => {
  h = await startHttpHarness();
});
afterEach(async () => {
  await h.close();
});

describe('GET /healthz', () => {
  it('says alive with the instance id even when nothing else works', async () => {
    h.health.database = async () => false;
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, status: 'alive', instance_id: 'test-instance' });
  });
});

describe('GET /readyz', () => {
  it('is 200 when the database answers, NATS is connected and a backend is healthy', async () => {
    const res = await get('/readyz');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, ready: true, reasons: [], checks: { database: true, nats: { connected: true } } });
  });

  it('is 503 with every reason when database, NATS and backends are down', async () => {
    h.health.database = async () => {
      throw new Error('SQLITE_BUSY');
    };
    h.health.nats = () => ({ connected: false, kind: 'core' });
    h.health.backendList[0]!.healthy = false;
    h.health.backendList[0]!.lastError = 'ECONNREFUSED';
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    const body = res.json();
    expect(body.ready).toBe(false);
    expect(body.reasons).toEqual(['database does not answer', 'NATS (core) is not connected', 'backend local is unhealthy: ECONNREFUSED']);
    expect(body.checks.backends[0]).toMatchObject({ name: 'local', healthy: false, last_error: 'ECONNREFUSED' });
  });

  it('stays ready with one sick backend of two, and does not require NATS when disabled', async () => {
    h.health.backendList.push({ name: 'spare', url: 'http://127.0.0.1:9', healthy: false, socket: 'closed', capacity: { max_concurrent: 1, in_use: 0 } });
    h.health.nats = () => null;
    const res = await get('/readyz');
    expect(res.status).toBe(200);
    expect(res.json().checks).toMatchObject({ nats: 'disabled', backends: [{ healthy: true }, { name: 'spare', healthy: false }] });
  });

  it('is not ready without any backend', async () => {
    h.health.backendList.length = 0;
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(res.json().reasons).toContain('no ComfyUI backend is configured');
  });
});

describe('GET /metrics', () => {
  it('exposes jobs by state, queue depth, outbox, backend capacity in Prometheus text', async () => {
    h.health.jobsByState = async () => ({ queued: 3, processing: 1, completed: 7 });
    h.health.outboxPending = async () => 4;
    h.health.backendList[0]!.capacity.in_use = 1;
    h.health.backendList[0]!.socketHeals = 2;
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain; version=0.0.4/);
    const text = res.body.toString();
    expect(text).toMatch(/chorus_visual_jobs\{state="queued",instance_id="test-instance"\} 3/);
    expect(text).toMatch(/chorus_visual_jobs\{state="completed",instance_id="test-instance"\} 7/);
    expect(text).toMatch(/chorus_visual_queue_depth\{instance_id="test-instance"\} 3/);
    expect(text).toMatch(/chorus_visual_outbox_pending\{instance_id="test-instance"\} 4/);
    expect(text).toMatch(/chorus_visual_backend_healthy\{backend="local",instance_id="test-instance"\} 1/);
    expect(text).toMatch(/chorus_visual_backend_capacity\{backend="local",instance_id="test-instance"\} 2/);
    expect(text).toMatch(/chorus_visual_backend_in_use\{backend="local",instance_id="test-instance"\} 1/);
    expect(text).toMatch(/chorus_visual_backend_socket_heals_total\{backend="local",instance_id="test-instance"\} 2/);
    expect(text).toMatch(/chorus_visual_nats_connected\{instance_id="test-instance"\} 1/);
    expect(text).toMatch(/chorus_visual_database_up\{instance_id="test-instance"\} 1/);
  });

  it('records phase durations when a job reaches a final state, per outcome', async () => {
    const { job } = await h.handler.generate({ conversation_id: 'c1', character: 'nova', prompt: 'x', priority: 0, strict_llm: false, parameters: {} });
    await runFakeLifecycle(h.handler, job.id, h.dataDir, async () => {}, 2);
    const text = (await get('/metrics')).body.toString();
    for (const phase of ['queue_wait', 'generation', 'file_move', 'lost', 'service_down', 'total']) {
      expect(text).toMatch(
        new RegExp(`chorus_visual_job_phase_duration_seconds_count\\{instance_id="test-instance",phase="${phase}",outcome="completed"\\} 1`),
      );
    }
    // queue_wait was 5 ms: it lands in the first bucket.
    expect(text).toMatch(/chorus_visual_job_phase_duration_seconds_bucket\{le="0.1",instance_id="test-instance",phase="queue_wait",outcome="completed"\} 1/);
    expect(text).toMatch(/chorus_visual_job_transitions_total\{to="completed",instance_id="test-instance"\} 1/);
    expect(text).toMatch(/chorus_visual_job_transitions_total\{to="processing",instance_id="test-instance"\} 1/);
  });

  it('records the time lost to forgotten runs and to a stopped service as phases of their own', async () => {
    const { job } = await h.handler.generate({ conversation_id: 'c2', character: 'nova', prompt: 'x', priority: 0, strict_llm: false, parameters: {} });
    // The end of a job as a restarted service reports it: a run ComfyUI forgot, and an outage.
    const timings = {
      queue_wait_ms: 5,
      comfy_queue_wait_ms: 2,
      generation_ms: 900,
      file_move_ms: 3,
      lost_ms: 4_000,
      service_down_ms: 40_000,
      total_ms: 44_910,
    };
    h.handler.transition(job.id, 'completed', { timings });
    const text = (await get('/metrics')).body.toString();
    const bucket = (phase: string, le: string) =>
      new RegExp(`chorus_visual_job_phase_duration_seconds_bucket\\{le="${le}",instance_id="test-instance",phase="${phase}",outcome="completed"\\} (\\d+)`);
    // lost 4 s: not within 2.5 s, within 5 s; service_down 40 s: not within 30 s, within 60 s.
    expect(text.match(bucket('lost', '2.5'))?.[1]).toBe('0');
    expect(text.match(bucket('lost', '5'))?.[1]).toBe('1');
    expect(text.match(bucket('service_down', '30'))?.[1]).toBe('0');
    expect(text.match(bucket('service_down', '60'))?.[1]).toBe('1');
  });

  it('keeps two servers in one process apart (own registry each)', async () => {
    const other = await startHttpHarness();
    try {
      other.health.jobsByState = async () => ({ failed: 9 });
      expect((await get('/metrics')).body.toString()).not.toMatch(/state="failed"/);
      expect((await rawRequest(other.server.port, 'GET', '/metrics')).body.toString()).toMatch(/state="failed"[^\n]*\} 9/);
    } finally {
      await other.close();
    }
  });
});
