/**
 * A `serve` on PostgreSQL that stalls past its lease (SIGSTOP here; a VM pause or a long GC
 * pause alike) while another process starts under its --instance-id and takes the id, with
 * its jobs. When the first one resumes it must find it lost the id: exit 1 with
 * INSTANCE_LEASE_LOST saying so, without writing a job, retiring or disowning anything;
 * the second keeps driving the jobs to the end, each prompt run once. (Before, the first
 * one's heartbeat renewed the lease as if nothing happened, and both drove the same jobs.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { createPostgresSchema, testPostgresUrl } from './db-test-fixtures.js';

interface JobBody {
  ok: boolean;
  job: { id: string; state: string; owner?: string; comfy_prompt_id: string | null; error: { code: string } | null };
  events: Array<{ seq: number; from_state: string | null; to_state: string }>;
}

// Short, so the stalled run lapses soon; not 1 s, which a loaded machine (the second serve, under
// parallel test files) could miss on its own heartbeats and lose its id too.
const leaseTtlSeconds = 2;

describe.skipIf(testPostgresUrl === 'off')('a serve that stalled past its lease after another process took its instance id', () => {
  let root: string;
  let schema: Awaited<ReturnType<typeof createPostgresSchema>>;
  let sim: SimulatorHandle;
  let db: pg.Client;
  const procs: ServiceProcess[] = [];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cv-stalled-'));
    [schema, sim] = await Promise.all([createPostgresSchema(), startSimulator({ outputDir: join(root, 'comfy', 'output'), previews: false })]);
    db = new pg.Client({ connectionString: testPostgresUrl });
    await db.connect();
  });
  afterEach(async () => {
    for (const proc of procs.splice(0)) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGCONT');
      await proc.kill('SIGKILL');
    }
    await db.end();
    await sim.close();
    await schema.drop();
    await rm(root, { recursive: true, force: true });
  });

  const serve = async (): Promise<{ proc: ServiceProcess; url: string }> => {
    const proc = startServiceProcess(['serve', '--no-nats', '--lease-ttl', String(leaseTtlSeconds), '--instance-id', 'host-1'], {
      CHORUS_VISUAL_DATABASE_URL: schema.url,
      CHORUS_VISUAL_COMFYUI_BACKENDS: JSON.stringify([{ name: 'gpu', url: sim.url, max_concurrent: 3, output_directory: sim.outputDir }]),
      CHORUS_VISUAL_COMFYUI_POLLING_INITIAL_INTERVAL_SECONDS: '0.2',
      CHORUS_VISUAL_COMFYUI_POLLING_MAX_INTERVAL_SECONDS: '0.5',
      CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
      CHORUS_VISUAL_HTTP_PORT: '0',
      CHORUS_VISUAL_LOG_LEVEL: 'info',
    });
    procs.push(proc);
    const line = await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000);
    return { proc, url: (JSON.parse(line) as { http: string }).http };
  };

  const getJob = async (url: string, id: string) => (await (await fetch(`${url}/api/jobs/${id}`)).json()) as JobBody;
  const query = async <Row extends object>(text: string) => (await db.query<Row>(text.replaceAll('$schema', `"${schema.schema}"`))).rows;

  it('the first exits 1 with INSTANCE_LEASE_LOST and touches no job; the second drives them to the end', { timeout: 90_000 }, async () => {
    // Each prompt runs 3 s, one after another: jobs are in ComfyUI throughout the stall.
    sim.faults.executionDelayMs(3_000);
    const first = await serve();
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const res = await fetch(`${first.url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conversation_id: `conv-${n}`, workflow: 'no_model_test', prompt: `stall test ${n}`, request_id: `req-${n}` }),
      });
      const body = (await res.json()) as JobBody;
      expect(body.ok).toBe(true);
      ids.push(body.job.id);
    }
    // Stopped once every job is where it stays for a while (nothing being written): any write
    // after the resume would be one the first decided after it lost the id.
    const states = async () => Promise.all(ids.map(async (id) => (await getJob(first.url, id)).job.state));
    await expect.poll(states, { timeout: 20_000, interval: 25 }).toEqual(['processing', 'submitted', 'submitted']);
    await new Promise((resolve) => setTimeout(resolve, 100));

    first.proc.child.kill('SIGSTOP');
    const lapsed = async () => {
      const [row] = await query<{ lease_expires_at: string }>(`select lease_expires_at from $schema.service_instances where id = 'host-1'`);
      return row !== undefined && Date.parse(row.lease_expires_at) < Date.now();
    };
    await expect.poll(lapsed, { timeout: 10_000, interval: 50 }).toBe(true);
    const second = await serve(); // takes the lapsed id, and the jobs with it
    const claimed = (await query<{ started_at: string }>(`select started_at from $schema.service_instances where id = 'host-1'`))[0]!;
    const firstLinesBefore = first.proc.lines.length;

    first.proc.child.kill('SIGCONT');
    const exitCode = await Promise.race([first.proc.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
    expect(exitCode).toBe(1);
    const afterResume = first.proc.lines
      .slice(firstLinesBefore)
      .map((line) => JSON.parse(line) as { msg?: string; err?: { code?: string }; error?: { code?: string; message?: string } });
    const fatal = afterResume.find((entry) => entry.msg === 'chorus-visual lost its instance id and stops');
    expect(fatal?.error).toMatchObject({ code: 'INSTANCE_LEASE_LOST' });
    expect(fatal?.error?.message).toMatch(/^another process took instance id "host-1" after this one stalled for \d+ ms beyond its lease/);
    // It stopped at once: no write of a job attempted (refused by the fence or not), no job handed back.
    expect(afterResume.filter((entry) => /job transition failed|took this job over|restored unfinished jobs|taking over jobs/.test(entry.msg ?? ''))).toEqual(
      [],
    );
    const instance = (
      await query<{ stopped_at: string | null; started_at: string }>(`select stopped_at, started_at from $schema.service_instances where id = 'host-1'`)
    )[0]!;
    expect(instance).toEqual({ stopped_at: null, started_at: claimed.started_at });
    const owners = await query<{ owner_instance: string | null }>(
      `select owner_instance from $schema.visual_generation_jobs where status not in ('completed', 'failed', 'cancelled')`,
    );
    expect(owners.length).toBeGreaterThan(0); // the last job is still in ComfyUI: the retire would have disowned it
    expect(owners.every((row) => row.owner_instance === 'host-1')).toBe(true);

    // The second drives every job to its end: one ComfyUI run each, one unbroken line of events.
    for (const id of ids) {
      await expect.poll(async () => (await getJob(second.url, id)).job.state, { timeout: 30_000, interval: 50 }).toBe('completed');
      const { job, events } = await getJob(second.url, id);
      expect(sim.stats().executions[job.comfy_prompt_id!]).toBe(1);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.slice(1).map((event) => event.from_state)).toEqual(events.slice(0, -1).map((event) => event.to_state));
      expect(events.filter((event) => event.to_state === 'completed')).toHaveLength(1);
    }
    expect(second.proc.child.exitCode).toBeNull();
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
  });
});
