/**
 * The timing breakdown through the real runtime and the ComfyUI simulator, in the two cases
 * where the last submission's stamps used to lie: a prompt ComfyUI forgot (simulator
 * restart → resubmitted under a new prompt id), and a prompt that finished while the
 * service was stopped (found in /history by the next start). The parts add up to the total.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCommandSchema } from '../../src/commands/command-schemas.js';
import { parseServiceConfig, type ResolvedConfig } from '../../src/config/index.js';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import type { JobTimings } from '../../src/contracts/job-view.js';
import type { JobTransitionNotice } from '../../src/jobs/job-service-events.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { ComfyBackendClient } from '../../src/comfy/index.js';

let sim: SimulatorHandle;
let root: string;
let config: ResolvedConfig;
const runtimes: JobRuntime[] = [];

beforeAll(async () => {
  sim = await startSimulator({ stepDelayMs: 2, nodeDelayMs: 1 });
  root = await mkdtemp(join(tmpdir(), 'cv-timings-'));
  const workflows = join(root, 'workflows');
  await mkdir(workflows);
  await copyFile('workflows/no_model_test.json', join(workflows, 'no_model_test.json'));
  config = parseServiceConfig({
    comfyui: {
      backends: [{ name: 'sim', url: sim.url, max_concurrent: 1, output_directory: sim.outputDir }],
      timeout_seconds: 30,
      max_resubmits: 2,
      polling: { initial_interval_seconds: 0.1, max_interval_seconds: 0.3 },
    },
    data_dir: join(root, 'data'),
    workflows_dir: workflows,
    database: { url: `sqlite:${join(root, 'jobs.db')}` },
    nats: { enabled: false },
  });
});
afterAll(async () => {
  for (const runtime of runtimes) await runtime.stop();
  await sim?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function startRuntime(): Promise<JobRuntime> {
  const runtime = await createJobRuntime(config, { cancelConfirmMs: 1_000, startDriving: false });
  runtimes.push(runtime);
  return runtime;
}

function transitionTo(runtime: JobRuntime, jobId: string, states: string[]): Promise<JobTransitionNotice> {
  return new Promise((resolve) => {
    const off = runtime.service.on('transition', (notice) => {
      if (notice.jobId === jobId && states.includes(notice.job.state)) {
        off();
        resolve(notice);
      }
    });
  });
}

const ms = (iso: unknown) => Date.parse(iso as string);
/** Every part of the breakdown, unknown ones (null) counting 0. */
const sumOfParts = (t: JobTimings) =>
  [t.queue_wait_ms, t.lost_ms, t.comfy_queue_wait_ms, t.generation_ms, t.service_down_ms, t.file_move_ms].reduce<number>((sum, part) => sum + (part ?? 0), 0);

type RunEntry = {
  prompt_id: string;
  submitted_at: string;
  started_at: string | null;
  outcome: string | null;
  comfy_ran_ms: number | null;
  found_after_restart: boolean;
};

describe('job timings through the runtime', () => {
  it('a prompt lost by a ComfyUI restart: queue wait ends at the first submission, the forgotten run is lost time', async () => {
    const runtime = await startRuntime();
    await runtime.begin();
    sim.faults.executionDelayMs(1_500);
    const { job } = await runtime.service.generate(
      generateCommandSchema.parse({ conversation_id: 'c-lost', workflow: 'no_model_test', prompt: 'a red square' }),
    );
    const processing = transitionTo(runtime, job.id, ['processing', 'failed']);
    const ended = transitionTo(runtime, job.id, ['completed', 'failed', 'cancelled']);
    expect((await processing).job.state).toBe('processing');
    // ComfyUI runs the first prompt for a while, then restarts and forgets it.
    await new Promise((r) => setTimeout(r, 600));
    await sim.restart();
    const final = (await ended).job;
    expect(final.state).toBe('completed');

    const { debug } = await runtime.service.get(job.id, { debug: true });
    const runs = debug?.['runs'] as RunEntry[];
    const timing = debug?.['timing'] as JobTimings;
    expect(runs.map((run) => run.outcome)).toEqual(['lost', 'succeeded']);
    expect(runs[1]!.prompt_id).not.toBe(runs[0]!.prompt_id);
    expect(debug).toMatchObject({ resubmits: 1, attempts: 2 });
    const created = ms(final.created_at);
    // The queue wait is the wait before ComfyUI first had the job, not before its last run.
    expect(timing.queue_wait_ms).toBe(ms(runs[0]!.submitted_at) - created);
    expect(timing.queue_wait_ms).toBeLessThan(ms(runs[1]!.submitted_at) - created - 600);
    // The first run ran at least 600 ms before ComfyUI forgot it: that time is lost, nowhere else.
    expect(timing.lost_ms).toBe(ms(runs[1]!.submitted_at) - ms(runs[0]!.submitted_at));
    expect(timing.lost_ms).toBeGreaterThanOrEqual(600);
    // The run that made the picture: its own wait and its 1.5 s of execution.
    expect(timing.comfy_queue_wait_ms).toBe(ms(runs[1]!.started_at) - ms(runs[1]!.submitted_at));
    expect(timing.generation_ms).toBeGreaterThanOrEqual(1_400);
    expect(timing.generation_ms).toBeLessThan(1_500 + 600);
    expect(timing.service_down_ms).toBe(0);
    expect(Math.abs(sumOfParts(timing) - (timing.total_ms ?? 0))).toBeLessThanOrEqual(3);
    // The job's own stamps stay those of the prompt id it shows (the last run's).
    expect(final.comfy_prompt_id).toBe(runs[1]!.prompt_id);
    expect(final.submitted_at).toBe(runs[1]!.submitted_at);
  }, 20_000);

  it('a prompt that finished while the service was stopped: ComfyUI’s execution time is generation, the wait for the restart is service down', async () => {
    const first = await startRuntime();
    await first.begin();
    sim.faults.executionDelayMs(1_500);
    const { job } = await first.service.generate(
      generateCommandSchema.parse({ conversation_id: 'c-down', workflow: 'no_model_test', prompt: 'a blue square' }),
    );
    expect((await transitionTo(first, job.id, ['processing', 'failed'])).job.state).toBe('processing');
    await first.stop();

    // The prompt finishes in ComfyUI while no service watches; the outage lasts 1 s beyond that.
    const history = async () => (await (await fetch(`${sim.url}/history/${job.comfy_prompt_id}`)).json()) as Record<string, unknown>;
    // ComfyUI finished after the last poll that found no entry was sent: a bound from below on
    // its end stamp (the poll that finds the entry comes up to an interval later).
    let notYetFinishedAt = Date.now();
    for (;;) {
      const askedAt = Date.now();
      if (Object.keys(await history()).length > 0) break;
      notYetFinishedAt = askedAt;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1_000));

    const second = await startRuntime();
    const ended = transitionTo(second, job.id, ['completed', 'failed', 'cancelled']);
    expect(await second.begin()).toBe(1);
    const final = (await ended).job;
    expect(final.state).toBe('completed');

    const { debug } = await second.service.get(job.id, { debug: true });
    const runs = debug?.['runs'] as RunEntry[];
    const timing = debug?.['timing'] as JobTimings;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ outcome: 'succeeded', found_after_restart: true });
    expect(runs[0]!.comfy_ran_ms).toBeGreaterThanOrEqual(1_400);
    expect(timing.generation_ms).toBe(runs[0]!.comfy_ran_ms);
    // Not counted as generation (the old breakdown said ≥ 2.5 s here): waiting for the restart.
    expect(timing.generation_ms).toBeLessThan(2_000);
    expect(timing.service_down_ms).toBeGreaterThanOrEqual(950);
    expect(timing.service_down_ms).toBeLessThanOrEqual(ms(final.finished_at) - notYetFinishedAt);
    expect(timing.lost_ms).toBe(0);
    expect(Math.abs(sumOfParts(timing) - (timing.total_ms ?? 0))).toBeLessThanOrEqual(3);
  }, 20_000);
});

/**
 * A first service whose POST /prompt reaches ComfyUI but whose job never hears the reply: it
 * stops first, leaving the job stored in queued.submitting. Resolves once ComfyUI has the prompt,
 * with `sentBy`: a time at or after the job began sending it (and after it was created).
 */
async function stopWhileSubmitting(conversation: string): Promise<{ jobId: string; promptId: string; sentBy: number }> {
  const client = new ComfyBackendClient(config.resolvedBackends[0]!, { pollInitialMs: 100, pollMaxMs: 300 });
  await client.start();
  let reached!: () => void;
  const sent = new Promise<void>((resolve) => (reached = resolve));
  const submit = client.submit.bind(client);
  client.submit = async (request) => {
    await submit(request);
    reached();
    return new Promise<never>(() => undefined);
  };
  const first = await createJobRuntime(config, { cancelConfirmMs: 1_000, startDriving: false, backends: [client] });
  runtimes.push(first);
  await first.begin();
  const { job } = await first.service.generate(
    generateCommandSchema.parse({ conversation_id: conversation, workflow: 'no_model_test', prompt: 'a green square' }),
  );
  await sent;
  const sentBy = Date.now();
  await first.stop();
  await client.close();
  return { jobId: job.id, promptId: job.comfy_prompt_id!, sentBy };
}

/** When the job last began sending its prompt: its transition into queued.submitting. */
async function sendingAt(runtime: JobRuntime, jobId: string): Promise<number> {
  const { events } = await runtime.service.get(jobId);
  return ms(events.filter((event) => event.to_state === 'queued.submitting').at(-1)?.at);
}

describe('job timings of a job the service stopped while it was sending the prompt', () => {
  it('found finished after the restart: queue wait ends when it was sent, ComfyUI’s execution time is generation, the rest is service down', async () => {
    sim.faults.executionDelayMs(1_500);
    const { jobId, promptId, sentBy } = await stopWhileSubmitting('c-sent-done');
    const history = async () => (await (await fetch(`${sim.url}/history/${promptId}`)).json()) as Record<string, unknown>;
    while (Object.keys(await history()).length === 0) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1_000));

    const second = await startRuntime();
    expect((await second.service.get(jobId)).job.substate).toBe('queued.submitting');
    const ended = transitionTo(second, jobId, ['completed', 'failed', 'cancelled']);
    expect(await second.begin()).toBe(1);
    const final = (await ended).job;
    expect(final.state).toBe('completed');
    expect(sim.stats().executions[promptId]).toBe(1); // found, not sent again

    const { debug } = await second.service.get(jobId, { debug: true });
    const runs = debug?.['runs'] as RunEntry[];
    const timing = debug?.['timing'] as JobTimings;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ prompt_id: promptId, started_at: null, outcome: 'succeeded', found_after_restart: true });
    expect(ms(runs[0]!.submitted_at)).toBe(await sendingAt(second, jobId));
    // Not the ≥ 2.5 s until a service found it again (the old breakdown's queue wait): it ended
    // before the first service stopped, more than 2.5 s before the second one began.
    expect(timing.queue_wait_ms).toBe(ms(runs[0]!.submitted_at) - ms(final.created_at));
    expect(timing.queue_wait_ms).toBeLessThanOrEqual(sentBy - ms(final.created_at));
    expect(runs[0]!.comfy_ran_ms).toBeGreaterThanOrEqual(1_400);
    expect(timing.generation_ms).toBe(runs[0]!.comfy_ran_ms);
    // Never seen starting: its wait in ComfyUI's queue cannot be told from the outage.
    expect(timing.comfy_queue_wait_ms).toBeNull();
    expect(timing.service_down_ms).toBeGreaterThanOrEqual(950);
    expect(timing.lost_ms).toBe(0);
    expect(Math.abs(sumOfParts(timing) - (timing.total_ms ?? 0))).toBeLessThanOrEqual(3);
  }, 20_000);

  it('found still running after the restart: queue wait ends when it was sent, the outage before its run is ComfyUI queue wait', async () => {
    // ComfyUI keeps the prompt running until the second service has found it running, however
    // long its start takes on a loaded machine.
    sim.faults.executionDelayMs(0);
    sim.faults.holdExecution(true);
    try {
      const { jobId, promptId, sentBy } = await stopWhileSubmitting('c-sent-running');
      const running = async () => ((await (await fetch(`${sim.url}/queue`)).json()) as { queue_running: unknown[][] }).queue_running;
      while (!(await running()).some((entry) => entry[1] === promptId)) await new Promise((r) => setTimeout(r, 50));
      // ComfyUI stamps a run's start as it moves it to running, before /queue can show it there.
      const runningBy = Date.now();
      // Part of the run lies before the second service: a breakdown that counted only what it saw
      // would fall short of the bound below by this much.
      await new Promise((r) => setTimeout(r, 800));

      const second = await startRuntime();
      expect((await second.service.get(jobId)).job.substate).toBe('queued.submitting');
      const processing = transitionTo(second, jobId, ['processing', 'completed', 'failed', 'cancelled']);
      const ended = transitionTo(second, jobId, ['completed', 'failed', 'cancelled']);
      expect(await second.begin()).toBe(1);
      expect((await processing).job.state).toBe('processing');
      const releasedAt = Date.now();
      sim.faults.holdExecution(false);
      const final = (await ended).job;
      expect(final.state).toBe('completed');
      expect(sim.stats().executions[promptId]).toBe(1);

      const { debug } = await second.service.get(jobId, { debug: true });
      const runs = debug?.['runs'] as RunEntry[];
      const timing = debug?.['timing'] as JobTimings;
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ prompt_id: promptId, outcome: 'succeeded', found_after_restart: false });
      expect(ms(runs[0]!.submitted_at)).toBe(await sendingAt(second, jobId));
      expect(timing.queue_wait_ms).toBe(ms(runs[0]!.submitted_at) - ms(final.created_at));
      expect(timing.queue_wait_ms).toBeLessThanOrEqual(sentBy - ms(final.created_at));
      // ComfyUI's whole run, not only the part after the restart (seen from its start on): it
      // started by runningBy and ended after the release.
      expect(runs[0]!.comfy_ran_ms).toBeGreaterThanOrEqual(releasedAt - runningBy);
      expect(timing.generation_ms).toBe(runs[0]!.comfy_ran_ms);
      expect(timing.service_down_ms).toBe(0);
      expect(Math.abs(sumOfParts(timing) - (timing.total_ms ?? 0))).toBeLessThanOrEqual(3);
    } finally {
      sim.faults.holdExecution(false);
    }
  }, 20_000);
});
