/**
 * A prompt ComfyUI loses after the queue-wait limit has passed is submitted again, not failed
 * QUEUE_WAIT_TIMEOUT: against the real simulator's restart, with a queue-wait limit (1 s)
 * shorter than the prompt (3 s), so the loss comes well after the job's first deadline.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCommandSchema } from '../../src/commands/command-schemas.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import type { JobTransitionNotice } from '../../src/jobs/job-service-events.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

let sim: SimulatorHandle;
let root: string;
let runtime: JobRuntime;

beforeAll(async () => {
  sim = await startSimulator({ stepDelayMs: 2, nodeDelayMs: 1 });
  root = await mkdtemp(join(tmpdir(), 'cv-resubmit-'));
  const workflows = join(root, 'workflows');
  await mkdir(workflows);
  await copyFile('workflows/no_model_test.json', join(workflows, 'no_model_test.json'));
  const config = parseServiceConfig({
    comfyui: {
      backends: [{ name: 'sim', url: sim.url, max_concurrent: 1, output_directory: sim.outputDir }],
      queue_wait_timeout_seconds: 1,
      timeout_seconds: 30,
      max_resubmits: 2,
      polling: { initial_interval_seconds: 0.1, max_interval_seconds: 0.3 },
    },
    data_dir: join(root, 'data'),
    workflows_dir: workflows,
    database: { url: `sqlite:${join(root, 'jobs.db')}` },
    nats: { enabled: false },
  });
  runtime = await createJobRuntime(config, { cancelConfirmMs: 1_000 });
});
afterAll(async () => {
  await runtime?.stop();
  await sim?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

function transitionTo(jobId: string, states: string[]): Promise<JobTransitionNotice> {
  return new Promise((resolve) => {
    const off = runtime.service.on('transition', (notice) => {
      if (notice.jobId === jobId && states.includes(notice.job.state)) {
        off();
        resolve(notice);
      }
    });
  });
}

describe('resubmission after the queue-wait limit (simulator restart)', () => {
  it('a job lost by a ComfyUI restart 2 s into a 3 s prompt, with a 1 s queue-wait limit, is resubmitted and completes', async () => {
    sim.faults.executionDelayMs(3_000);
    const { job } = await runtime.service.generate(
      generateCommandSchema.parse({ conversation_id: 'c-resubmit', workflow: 'no_model_test', prompt: 'a red square' }),
    );
    const processing = transitionTo(job.id, ['processing', 'failed']);
    const ended = transitionTo(job.id, ['completed', 'failed', 'cancelled']);
    expect((await processing).job.state).toBe('processing');

    // Let the queue-wait limit pass (counted from admission) while ComfyUI runs the prompt.
    const admittedAt = Date.parse(job.created_at);
    await new Promise((r) => setTimeout(r, Math.max(0, admittedAt + 2_000 - Date.now())));
    expect(Date.now() - admittedAt).toBeGreaterThan(1_000);
    const backToQueue = transitionTo(job.id, ['queued', 'failed']);
    await sim.restart();

    const requeued = await backToQueue;
    expect(requeued.job.state).toBe('queued');
    const final = (await ended).job;
    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');
    const { events } = await runtime.service.get(job.id);
    const path = events.map((e) => e.to_state);
    // Lost once, submitted again under a new prompt id, never QUEUE_WAIT_TIMEOUT.
    expect(path.filter((to) => to.startsWith('submitted'))).toHaveLength(2);
    expect(JSON.stringify(events)).not.toMatch(/QUEUE_WAIT_TIMEOUT/);
  }, 20_000);
});
