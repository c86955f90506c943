/**
 * In-memory stand-ins for the HTTP server's ports, typed by the same interfaces, behaving
 * like the real JobService does at its edges: the same error codes, idempotent request_id,
 * a bounded queue, and a live feed that announces every transition it makes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { GenerateCommand, ListCommand, RegenerateCommand, ValidateCommand } from '../../src/commands/command-schemas.js';
import { ChorusError, ErrorCode, type ErrorData } from '../../src/errors/index.js';
import type { BackendStatus, FeedMessage, HealthSources, JobCommandHandler, JobFeed, JobEventView } from '../../src/http/ports.js';
import { finalStates, type JobState, type JobView } from '../../src/contracts/job-view.js';

export class FakeJobFeed implements JobFeed {
  private readonly listeners = new Set<(msg: FeedMessage) => void>();
  subscribe(listener: (msg: FeedMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(msg: FeedMessage): void {
    for (const listener of this.listeners) listener(msg);
  }
  listenerCount(): number {
    return this.listeners.size;
  }
}

export function fakeHealthSources(overrides: Partial<HealthSources> = {}): HealthSources & { backendList: BackendStatus[] } {
  const backendList: BackendStatus[] = [
    {
      name: 'local',
      url: 'http://127.0.0.1:8188',
      healthy: true,
      socket: 'open',
      comfyuiVersion: '0.3.64',
      queueRemaining: 0,
      capacity: { max_concurrent: 2, in_use: 0 },
    },
  ];
  return {
    backendList,
    database: async () => true,
    nats: () => ({ connected: true, kind: 'jetstream' }),
    backends: () => backendList,
    outboxPending: async () => 0,
    jobsByState: async () => ({}),
    instanceId: 'test-instance',
    ...overrides,
  };
}

const knownWorkflows = ['sdxl-portrait', 'no-model-test'];
const knownCharacters = new Map([
  ['nova', 'sdxl-portrait'],
  ['sage', 'no-model-test'],
]);

export class FakeJobCommandHandler implements JobCommandHandler {
  readonly jobs = new Map<string, JobView>();
  readonly events = new Map<string, JobEventView[]>();
  private readonly byRequestId = new Map<string, string>();
  private counter = 0;

  constructor(
    private readonly feed: FakeJobFeed,
    private readonly options: { maxQueue?: number; now?: () => Date } = {},
  ) {}

  private now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  async regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }> {
    const source = this.require(cmd.job_id);
    const outcome = await this.generate(
      {
        conversation_id: source.conversation_id,
        workflow: source.workflow,
        prompt: source.prompt ?? 'again',
        priority: source.priority,
        strict_llm: false,
        parameters: {},
        ...(source.character === null ? {} : { character: source.character }),
        ...(cmd.seed === undefined ? {} : { seed: cmd.seed }),
        ...(cmd.request_id === undefined ? {} : { request_id: cmd.request_id }),
      },
      source.id,
    );
    if (outcome.created) this.jobs.set(source.id, { ...this.require(source.id), regenerations: [...this.require(source.id).regenerations, outcome.job.id] });
    return outcome;
  }

  async generate(cmd: GenerateCommand, regeneratedFrom: string | null = null): Promise<{ job: JobView; created: boolean }> {
    const existing = cmd.request_id === undefined ? undefined : this.byRequestId.get(cmd.request_id);
    if (existing) return { job: this.jobs.get(existing)!, created: false };
    if (cmd.character !== undefined && !knownCharacters.has(cmd.character)) {
      throw new ChorusError(ErrorCode.CHARACTER_NOT_FOUND, `no character "${cmd.character}"`);
    }
    const workflow = cmd.workflow ?? knownCharacters.get(cmd.character ?? '') ?? '';
    if (!knownWorkflows.includes(workflow)) {
      throw new ChorusError(ErrorCode.WORKFLOW_NOT_FOUND, `no workflow "${workflow}"`, { details: { available: knownWorkflows } });
    }
    const active = [...this.jobs.values()].filter((j) => !finalStates.has(j.state)).length;
    if (active >= (this.options.maxQueue ?? 100)) throw new ChorusError(ErrorCode.QUEUE_FULL, `queue is full (${active} jobs)`);

    this.counter += 1;
    const at = this.now();
    const job: JobView = {
      id: `job-${String(this.counter).padStart(4, '0')}`,
      state: 'queued',
      substate: 'queued.composing',
      conversation_id: cmd.conversation_id,
      thread_id: cmd.thread_id ?? null,
      message_id: cmd.message_id ?? null,
      character: cmd.character ?? null,
      workflow,
      prompt: cmd.prompt ?? null,
      negative_prompt: cmd.negative_prompt ?? null,
      seed: cmd.seed ?? null,
      prompt_source: cmd.prompt === undefined ? null : 'caller',
      backend: null,
      comfy_prompt_id: null,
      priority: cmd.priority,
      attempts: 0,
      progress: null,
      result: null,
      error: null,
      created_at: at,
      submitted_at: null,
      started_at: null,
      finished_at: null,
      completed_at: null,
      timings: { queue_wait_ms: null, comfy_queue_wait_ms: null, generation_ms: null, file_move_ms: null, lost_ms: 0, service_down_ms: 0, total_ms: null },
      regenerated_from: regeneratedFrom,
      regenerations: [],
    };
    this.jobs.set(job.id, job);
    if (cmd.request_id !== undefined) this.byRequestId.set(cmd.request_id, job.id);
    this.record(job, null, 'queued', 'job.created');
    return { job, created: true };
  }

  async cancel(jobId: string): Promise<JobView> {
    const job = this.require(jobId);
    if (finalStates.has(job.state)) return job;
    return this.transition(jobId, 'cancelled', {});
  }

  async get(jobId: string, options: { debug?: boolean } = {}) {
    const job = this.require(jobId);
    const events = this.events.get(jobId) ?? [];
    if (!options.debug) return { job, events };
    return {
      job,
      events,
      debug: {
        // The JobService's debug document shape (src/jobs/job-debug-document.ts).
        workflow_used: job.workflow,
        workflow: {
          name: job.workflow,
          type: 'image',
          facts: {
            checkpoints: ['sd_xl_base_1.0.safetensors'],
            loras: [],
            sampler: { name: 'dpmpp_2m', scheduler: 'karras', steps: 30, cfg: 4.5 },
            size: { width: 1024, height: 1024 },
          },
        },
        prompt_components: { user: 'a walk at dusk', character_triggers: ['silver hair', 'teal jacket'], activity: null },
        parameters_injected: { steps: 30, cfg: 4.5, width: 1024, height: 1024, seed: job.seed },
        loras_applied: [{ name: 'nova_style.safetensors', strength: 0.8, source: 'character' }],
      },
    };
  }

  async list(cmd: ListCommand) {
    const states = cmd.state === undefined ? null : new Set<string>(Array.isArray(cmd.state) ? cmd.state : [cmd.state]);
    const matching = [...this.jobs.values()]
      .filter((j) => (states ? states.has(j.state) : true))
      .filter((j) => (cmd.conversation_id ? j.conversation_id === cmd.conversation_id : true))
      .filter((j) => (cmd.character ? j.character === cmd.character : true))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
    return { jobs: matching.slice(cmd.offset, cmd.offset + cmd.limit), total: matching.length };
  }

  async workflows() {
    return {
      workflows: knownWorkflows.map((name) => ({ name, type: 'image', placeholders: ['PROMPT_PLACEHOLDER'] })),
      problems: [{ file: 'broken.json', reason: 'not valid JSON' }],
    };
  }

  async validate(cmd: ValidateCommand) {
    if (!knownWorkflows.includes(cmd.workflow)) throw new ChorusError(ErrorCode.WORKFLOW_NOT_FOUND, `no workflow "${cmd.workflow}"`);
    return { ok: true, errors: [], warnings: [] };
  }

  /** Moves a job to `to`, records the transition and announces it, as the JobService would. */
  transition(jobId: string, to: JobState, patch: Partial<JobView>, substate: string | null = null): JobView {
    const before = this.require(jobId);
    const job: JobView = { ...before, ...patch, state: to, substate, progress: finalStates.has(to) ? null : (patch.progress ?? before.progress) };
    this.jobs.set(jobId, job);
    this.record(job, before.state, to, `job.${to}`);
    return job;
  }

  progress(jobId: string, value: number, max: number, node: string | null): void {
    const job = this.require(jobId);
    const progress = { value, max, node };
    this.jobs.set(jobId, { ...job, progress });
    this.feed.emit({ type: 'progress', job_id: jobId, conversation_id: job.conversation_id, progress });
  }

  fail(jobId: string, error: ErrorData): JobView {
    const at = this.now();
    return this.transition(jobId, 'failed', { error, finished_at: at });
  }

  private record(job: JobView, from: string | null, to: string, type: string): void {
    const list = this.events.get(job.id) ?? [];
    const event: JobEventView = { seq: list.length + 1, type, from_state: from, to_state: to, at: this.now(), published_at: null };
    list.push(event);
    this.events.set(job.id, list);
    this.feed.emit({ type: 'transition', job, seq: event.seq, from, to, at: event.at });
  }

  private require(jobId: string): JobView {
    const job = this.jobs.get(jobId);
    if (!job) throw new ChorusError(ErrorCode.JOB_NOT_FOUND, `no job "${jobId}"`);
    return job;
  }
}

/** A real PNG (a soft gradient), so thumbnails render and Content-Type checks mean something. */
export function gradientPng(width = 96, height = 96): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      png.data[i] = 40 + Math.round((x / width) * 180);
      png.data[i + 1] = 90 + Math.round((y / height) * 120);
      png.data[i + 2] = 200;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

export type LifecycleStep = () => Promise<void>;

/**
 * Drives a job through queued → submitted → processing (progress ticks) → moving →
 * completed, writing a real PNG into the conversation folder, like the real runtime does.
 * `pause` runs between steps so a watcher (a browser) can see each one.
 */
export async function runFakeLifecycle(
  handler: FakeJobCommandHandler,
  jobId: string,
  dataDir: string,
  pause: () => Promise<void> = async () => {},
  steps = 5,
): Promise<JobView> {
  const start = Date.now();
  const created = handler.jobs.get(jobId)!;
  handler.transition(
    jobId,
    'queued',
    { prompt: created.prompt ?? 'silver-haired woman walking at dusk, soft light', prompt_source: created.prompt_source ?? 'template' },
    'queued.waiting',
  );
  await pause();
  handler.transition(jobId, 'submitted', { backend: 'local', comfy_prompt_id: `p-${jobId}`, submitted_at: new Date().toISOString(), attempts: 1 });
  await pause();
  handler.transition(jobId, 'processing', { started_at: new Date().toISOString(), progress: { value: 0, max: steps, node: '3' } });
  for (let value = 1; value <= steps; value++) {
    await pause();
    handler.progress(jobId, value, steps, '3');
  }
  handler.transition(jobId, 'moving', {});
  const job = handler.jobs.get(jobId)!;
  const relative = `conversations/${job.conversation_id}/images/${jobId}.png`;
  const absolutePath = path.join(dataDir, relative);
  const bytes = gradientPng();
  await mkdir(path.dirname(absolutePath), { recursive: true });
  await writeFile(absolutePath, bytes);
  await pause();
  const total = Date.now() - start;
  const at = new Date().toISOString();
  return handler.transition(jobId, 'completed', {
    finished_at: at,
    completed_at: at,
    result: {
      files: [
        {
          kind: 'image',
          path: relative,
          absolutePath,
          mediaType: 'image/png',
          bytes: bytes.length,
          sha256: 'test',
          width: 96,
          height: 96,
          original: { filename: `ComfyUI_${jobId}.png`, subfolder: '', type: 'output', nodeId: '9' },
        },
      ],
      metadataPath: `${relative}.json`,
    },
    timings: {
      queue_wait_ms: 5,
      comfy_queue_wait_ms: 2,
      generation_ms: Math.max(1, total - 10),
      file_move_ms: 3,
      lost_ms: 0,
      service_down_ms: 0,
      total_ms: total,
    },
  });
}
