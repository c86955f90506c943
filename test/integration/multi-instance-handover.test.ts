/**
 * Two instances in one process on one PostgreSQL schema and one nats-server: a job query on
 * either names the owner, a cancel received by the instance that does not drive the job
 * reaches its owner, and a cleanly stopped instance hands its queued jobs over at once
 * (no lease TTL to wait out).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp, type ChorusVisualApp } from '../../src/app/chorus-visual-app.js';
import { generateCommandSchema } from '../../src/commands/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import type { JobView } from '../../src/jobs/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../support/nats-server.js';
import { createPostgresSchema } from './db-test-fixtures.js';

describe('two instances sharing PostgreSQL', () => {
  let root: string;
  let nats: NatsTestServer;
  let schema: Awaited<ReturnType<typeof createPostgresSchema>>;
  let sim: SimulatorHandle;
  const apps: ChorusVisualApp[] = [];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cv-multi-'));
    [nats, schema, sim] = await Promise.all([
      NatsTestServer.start(),
      createPostgresSchema(),
      startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 2, previews: false }),
    ]);
  });
  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.stop().catch(() => undefined);
    await sim.close();
    await nats.cleanup();
    await schema.drop();
    await rm(root, { recursive: true, force: true });
  });

  async function start(instanceId: string, http = false): Promise<ChorusVisualApp> {
    const config = parseServiceConfig({
      instance_id: instanceId,
      http: { port: 0 },
      database: { url: schema.url },
      data_dir: join(root, 'data'),
      nats: { servers: [nats.url], subject_prefix: 'multi.test', stream: { name: 'MULTI_TEST' } },
      comfyui: {
        backends: [{ name: 'gpu', url: sim.url, max_concurrent: 1, output_directory: sim.outputDir }],
        connection_retry_attempts: 20,
        polling: { initial_interval_seconds: 0.1, max_interval_seconds: 0.2 },
      },
    });
    const app = await startApp({ config, http, waitForNats: true, runtime: { leaseTtlMs: 60_000 } });
    apps.push(app);
    return app;
  }

  const generate = (app: ChorusVisualApp, n: number) =>
    app.runtime.service.generate(generateCommandSchema.parse({ conversation_id: 'c', workflow: 'no_model_test', prompt: `multi ${n}` })).then((r) => r.job);

  async function waitForState(app: ChorusVisualApp, id: string, states: string[]): Promise<JobView> {
    let job: JobView | undefined;
    await expect
      .poll(
        async () => {
          job = (await app.runtime.service.get(id)).job;
          return states.includes(job.state);
        },
        { timeout: 15_000, interval: 25 },
      )
      .toBe(true);
    return job!;
  }

  it('names the owner on both instances and passes a cancel to the owner', async () => {
    const [a, b] = [await start('inst-a'), await start('inst-b')];
    sim.faults.executionDelayMs(5_000); // the first job occupies the only slot
    const first = await generate(a, 1);
    const second = await generate(a, 2);
    await waitForState(a, first.id, ['processing']);

    expect((await b.runtime.service.get(second.id)).job).toMatchObject({ owner: 'inst-a', state: 'queued' });
    const answered = await b.runtime.service.cancel(second.id);
    expect(answered.owner).toBe('inst-a');
    const cancelled = await waitForState(b, second.id, ['cancelled', 'failed', 'completed']);
    expect(cancelled.state).toBe('cancelled');
    expect(sim.stats().executions[second.comfy_prompt_id!]).toBeUndefined();
    sim.faults.executionDelayMs(0);
  });

  it('a cleanly stopped instance hands its jobs over at once and none runs twice', async () => {
    const [a, b] = [await start('inst-a'), await start('inst-b')];
    sim.faults.refuseConnections(true); // nothing can be submitted: jobs wait in queued
    const jobs = await Promise.all([1, 2, 3].map((n) => generate(a, n)));
    await a.stop();
    apps.splice(apps.indexOf(a), 1);

    await expect.poll(async () => (await b.runtime.service.get(jobs[0]!.id)).job.owner, { timeout: 5_000, interval: 25 }).toBe('inst-b');
    sim.faults.refuseConnections(false);
    for (const job of jobs) {
      const done = await waitForState(b, job.id, ['completed', 'failed', 'cancelled']);
      expect(done.state).toBe('completed');
      expect(sim.stats().executions[done.comfy_prompt_id!]).toBe(1);
    }
  });

  it('/api/backends shows every instance, which one drives each job, and the slots all of them hold', async () => {
    const a = await start('inst-a', true);
    const b = await start('inst-b');
    sim.faults.executionDelayMs(5_000);
    const running = await generate(b, 1);
    await waitForState(b, running.id, ['processing']);
    const body = (await (await fetch(`${a.http!.url}/api/backends`)).json()) as {
      instance_id: string;
      backends: Array<{ name: string; capacity: { in_use: number; in_use_all_instances: number } }>;
      cluster: { instances: Array<{ id: string; alive: boolean }>; owners: Record<string, string> };
    };
    expect(body.instance_id).toBe('inst-a');
    expect(
      body.cluster.instances
        .filter((i) => i.alive)
        .map((i) => i.id)
        .sort(),
    ).toEqual(['inst-a', 'inst-b']);
    expect(body.cluster.owners[running.id]).toBe('inst-b');
    expect(body.backends[0]!.capacity).toMatchObject({ in_use: 0, in_use_all_instances: 1 });
    sim.faults.executionDelayMs(0);
  });
});
