/**
 * The job runtime against the real pieces: the ComfyUI simulator on a free port, SQLite in
 * a temp folder, the real collector, workflows and characters from the repo.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceConfig, type ResolvedConfig } from '../../src/config/index.js';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import type { JobState, JobView } from '../../src/contracts/index.js';
import type { JobService } from '../../src/jobs/index.js';
import type { OutputCollector } from '../../src/files/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

let sim: SimulatorHandle;
let dir: string;
const runtimes: JobRuntime[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, stepDelayMs: 1, nodeDelayMs: 1 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  sim.faults.executionDelayMs(0);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function configFor(opts: { maxConcurrent?: number; maxQueue?: number } = {}): Promise<ResolvedConfig> {
  dir = await mkdtemp(join(tmpdir(), 'jobs-runtime-'));
  return parseServiceConfig({
    comfyui: {
      backends: [{ name: 'sim', url: sim.url, max_concurrent: opts.maxConcurrent ?? 2, output_directory: sim.outputDir }],
      queue: { max_queue_size: opts.maxQueue ?? 10 },
      timeout_seconds: 30,
      // A restarted service has a new socket clientId, so ComfyUI's events for prompts sent
      // before the restart go to the old one: the backend polls for those.
      polling: { initial_interval_seconds: 0.2, max_interval_seconds: 1 },
    },
    data_dir: join(dir, 'data'),
    database: { url: `sqlite:${join(dir, 'jobs.db')}` },
    nats: { enabled: false },
  });
}

async function start(config: ResolvedConfig): Promise<JobRuntime> {
  const runtime = await createJobRuntime(config, { cancelConfirmMs: 3_000 });
  runtimes.push(runtime);
  return runtime;
}

/** Resolves when the job is in `state` (checked now, then on every committed transition). */
async function reach(service: JobService, jobId: string, state: JobState | string): Promise<JobView> {
  return new Promise<JobView>((resolve, reject) => {
    let off = () => {};
    const check = (job: JobView) => {
      if (job.state === state || job.substate === state) {
        off();
        resolve(job);
      }
    };
    off = service.on('transition', (n) => n.jobId === jobId && check(n.job));
    service.get(jobId).then(({ job }) => check(job), reject);
  });
}

const request = {
  conversation_id: 'conv-1',
  character: 'nova',
  user_request: 'a selfie while sketching',
  priority: 0,
  strict_llm: false,
  parameters: { width: 64, height: 64 },
};

describe('job runtime with the simulator and SQLite', () => {
  it('runs a job end to end: one execution, one file with its checksum, ordered events', async () => {
    const runtime = await start(await configFor());
    const { job } = await runtime.service.generate(request);
    const done = await reach(runtime.service, job.id, 'completed');
    expect(done.result?.files.length).toBeGreaterThanOrEqual(1);
    const file = done.result!.files[0]!;
    const bytes = await readFile(file.absolutePath);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
    expect(file.path).toContain(join('conversations', 'conv-1'));
    expect(sim.stats().executions[done.comfy_prompt_id!]).toBe(1);
    expect(done.timings.total_ms).not.toBeNull();
    const { events, debug } = await runtime.service.get(job.id, { debug: true });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.to_state).toBe('completed');
    expect(debug).toMatchObject({ workflow_used: 'nova_portrait', workflow: { name: 'nova_portrait' }, comfy_submission: { prompt_id: done.comfy_prompt_id } });
  });

  it("a clean stop settles the collector's background work (the fsyncs of ComfyUI's folder that moved files left)", async () => {
    const runtime = await start(await configFor());
    const { job } = await runtime.service.generate(request);
    await reach(runtime.service, job.id, 'completed');
    const collector = runtime.collector as OutputCollector;
    let settled = false;
    const settle = collector.settle.bind(collector);
    collector.settle = async () => {
      await settle();
      settled = true;
    };
    await runtime.stop();
    runtimes.splice(runtimes.indexOf(runtime), 1);
    expect(settled).toBe(true);
  });

  it('cancels in queued, submitted (ComfyUI queue) and processing (targeted interrupt)', async () => {
    const runtime = await start(await configFor({ maxConcurrent: 2 }));
    sim.faults.executionDelayMs(1_500);
    const a = (await runtime.service.generate(request)).job;
    await reach(runtime.service, a.id, 'processing');
    const b = (await runtime.service.generate(request)).job;
    await reach(runtime.service, b.id, 'submitted');
    const c = (await runtime.service.generate(request)).job;
    await reach(runtime.service, c.id, 'queued.waiting');

    expect((await runtime.service.cancel(c.id)).state).toBe('cancelled');
    await runtime.service.cancel(b.id);
    const bDone = await reach(runtime.service, b.id, 'cancelled');
    await runtime.service.cancel(a.id);
    const t0 = Date.now();
    const aDone = await reach(runtime.service, a.id, 'cancelled');
    // ComfyUI confirmed (the interrupt landed at the next node boundary), no confirm timeout.
    expect(Date.now() - t0).toBeLessThan(3_000);
    const history = (await (await fetch(`${sim.url}/history/${aDone.comfy_prompt_id}`)).json()) as Record<string, { status: { messages: [string][] } }>;
    expect(history[aDone.comfy_prompt_id!]?.status.messages.map((m) => m[0])).toContain('execution_interrupted');
    const stats = sim.stats();
    expect(stats.executions[bDone.comfy_prompt_id!]).toBeUndefined();
    expect(stats.executions[aDone.comfy_prompt_id!]).toBe(1);
    const { events } = await runtime.service.get(a.id);
    expect(events.map((e) => e.to_state)).toContain('processing.cancelling');
  });

  it('refuses with QUEUE_FULL beyond max_queue_size, persisting nothing', async () => {
    const runtime = await start(await configFor({ maxQueue: 1 }));
    sim.faults.executionDelayMs(2_000);
    const a = (await runtime.service.generate(request)).job;
    await expect(runtime.service.generate(request)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect((await runtime.service.list({ limit: 50, offset: 0 })).total).toBe(1);
    await runtime.service.cancel(a.id);
    await reach(runtime.service, a.id, 'cancelled');
  });

  it('restores after a restart in-process: the job completes and ComfyUI ran it once', async () => {
    const config = await configFor();
    const first = await start(config);
    sim.faults.executionDelayMs(600);
    const { job } = await first.service.generate(request);
    const processing = await reach(first.service, job.id, 'processing');
    await first.stop();
    runtimes.splice(runtimes.indexOf(first), 1);

    const second = await start(config);
    expect(second.restored).toBe(1);
    const done = await reach(second.service, job.id, 'completed');
    expect(done.comfy_prompt_id).toBe(processing.comfy_prompt_id);
    expect(sim.stats().executions[done.comfy_prompt_id!]).toBe(1);
    const { events } = await second.service.get(job.id);
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('restores jobs stopped in queued, submitted and processing: each completes, each prompt ran once', async () => {
    const config = await configFor({ maxConcurrent: 2 });
    const first = await start(config);
    sim.faults.executionDelayMs(500);
    const a = (await first.service.generate(request)).job;
    await reach(first.service, a.id, 'processing');
    const b = (await first.service.generate(request)).job;
    await reach(first.service, b.id, 'submitted');
    const c = (await first.service.generate(request)).job;
    await reach(first.service, c.id, 'queued.waiting');
    await first.stop();
    runtimes.splice(runtimes.indexOf(first), 1);
    sim.faults.executionDelayMs(0);

    const second = await start(config);
    expect(second.restored).toBe(3);
    const done = await Promise.all([a, b, c].map((j) => reach(second.service, j.id, 'completed')));
    const stats = sim.stats();
    for (const job of done) expect(stats.executions[job.comfy_prompt_id!]).toBe(1);
    expect(done[0]!.comfy_prompt_id).toBe(a.comfy_prompt_id);
    expect(done[1]!.comfy_prompt_id).toBe(b.comfy_prompt_id);
  });
});
