import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BackendPool } from '../../src/comfy/index.js';
import { CharacterRegistry } from '../../src/characters/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { VisualPromptComposer } from '../../src/prompts/index.js';
import { WorkflowLibrary } from '../../src/workflows/index.js';
import { JobService, type JobCoordination } from '../../src/jobs/job-service.js';
import type { InstanceCoordinator, SlotLedger } from '../../src/contracts/instance-coordination-port.js';
import type { CollectorPort, WorkflowsPort } from '../../src/jobs/job-runtime-ports.js';
import type { JobTransitionNotice } from '../../src/jobs/job-service-events.js';
import type { CollectRequest } from '../../src/files/index.js';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';
import { FakeJobStore } from '../support/fake-job-store.js';

const workflows = await WorkflowLibrary.load('workflows');
const characters = await CharacterRegistry.load('config/characters', workflows);
const files = [{ nodeId: '9', key: 'images', filename: 'out.png', subfolder: '', type: 'output' }];

class RecordingCollector implements CollectorPort {
  readonly requests: CollectRequest[] = [];
  async collect(request: CollectRequest) {
    this.requests.push(request);
    return { files: [], metadataPath: `conversations/${request.conversationId}/images/${request.jobId}_metadata.json` };
  }
}

const services: JobService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
});

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }, lines };
}

function build(
  opts: {
    store?: FakeJobStore;
    backend?: FakeComfyBackend;
    /** The pool, when it is more than `backend`. */
    backends?: FakeComfyBackend[];
    maxQueue?: number;
    clock?: SimulatedClock;
    workflows?: WorkflowsPort;
    logger?: ReturnType<typeof recordingLogger>['logger'];
    queueWaitSeconds?: number;
    coordination?: JobCoordination;
  } = {},
) {
  const store = opts.store ?? new FakeJobStore();
  const backend = opts.backend ?? new FakeComfyBackend('gpu0', 2);
  const clock = opts.clock ?? new SimulatedClock();
  if (!opts.clock) clock.set(Date.parse('2026-11-25T12:00:00Z'));
  const collector = new RecordingCollector();
  const config = parseServiceConfig({
    comfyui: { queue: { max_queue_size: opts.maxQueue ?? 10 }, timeout_seconds: 60, queue_wait_timeout_seconds: opts.queueWaitSeconds ?? 3600 },
  });
  let kicks = 0;
  const service = new JobService({
    store,
    pool: new BackendPool(opts.backends ?? [backend]),
    workflows: opts.workflows ?? workflows,
    characters,
    composer: new VisualPromptComposer(undefined),
    collector,
    config,
    clock,
    onPersisted: () => kicks++,
    cancelConfirmMs: 1_000,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.coordination ? { coordination: opts.coordination } : {}),
  });
  services.push(service);
  const notices: JobTransitionNotice[] = [];
  service.on('transition', (n) => notices.push(n));
  const reached = (jobId: string, to: string) =>
    new Promise<JobTransitionNotice>((resolve) => {
      const found = notices.find((n) => n.jobId === jobId && (n.to === to || n.job.state === to));
      if (found) return resolve(found);
      const off = service.on('transition', (n) => {
        if (n.jobId === jobId && (n.to === to || n.job.state === to)) {
          off();
          resolve(n);
        }
      });
    });
  return { service, store, backend, clock, collector, notices, reached, kicks: () => kicks };
}

const generate = { conversation_id: 'c1', character: 'nova', user_request: 'a selfie while sketching', priority: 0, strict_llm: false, parameters: {} };

describe('JobService', () => {
  it('a job keeps the graph it was admitted with, whatever the library serves after admission', async () => {
    const admitted = workflows.get('no_model_test');
    const node = admitted.graph['3']!;
    const edited = { ...admitted, graph: { ...admitted.graph, '3': { ...node, inputs: { ...node.inputs, color: 123 } } } };
    let reads = 0;
    // The first read is admission's; every later one sees the file as saved since.
    const swapping: WorkflowsPort = { get: () => (reads++ === 0 ? admitted : edited), list: () => [admitted] };
    const t = build({ workflows: swapping });
    const { job } = await t.service.generate({ ...generate, character: undefined, workflow: 'no_model_test', prompt: 'a lighthouse' });
    await t.reached(job.id, 'submitted');
    expect(t.backend.submits[0]!.prompt['3']!.inputs['color']).toBe(node.inputs['color']);
    expect(reads).toBe(1);
  });

  it('runs a job end to end, storing the prompt id before it is sent', async () => {
    const t = build();
    const storedAtSubmit: unknown[] = [];
    t.backend.onSubmit = (req) => {
      const row = t.store.rows.get(req.jobId)!;
      storedAtSubmit.push({ substate: row.substate, promptId: row.comfy_prompt_id });
    };
    const { job, created } = await t.service.generate(generate);
    expect(created).toBe(true);
    expect(job.state).toBe('queued');
    expect(job.workflow).toBe('nova_portrait');
    const submitted = await t.reached(job.id, 'submitted');
    expect(storedAtSubmit).toEqual([{ substate: 'queued.submitting', promptId: job.comfy_prompt_id }]);
    expect(t.backend.submits[0]).toMatchObject({ promptId: job.comfy_prompt_id, jobId: job.id });
    expect(submitted.job).toMatchObject({ backend: 'gpu0', attempts: 1, prompt_source: 'template' });
    expect(JSON.stringify(t.backend.submits[0]!.prompt)).not.toContain('PLACEHOLDER');
    // The graph is stored once in its own column; the snapshot every transition rewrites leaves it out.
    const stored = t.store.rows.get(job.id)!;
    expect(stored.comfy_graph).toEqual(t.backend.submits[0]!.prompt);
    expect(JSON.stringify(stored.snapshot)).not.toContain('"apiPrompt"');

    const promptId = job.comfy_prompt_id!;
    t.clock.increment(2_000);
    t.backend.play({ type: 'started', promptId, at: 0 });
    await t.reached(job.id, 'processing');
    const progress: number[] = [];
    t.service.on('progress', (p) => progress.push(p.progress.value));
    t.backend.play({ type: 'progress', promptId, node: '3', value: 5, max: 20 });
    expect(progress).toEqual([5]);
    t.clock.increment(3_000);
    t.backend.play({ type: 'succeeded', promptId, outputs: {}, files, at: 0 });
    const done = await t.reached(job.id, 'completed');
    expect(t.collector.requests[0]).toMatchObject({ jobId: job.id, conversationId: 'c1', files, mode: 'auto', localMode: 'move' });
    expect(done.job.timings).toMatchObject({ queue_wait_ms: 0, comfy_queue_wait_ms: 2_000, generation_ms: 3_000, file_move_ms: 0, total_ms: 5_000 });
    expect(done.job.result?.metadataPath).toContain(job.id);

    const events = t.store.events.filter((e) => e.job_id === job.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual(['created', 'waiting', 'submitting', 'submitted', 'processing', 'moving', 'completed']);
    expect(events.every((e) => (e.data['job'] as { id: string }).id === job.id)).toBe(true);
    expect(t.kicks()).toBe(events.length);

    const { debug } = await t.service.get(job.id, { debug: true });
    expect(debug).toMatchObject({
      workflow_used: 'nova_portrait',
      workflow: { name: 'nova_portrait' },
      prompt_components: { user: 'a selfie while sketching' },
      comfy_submission: { prompt_id: promptId, queue_position: 0 },
      timing: { generation_ms: 3_000 },
    });
    expect((debug!['transitions'] as unknown[]).length).toBe(7);
    expect(t.service.activeCount()).toBe(0);
  });

  it('a request over the prompt cap is shortened, not dropped: the stored prompt keeps the trigger words and look, and says it was cut', async () => {
    const t = build();
    const userRequest = 'please draw '.repeat(120); // 1440 characters, no commas: over the 1200 cap on its own
    const { job } = await t.service.generate({ ...generate, user_request: userRequest });
    await t.reached(job.id, 'submitted');
    const stored = t.store.rows.get(job.id)!;
    const prompt = stored.prompt!;
    expect(prompt.length).toBeLessThanOrEqual(1200);
    expect(prompt.startsWith('nova_character, please draw please draw')).toBe(true);
    expect(prompt).toContain('silver-streaked dark hair in a loose braid');
    expect(prompt).toContain('high quality');
    expect(JSON.stringify(t.backend.submits[0]!.prompt)).toContain(prompt.slice(0, 60));
    const { debug } = await t.service.get(job.id, { debug: true });
    expect(debug!['prompt_truncated']).toMatchObject({ max_chars: 1200, cut: [expect.stringMatching(/^user request shortened from 1439 to \d+ characters$/)] });
  });

  it('refuses unknown workflows and characters before persisting anything', async () => {
    const t = build();
    await expect(t.service.generate({ ...generate, character: 'nobody' })).rejects.toMatchObject({ code: 'CHARACTER_NOT_FOUND' });
    await expect(t.service.generate({ ...generate, workflow: 'nope' })).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND' });
    expect(t.store.rows.size).toBe(0);
  });

  it('QUEUE_FULL beyond max_queue_size; request_id makes one job', async () => {
    const t = build({ maxQueue: 1 });
    const a = await t.service.generate({ ...generate, request_id: 'r1' });
    const again = await t.service.generate({ ...generate, request_id: 'r1' });
    expect(again).toMatchObject({ created: false, job: { id: a.job.id } });
    await expect(t.service.generate(generate)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(t.store.rows.size).toBe(1);
  });

  it('keeps max_concurrent jobs in ComfyUI; the next is sent when one leaves', async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1) });
    const a = await t.service.generate(generate);
    const b = await t.service.generate(generate);
    await t.reached(a.job.id, 'submitted');
    await t.reached(b.job.id, 'queued.waiting');
    expect(t.backend.submits).toHaveLength(1);
    t.backend.play({
      type: 'failed',
      promptId: a.job.comfy_prompt_id!,
      failure: { nodeId: '3', nodeType: 'KSampler', exceptionType: 'E', exceptionMessage: 'boom' },
      outputs: {},
      at: 0,
    });
    const failed = await t.reached(a.job.id, 'failed');
    expect(failed.job.error?.code).toBe('EXECUTION_ERROR');
    await t.reached(b.job.id, 'submitted');
    expect(t.backend.submits.map((s) => s.jobId)).toEqual([a.job.id, b.job.id]);
  });

  it('cancel while processing interrupts that prompt and waits for ComfyUI to confirm', async () => {
    const t = build();
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    t.backend.play({ type: 'started', promptId: job.comfy_prompt_id!, at: 0 });
    await t.reached(job.id, 'processing');
    const view = await t.service.cancel(job.id);
    expect(view.substate).toBe('processing.cancelling');
    await new Promise((r) => setImmediate(r));
    expect(t.backend.interrupts).toEqual([job.comfy_prompt_id]);
    t.backend.play({ type: 'interrupted', promptId: job.comfy_prompt_id!, nodeId: '3', at: 0 });
    await t.reached(job.id, 'cancelled');
    expect((await t.service.cancel(job.id)).state).toBe('cancelled');
    await expect(t.service.cancel('missing')).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });

  it('cancel while queued drops it without touching ComfyUI', async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1) });
    const a = await t.service.generate(generate);
    const b = await t.service.generate(generate);
    await t.reached(b.job.id, 'queued.waiting');
    expect((await t.service.cancel(b.job.id)).state).toBe('cancelled');
    expect(t.backend.deletes).toEqual([]);
    await t.reached(a.job.id, 'submitted');
  });

  it('restores a processing job after a restart: locates it, keeps watching, never re-sends', async () => {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 2);
    const first = build({ store, backend });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'submitted');
    backend.play({ type: 'started', promptId: job.comfy_prompt_id!, at: 0 });
    await first.reached(job.id, 'processing');
    await first.service.stop();
    expect(backend.watching(job.comfy_prompt_id!)).toBe(0);
    expect(backend.interrupts).toEqual([]); // going away does not interrupt ComfyUI

    const second = build({ store, backend });
    expect(await second.service.restore()).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(backend.locates).toEqual([job.comfy_prompt_id]);
    expect(backend.watching(job.comfy_prompt_id!)).toBe(1);
    expect(second.service.scheduler.inUse('gpu0')).toBe(1);
    backend.play({ type: 'succeeded', promptId: job.comfy_prompt_id!, outputs: {}, files, at: 0 });
    await second.reached(job.id, 'completed');
    expect(backend.submits).toHaveLength(1);
    const seqs = store.events.filter((e) => e.job_id === job.id).map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("stops once: a second stop, during the first or after it, gets the first one's outcome", async () => {
    const t = build();
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    // The app stops the service, then the runtime's stop stops it again.
    const stopping = t.service.stop();
    expect(t.service.stop()).toBe(stopping);
    await stopping;
    expect(t.service.stop()).toBe(stopping);
    expect(t.backend.watching(job.comfy_prompt_id!)).toBe(0);
    expect(t.backend.interrupts).toEqual([]);
  });

  it('a job restored in queued.submitting whose POST got through is not sent again', async () => {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 2);
    let release!: () => void;
    backend.submitGate = new Promise((r) => (release = r));
    const first = build({ store, backend });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'queued.submitting');
    await new Promise((r) => setImmediate(r));
    expect(backend.submits).toHaveLength(1); // in flight
    await first.service.stop();
    release();
    backend.submitGate = null;

    const second = build({ store, backend });
    await second.service.restore();
    await second.reached(job.id, 'submitted');
    await new Promise((r) => setImmediate(r));
    expect(backend.submits).toHaveLength(1);
    // Looked up before deciding not to send, and again by the watch (it may have finished meanwhile).
    expect(backend.locates).toEqual([job.comfy_prompt_id, job.comfy_prompt_id]);
  });

  it('a restored job whose prompt ComfyUI forgot is resubmitted under a new prompt id', async () => {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 2);
    const first = build({ store, backend });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'submitted');
    await first.service.stop();
    backend.locations.clear(); // ComfyUI restarted meanwhile

    const second = build({ store, backend });
    await second.service.restore();
    await new Promise<void>((resolve) => {
      const check = () => second.notices.some((n) => n.job.state === 'submitted') && resolve();
      second.service.on('transition', check);
      check();
    });
    const resent = second.notices.find((n) => n.job.state === 'submitted')!;
    expect(second.service.scheduler.inUse('gpu0')).toBe(1);
    expect(resent.job.comfy_prompt_id).not.toBe(job.comfy_prompt_id);
    expect(backend.submits.map((s) => s.promptId)).toEqual([job.comfy_prompt_id, resent.job.comfy_prompt_id]);
  });

  it('times out a generation on the service clock, counted from execution start', async () => {
    const t = build();
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    t.clock.increment(120_000); // a long ComfyUI queue is not a slow generation
    await new Promise((r) => setImmediate(r));
    expect((await t.service.get(job.id)).job.state).toBe('submitted');
    t.backend.play({ type: 'started', promptId: job.comfy_prompt_id!, at: 0 });
    await t.reached(job.id, 'processing');
    t.clock.increment(60_000);
    await t.reached(job.id, 'processing.timingOut');
    await new Promise((r) => setImmediate(r));
    expect(t.backend.interrupts).toEqual([job.comfy_prompt_id]);
    t.backend.play({ type: 'interrupted', promptId: job.comfy_prompt_id!, nodeId: '3', at: 0 });
    const failed = await t.reached(job.id, 'failed');
    expect(failed.job.error?.code).toBe('GENERATION_TIMEOUT');
    expect(t.service.scheduler.inUse('gpu0')).toBe(0);
  });

  it('passes the inspect observer to every job actor', async () => {
    const store = new FakeJobStore();
    const seen: string[] = [];
    const config = parseServiceConfig({});
    const service = new JobService({
      store,
      pool: new BackendPool([new FakeComfyBackend('gpu0')]),
      workflows,
      characters,
      composer: new VisualPromptComposer(undefined),
      collector: new RecordingCollector(),
      config,
      inspect: (e) => seen.push(e.type),
    });
    services.push(service);
    await service.generate(generate);
    expect(seen).toContain('@xstate.actor');
    expect(seen).toContain('@xstate.snapshot');
  });

  it('a job stopped in moving collects again after a restore (the collector is idempotent)', async () => {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 2);
    const first = build({ store, backend });
    let enteredCollect!: () => void;
    const collecting = new Promise<void>((r) => (enteredCollect = r));
    first.collector.collect = async (request) => {
      enteredCollect();
      return new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    };
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'submitted');
    backend.play({ type: 'succeeded', promptId: job.comfy_prompt_id!, outputs: {}, files, at: 0 });
    await first.reached(job.id, 'moving');
    await collecting;
    await first.service.stop();
    expect(store.rows.get(job.id)?.status).toBe('moving');

    const second = build({ store, backend });
    await second.service.restore();
    await second.reached(job.id, 'completed');
    expect(second.collector.requests[0]).toMatchObject({ jobId: job.id, files });
    expect(backend.locates).toEqual([]); // nothing to reconcile: ComfyUI is done with it
  });
});

describe('JobService: timings of a job the service stopped while it was sending the prompt', () => {
  const t0 = Date.parse('2026-11-25T12:00:00Z');

  /**
   * A job stored in queued.submitting at t0 whose POST reached ComfyUI before the service
   * stopped (its reply never seen); the next start comes back 60 s later.
   */
  async function stoppedWhileSubmitting() {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 2);
    // As the real backend does: watching a prompt that already finished reports it from /history.
    const watch = backend.watch.bind(backend);
    backend.watch = (id, onEvent) => {
      const location = backend.locations.get(id);
      if (location?.where === 'history') queueMicrotask(() => onEvent({ ...location.outcome, via: 'poll' }));
      return watch(id, onEvent);
    };
    let release!: () => void;
    backend.submitGate = new Promise((r) => (release = r));
    const first = build({ store, backend });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'queued.submitting');
    await new Promise((r) => setImmediate(r));
    expect(backend.submits).toHaveLength(1);
    await first.service.stop();
    release();
    backend.submitGate = null;
    expect(store.rows.get(job.id)?.substate).toBe('queued.submitting');
    const clock = new SimulatedClock();
    clock.set(t0 + 60_000);
    return { backend, job, promptId: job.comfy_prompt_id!, restart: () => build({ store, backend, clock }) };
  }

  const timingOf = async (t: ReturnType<typeof build>, jobId: string) => {
    const { debug } = await t.service.get(jobId, { debug: true });
    return { timing: debug?.['timing'], runs: debug?.['runs'] as Record<string, unknown>[] };
  };

  it('found finished in ComfyUI’s history: accepted when it began sending, ComfyUI’s run is generation, the rest of the outage service down', async () => {
    const { backend, job, promptId, restart } = await stoppedWhileSubmitting();
    // ComfyUI ran it for 4 s (its own stamps), while no service watched.
    backend.locations.set(promptId, { where: 'history', outcome: { type: 'succeeded', promptId, outputs: {}, files, at: 0, ranMs: 4_000 } });

    const second = restart();
    await second.service.restore();
    await second.reached(job.id, 'completed');
    expect(backend.submits).toHaveLength(1);
    const { timing, runs } = await timingOf(second, job.id);
    expect(runs).toEqual([
      expect.objectContaining({
        submitted_at: new Date(t0).toISOString(),
        started_at: null,
        outcome: 'succeeded',
        comfy_ran_ms: 4_000,
        found_after_restart: true,
      }),
    ]);
    // Its queue wait ends when it was sent, not when a service found it again; what ComfyUI did
    // before its run started cannot be told from the outage (as for any run never seen starting).
    expect(timing).toEqual({
      queue_wait_ms: 0,
      lost_ms: 0,
      comfy_queue_wait_ms: null,
      generation_ms: 4_000,
      service_down_ms: 56_000,
      file_move_ms: 0,
      total_ms: 60_000,
    });
  });

  it('found still running: accepted when it began sending, so the outage is ComfyUI queue wait before its run, not queue wait of ours', async () => {
    const { backend, job, promptId, restart } = await stoppedWhileSubmitting();
    backend.locations.set(promptId, { where: 'running' });

    const second = restart();
    await second.service.restore();
    await second.reached(job.id, 'submitted');
    while (backend.watching(promptId) === 0) await new Promise((r) => setImmediate(r));
    backend.play({ type: 'started', promptId, at: 0 });
    await second.reached(job.id, 'processing');
    second.clock.set(t0 + 63_000);
    backend.play({ type: 'succeeded', promptId, outputs: {}, files, at: 0, ranMs: 10_000 });
    await second.reached(job.id, 'completed');
    expect(backend.submits).toHaveLength(1);
    const { timing, runs } = await timingOf(second, job.id);
    expect(runs).toEqual([expect.objectContaining({ submitted_at: new Date(t0).toISOString(), found_after_restart: false })]);
    expect(timing).toEqual({
      queue_wait_ms: 0,
      lost_ms: 0,
      comfy_queue_wait_ms: 53_000,
      generation_ms: 10_000,
      service_down_ms: 0,
      file_move_ms: 0,
      total_ms: 63_000,
    });
  });

  it('a look-up that fails keeps the job to be looked up: the retry finds the prompt rather than sending it again, sent when it was before the restart', async () => {
    const { backend, job, promptId, restart } = await stoppedWhileSubmitting();
    const locate = backend.locate.bind(backend);
    let failLooks = 1;
    backend.locate = async (id) => {
      if (failLooks-- > 0) throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, 'gpu0 is down', { recoverable: true });
      return locate(id);
    };

    const second = restart();
    await second.service.restore();
    await second.reached(job.id, 'queued.retrying');
    second.clock.increment(2_000); // the backoff
    await second.reached(job.id, 'submitted');
    await new Promise((r) => setImmediate(r));
    expect(backend.submits.map((s) => s.promptId)).toEqual([promptId]);
    // Sent by the first service: the look that found it, after the restart, sent nothing.
    expect((await timingOf(second, job.id)).runs).toEqual([expect.objectContaining({ submitted_at: new Date(t0).toISOString() })]);
  });
});

describe('JobService: a job stopped while sending, whose backend could not be asked after the restart', () => {
  /**
   * A job stored in queued.submitting on gpu0 whose POST reached gpu0 before the service
   * stopped. gpu1 (twice the slots: the scheduler prefers it) is configured beside it.
   */
  async function stoppedWhileSubmittingOnGpu0() {
    const store = new FakeJobStore();
    const gpu0 = new FakeComfyBackend('gpu0', 2);
    const gpu1 = new FakeComfyBackend('gpu1', 4);
    let release!: () => void;
    gpu0.submitGate = new Promise((r) => (release = r));
    // Both free at first: ties go to the first listed.
    const first = build({ store, backend: gpu0, backends: [gpu0, new FakeComfyBackend('gpu1', 2)] });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'queued.submitting');
    await new Promise((r) => setImmediate(r));
    expect(gpu0.submits).toHaveLength(1);
    await first.service.stop();
    release();
    gpu0.submitGate = null;
    expect(store.rows.get(job.id)).toMatchObject({ substate: 'queued.submitting', backend: 'gpu0' });
    // gpu0 cannot be asked once; every POST after the restart, anywhere, is recorded in order.
    const posts: string[] = [];
    for (const b of [gpu0, gpu1]) b.onSubmit = () => void posts.push(b.name);
    const locate = gpu0.locate.bind(gpu0);
    let failLooks = 1;
    const answered: string[] = [];
    gpu0.locate = async (id) => {
      if (failLooks-- > 0) throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, 'gpu0 is down', { recoverable: true });
      answered.push(`gpu0 answered with ${posts.length} POST(s) sent`);
      return locate(id);
    };
    return { store, gpu0, gpu1, job, promptId: job.comfy_prompt_id!, posts, answered };
  }

  it('its submit retry is granted the backend it was sent to, not the freer one, and finds its prompt there: one POST overall', async () => {
    const { store, gpu0, gpu1, job, promptId, posts, answered } = await stoppedWhileSubmittingOnGpu0();
    const second = build({ store, backend: gpu0, backends: [gpu0, gpu1] });
    await second.service.restore();
    await second.reached(job.id, 'queued.retrying');
    second.clock.increment(2_000); // the backoff
    const submitted = await second.reached(job.id, 'submitted');
    await new Promise((r) => setImmediate(r));
    // One POST overall: the first service's, before the restart; none after it, anywhere.
    expect(posts).toEqual([]);
    // Looked up before deciding not to send, and again by the watch.
    expect(answered).toEqual(['gpu0 answered with 0 POST(s) sent', 'gpu0 answered with 0 POST(s) sent']);
    expect(gpu0.submits.map((s) => s.promptId)).toEqual([promptId]);
    expect(gpu1.submits).toEqual([]);
    expect(gpu1.locates).toEqual([]);
    expect(submitted.job).toMatchObject({ backend: 'gpu0', comfy_prompt_id: promptId });
    expect(second.service.scheduler.inUse('gpu0')).toBe(1);
    expect(second.service.scheduler.inUse('gpu1')).toBe(0);
  });

  it('while its backend is down the job waits for it, whatever another backend offers; asked once it is back', async () => {
    const { store, gpu0, gpu1, job, posts, answered } = await stoppedWhileSubmittingOnGpu0();
    gpu0.healthy = false;
    const second = build({ store, backend: gpu0, backends: [gpu0, gpu1] });
    await second.service.restore();
    await second.reached(job.id, 'queued.retrying');
    second.clock.increment(2_000);
    await second.reached(job.id, 'queued.waiting');
    for (let i = 0; i < 5; i++) {
      second.clock.increment(1_000); // the scheduler looks at unhealthy backends again
      await new Promise((r) => setImmediate(r));
    }
    expect((await second.service.get(job.id)).job.substate).toBe('queued.waiting');
    expect(gpu1.submits).toEqual([]);
    // Other jobs still run on gpu1 meanwhile.
    const other = await second.service.generate({ ...generate, conversation_id: 'c2' });
    expect((await second.reached(other.job.id, 'submitted')).job.backend).toBe('gpu1');

    gpu0.healthy = true;
    second.clock.increment(1_000);
    expect((await second.reached(job.id, 'submitted')).job.backend).toBe('gpu0');
    // The other job's POST, on gpu1, is the only one: gpu0 was asked before anything of this job was sent.
    expect(answered).toEqual(['gpu0 answered with 1 POST(s) sent', 'gpu0 answered with 1 POST(s) sent']);
    expect(posts).toEqual(['gpu1']);
    expect(gpu0.submits).toHaveLength(1); // the first service's
    expect(gpu1.submits.map((s) => s.jobId)).toEqual([other.job.id]);
  });

  it('a backend no longer configured cannot be asked: logged, and the job goes to another backend as before', async () => {
    const { store, job, promptId } = await stoppedWhileSubmittingOnGpu0();
    const gpu1 = new FakeComfyBackend('gpu1', 4);
    const { logger, lines } = recordingLogger();
    const second = build({ store, backend: gpu1, logger });
    await second.service.restore();
    await second.reached(job.id, 'queued.retrying');
    second.clock.increment(2_000);
    expect((await second.reached(job.id, 'submitted')).job.backend).toBe('gpu1');
    expect(gpu1.submits.map((s) => s.promptId)).toEqual([promptId]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', obj: { job_id: job.id, backend: 'gpu0' } }));
  });

  it('restarted again while it waits (parked) for that backend: still asked there before anything is sent, one POST overall', async () => {
    const { store, gpu0, gpu1, job, promptId, posts, answered } = await stoppedWhileSubmittingOnGpu0();
    gpu0.healthy = false;
    const second = build({ store, backend: gpu0, backends: [gpu0, gpu1] });
    await second.service.restore();
    await second.reached(job.id, 'queued.retrying');
    second.clock.increment(2_000);
    await second.reached(job.id, 'queued.waiting');
    for (let i = 0; i < 5 && second.service.parkedCount() === 0; i++) await new Promise((r) => setImmediate(r));
    expect(second.service.parkedCount()).toBe(1);
    await second.service.stop();
    expect(store.rows.get(job.id)).toMatchObject({ substate: 'queued.waiting' });

    // Back, and gpu1 still the freer one: the job is a parked row again, its slot is gpu0's.
    gpu0.healthy = true;
    const third = build({ store, backend: gpu0, backends: [gpu0, gpu1] });
    await third.service.restore();
    const submitted = await third.reached(job.id, 'submitted');
    await new Promise((r) => setImmediate(r));
    expect(posts).toEqual([]);
    expect(answered).toEqual(['gpu0 answered with 0 POST(s) sent', 'gpu0 answered with 0 POST(s) sent']);
    expect(gpu0.submits.map((s) => s.promptId)).toEqual([promptId]);
    expect(gpu1.submits).toEqual([]);
    expect(gpu1.locates).toEqual([]);
    expect(submitted.job).toMatchObject({ backend: 'gpu0', comfy_prompt_id: promptId });
  });
});

describe('JobService: a POST that failed after it may have reached ComfyUI', () => {
  it('timed out after ComfyUI queued it: the retry looks on that backend, finds it, and sends nothing again', async () => {
    const gpu0 = new FakeComfyBackend('gpu0', 2);
    const gpu1 = new FakeComfyBackend('gpu1', 2);
    gpu0.unansweredSubmits = 1;
    const t = build({ backend: gpu0, backends: [gpu0, gpu1] });
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'queued.retrying');
    expect(gpu0.submits).toHaveLength(1);
    // Another job takes a slot on gpu0 meanwhile: gpu1 is the freer one, should the retry ask for any slot.
    const other = await t.service.generate({ ...generate, conversation_id: 'c2' });
    expect((await t.reached(other.job.id, 'submitted')).job.backend).toBe('gpu0');
    t.clock.increment(2_000); // the backoff
    const submitted = await t.reached(job.id, 'submitted');
    expect(submitted.job).toMatchObject({ backend: 'gpu0', comfy_prompt_id: job.comfy_prompt_id });
    // One POST of this job overall, and its prompt looked up where it was sent before that was decided.
    const promptId = job.comfy_prompt_id!;
    expect([...gpu0.submits, ...gpu1.submits].filter((s) => s.jobId === job.id).map((s) => s.promptId)).toEqual([promptId]);
    expect(gpu0.locates[0]).toBe(promptId);
    expect(gpu1.locates).toEqual([]);
  });

  it('refused (nothing sent): the retry sends without a look-up', async () => {
    const gpu0 = new FakeComfyBackend('gpu0', 2);
    gpu0.failSubmits = 1;
    const t = build({ backend: gpu0 });
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'queued.retrying');
    t.clock.increment(2_000);
    await t.reached(job.id, 'submitted');
    expect(gpu0.submits.map((s) => s.promptId)).toEqual([job.comfy_prompt_id]);
    expect(gpu0.locates).toEqual([]);
  });
});

describe('JobService errors a caller can branch on', () => {
  it('a throwing transition listener is logged and the listeners after it still hear every notice', async () => {
    const { logger, lines } = recordingLogger();
    const t = build({ logger });
    t.service.on('transition', () => {
      throw new Error('listener bug');
    });
    const heard: string[] = [];
    t.service.on('transition', (n) => heard.push(n.to));
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    expect(heard.slice(0, 2)).toEqual(['queued.composing', 'queued.waiting']);
    const logged = lines.filter((l) => l.level === 'error' && /listener threw/.test(l.msg ?? ''));
    expect(logged.length).toBe(heard.length);
    expect(logged[0]!.obj).toMatchObject({ event: 'transition', job_id: job.id });
  });

  it('cancel rejects STORAGE_UNAVAILABLE when the cancel cannot be stored (never answers "cancelled")', async () => {
    class FullDiskStore extends FakeJobStore {
      full = false;
      override async recordTransition(...args: Parameters<FakeJobStore['recordTransition']>) {
        if (this.full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        return super.recordTransition(...args);
      }
    }
    const store = new FullDiskStore();
    const t = build({ store });
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    store.full = true;
    const outcome = await t.service.cancel(job.id).catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'STORAGE_UNAVAILABLE', recoverable: true, details: { job_id: job.id } });
    expect(store.rows.get(job.id)!.status).toBe('submitted');
  });

  it('a job that cannot be restored is failed and its transition announced', async () => {
    const store = new FakeJobStore();
    const first = build({ store });
    const { job } = await first.service.generate(generate);
    await first.reached(job.id, 'submitted');
    await first.service.stop();
    store.rows.set(job.id, { ...store.rows.get(job.id)!, snapshot: null });
    const second = build({ store });
    await second.service.restore();
    const failed = await second.reached(job.id, 'failed');
    expect(failed).toMatchObject({ type: 'failed', from: 'submitted.pending', to: 'failed', job: { state: 'failed', error: { code: 'INTERNAL' } } });
    expect(failed.seq).toBe(store.rows.get(job.id)!.last_seq);
  });
});

/** A slot ledger with every slot free: the tests of a lost instance id are about the lease, not the slots. */
const freeSlots: SlotLedger = {
  defineSlots: async () => undefined,
  slotsInUse: async () => new Map(),
  claimSlot: async () => true,
  adoptSlot: async () => undefined,
  releaseSlot: async () => undefined,
};

describe('JobService: a run that lost its instance id (several instances)', () => {
  it('writes no transition, calls ComfyUI no more and admits nothing once its lease ran out', async () => {
    let held = true;
    let service: JobService | undefined;
    // As JobLeaseKeeper.holdsInstance: finding the lease run out stops the service, then says so.
    const holdsInstance = () => {
      if (!held) service?.stopDriving();
      return held;
    };
    const t = build({ coordination: { instanceId: 'host-1', coordinator: {} as InstanceCoordinator, ledger: freeSlots, holdsInstance } });
    service = t.service;
    const { job } = await t.service.generate(generate);
    await t.reached(job.id, 'submitted');
    const promptId = job.comfy_prompt_id!;
    t.backend.play({ type: 'started', promptId, at: 0 });
    await t.reached(job.id, 'processing');
    const stored = { ...t.store.rows.get(job.id)! };

    held = false; // stalled past its lease; on waking ComfyUI's news comes first
    t.backend.play({ type: 'succeeded', promptId, outputs: {}, files, at: 0 });
    await t.service.stop();
    expect(t.store.rows.get(job.id)).toMatchObject({ status: 'processing', last_seq: stored.last_seq });
    expect(t.collector.requests).toEqual([]);
    expect(t.backend.submits).toHaveLength(1);
    await expect(t.service.generate({ ...generate, conversation_id: 'c2' })).rejects.toMatchObject({ code: 'INSTANCE_LEASE_LOST', recoverable: true });
    expect(t.store.rows.size).toBe(1);
  });
});

describe('JobService: a lease that runs out while a transition is being stored', () => {
  it('sends nothing to ComfyUI once the write answers: the lease is checked after the wait, not only before it', async () => {
    let held = true;
    const store = new FakeJobStore();
    let release!: () => void;
    store.gate = new Promise<void>((resolve) => (release = resolve));
    const t = build({ store, coordination: { instanceId: 'host-1', coordinator: {} as InstanceCoordinator, ledger: freeSlots, holdsInstance: () => held } });
    await t.service.generate(generate);
    // The `submitted` transition is written (held at the gate); the process stalls past its
    // lease meanwhile, and on waking the write's answer comes before any timer.
    await new Promise((resolve) => setTimeout(resolve, 20));
    held = false;
    release();
    store.gate = null;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.service.stop();
    expect(t.backend.submits).toHaveLength(0);
  });
});

describe('JobService idempotency: request_id per conversation, bound to the request', () => {
  it('the same request again returns the same job (created: false), however its JSON was ordered', async () => {
    const t = build();
    const first = await t.service.generate({ ...generate, request_id: 'msg-1' });
    const reordered = {
      parameters: {},
      strict_llm: false,
      priority: 0,
      user_request: generate.user_request,
      character: 'nova',
      conversation_id: 'c1',
      request_id: 'msg-1',
    };
    const again = await t.service.generate(reordered);
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
    expect(t.store.rows.size).toBe(1);
  });

  it('a different request under the same request_id is REQUEST_ID_CONFLICT naming the job it belongs to; nothing is stored', async () => {
    const t = build();
    const first = await t.service.generate({ ...generate, request_id: 'dup-1' });
    const outcome = await t.service.generate({ ...generate, request_id: 'dup-1', user_request: 'something else entirely' }).catch((e: unknown) => e);
    expect(outcome).toMatchObject({
      code: 'REQUEST_ID_CONFLICT',
      recoverable: false,
      details: { job_id: first.job.id, request_id: 'dup-1', conversation_id: 'c1' },
    });
    expect((outcome as Error).message).toContain(first.job.id);
    expect(t.store.rows.size).toBe(1);
  });

  it('the same request_id in another conversation is another job (ids are unique only per conversation)', async () => {
    const t = build();
    const here = await t.service.generate({ ...generate, request_id: 'dup-1' });
    const there = await t.service.generate({ ...generate, conversation_id: 'OTHER', request_id: 'dup-1' });
    expect(there.created).toBe(true);
    expect(there.job.id).not.toBe(here.job.id);
    expect(there.job.conversation_id).toBe('OTHER');
  });
});

describe('JobService admission limits', () => {
  it('a 16384-wide, 500-step request is INVALID_COMMAND naming the limits, and nothing is stored', async () => {
    const t = build();
    const outcome = await t.service.generate({ ...generate, parameters: { width: 16384, steps: 500 } }).catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'INVALID_COMMAND', details: [{ path: 'parameters.width' }, { path: 'parameters.steps' }] });
    expect(t.store.rows.size).toBe(0);
  });
});

describe('JobService: a job waiting for a slot is a row, not an actor', () => {
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const fail = (t: ReturnType<typeof build>, promptId: string) =>
    t.backend.play({
      type: 'failed',
      promptId,
      failure: { nodeId: '3', nodeType: 'KSampler', exceptionType: 'E', exceptionMessage: 'boom' },
      outputs: {},
      at: 0,
    });

  it('parks waiting jobs once the wait is stored, and revives them by priority when a slot frees', async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1) });
    const a = await t.service.generate(generate);
    const low = await t.service.generate({ ...generate, priority: 0 });
    const high = await t.service.generate({ ...generate, priority: 5 });
    await t.reached(a.job.id, 'submitted');
    await t.reached(high.job.id, 'queued.waiting');
    await flush();
    expect(t.service.parkedCount()).toBe(2);
    expect(t.service.activeCount()).toBe(1); // only the job in ComfyUI has an actor
    expect(t.store.rows.get(low.job.id)!.substate).toBe('queued.waiting');

    fail(t, a.job.comfy_prompt_id!);
    await t.reached(high.job.id, 'submitted');
    expect(t.backend.submits.map((s) => s.jobId)).toEqual([a.job.id, high.job.id]);
    expect(t.service.parkedCount()).toBe(1);
    // The revived job goes on from its stored snapshot: same prompt id, one transition sequence.
    expect(t.backend.submits[1]!.promptId).toBe(high.job.comfy_prompt_id);
    const seqs = t.store.events.filter((e) => e.job_id === high.job.id).map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('a job regenerated while parked lists that regeneration in the events after its revival', async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1) });
    const a = await t.service.generate(generate);
    const waiting = await t.service.generate(generate);
    await t.reached(a.job.id, 'submitted');
    await t.reached(waiting.job.id, 'queued.waiting');
    await flush();
    expect(t.service.parkedCount()).toBe(1);
    const regenerated = await t.service.regenerate({ job_id: waiting.job.id });
    await t.reached(regenerated.job.id, 'queued.waiting');

    fail(t, a.job.comfy_prompt_id!);
    const submitted = await t.reached(waiting.job.id, 'submitted');
    expect(submitted.job.regenerations).toEqual([regenerated.job.id]);
  });

  it('a parked job still times out at its queue-wait deadline, with no timer of its own', async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1), queueWaitSeconds: 60 });
    await t.service.generate(generate);
    const b = await t.service.generate(generate);
    await t.reached(b.job.id, 'queued.waiting');
    await flush();
    expect(t.service.parkedCount()).toBe(1);
    t.clock.increment(61_000);
    const failed = await t.reached(b.job.id, 'failed');
    expect(failed.job.error?.code).toBe('QUEUE_WAIT_TIMEOUT');
    expect(t.service.parkedCount()).toBe(0);
    expect(t.backend.submits).toHaveLength(1);
  });

  /** One slot: `a` holds it, `b` waits behind it, parked. */
  const oneRunningOneParked = async () => {
    const t = build({ backend: new FakeComfyBackend('gpu0', 1) });
    const a = await t.service.generate(generate);
    const b = await t.service.generate(generate);
    await t.reached(b.job.id, 'queued.waiting');
    await flush();
    expect(t.service.parkedCount()).toBe(1);
    return { t, a, b };
  };

  it('cancelling a parked job revives it to cancel: nothing reaches ComfyUI', async () => {
    const { t, a, b } = await oneRunningOneParked();
    const view = await t.service.cancel(b.job.id);
    expect(view.state).toBe('cancelled');
    expect(t.store.rows.get(b.job.id)!.status).toBe('cancelled');
    fail(t, a.job.comfy_prompt_id!);
    await t.reached(a.job.id, 'failed');
    await flush();
    expect(t.backend.submits.map((s) => s.jobId)).toEqual([a.job.id]);
  });

  it('a cancel that meets the revival of a parked job granted a slot wins: nothing reaches ComfyUI', async () => {
    const { t, a, b } = await oneRunningOneParked();
    t.service.scheduler.release(a.job.id); // the slot goes to b, whose actor is brought back
    const view = await t.service.cancel(b.job.id);
    expect(view.state).toBe('cancelled');
    await flush();
    expect(t.backend.submits.map((s) => s.jobId)).toEqual([a.job.id]);
    expect(t.service.scheduler.holds(b.job.id)).toBe(false);
  });

  it('after a restart, waiting jobs come back as rows (no actors) and still run in priority order', async () => {
    const store = new FakeJobStore();
    const backend = new FakeComfyBackend('gpu0', 1);
    const first = build({ store, backend });
    const a = await first.service.generate(generate);
    const low = await first.service.generate({ ...generate, priority: -1 });
    const high = await first.service.generate({ ...generate, priority: 3 });
    await first.reached(a.job.id, 'submitted');
    await first.reached(high.job.id, 'queued.waiting');
    await first.service.stop();

    const second = build({ store, backend });
    expect(await second.service.restore()).toBe(3);
    await flush();
    expect(second.service.parkedCount()).toBe(2);
    expect(second.service.activeCount()).toBe(1);
    fail(second, a.job.comfy_prompt_id!);
    await second.reached(high.job.id, 'submitted');
    expect(backend.submits.map((s) => s.jobId)).toEqual([a.job.id, high.job.id]);
    fail(second, high.job.comfy_prompt_id!);
    await second.reached(low.job.id, 'submitted');
  });
});
