/**
 * A JobCommandHandler over a real JobStore, standing in for the JobService in command
 * tests: generate writes a job (one per request_id), the rest read the store. It records
 * every call so tests can prove what reached the handler (and what did not).
 */
import type { GenerateCommand, ListCommand, RegenerateCommand, ValidateCommand } from '../../src/commands/command-schemas.js';
import { toJobEventView, type JobCommandHandler } from '../../src/commands/job-command-handler.js';
import { ChorusError } from '../../src/errors/index.js';
import type { JobStore } from '../../src/contracts/job-store-port.js';
import { jobViewOf } from '../../src/jobs/job-view-mapper.js';
import type { JobView } from '../../src/contracts/job-view.js';

export class FakeJobCommandHandler implements JobCommandHandler {
  readonly calls: Array<{ command: string; args: unknown }> = [];
  private nextId = 1;

  constructor(private readonly store: JobStore) {}

  async generate(cmd: GenerateCommand, regeneratedFrom: string | null = null): Promise<{ job: JobView; created: boolean }> {
    this.calls.push({ command: 'generate', args: cmd });
    if (cmd.workflow === 'missing') throw new ChorusError('WORKFLOW_NOT_FOUND', `no workflow "${cmd.workflow}"`, { details: { workflow: cmd.workflow } });
    const now = new Date().toISOString();
    const id = `job-${process.pid}-${this.nextId++}`;
    const outcome = await this.store.createJob(
      {
        id,
        conversation_id: cmd.conversation_id,
        thread_id: cmd.thread_id ?? null,
        message_id: cmd.message_id ?? null,
        workflow: cmd.workflow ?? 'default',
        prompt: cmd.prompt ?? null,
        parameters: cmd.parameters,
        status: 'queued',
        created_at: now,
        comfy_prompt_id: null,
        substate: null,
        character: cmd.character ?? null,
        negative_prompt: cmd.negative_prompt ?? null,
        seed: cmd.seed ?? null,
        prompt_source: cmd.prompt ? 'caller' : null,
        request_id: cmd.request_id ?? null,
        priority: cmd.priority,
        snapshot: null,
        debug: {},
        regenerated_from: regeneratedFrom,
      },
      { type: 'created', from_state: null, to_state: 'queued', data: { job: { id, conversation_id: cmd.conversation_id, state: 'queued' } }, at: now },
      { maxQueueSize: 1000 },
    );
    return { job: jobViewOf(outcome.job), created: outcome.created };
  }

  async regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }> {
    this.calls.push({ command: 'regenerate', args: cmd });
    const row = await this.mustGet(cmd.job_id);
    const again: GenerateCommand = {
      conversation_id: row.conversation_id,
      workflow: row.workflow,
      prompt: row.prompt ?? 'again',
      priority: row.priority,
      strict_llm: false,
      parameters: {},
      ...(row.character ? { character: row.character } : {}),
      ...(cmd.seed === undefined ? {} : { seed: cmd.seed }),
      ...(cmd.request_id ? { request_id: cmd.request_id } : {}),
    };
    return this.generate(again, row.id);
  }

  async cancel(jobId: string): Promise<JobView> {
    this.calls.push({ command: 'cancel', args: jobId });
    const row = await this.mustGet(jobId);
    const at = new Date().toISOString();
    const view = { ...jobViewOf(row), state: 'cancelled' as const, finished_at: at };
    await this.store.recordTransition(
      jobId,
      { status: 'cancelled', finished_at: at },
      { type: 'cancelled', from_state: row.status, to_state: 'cancelled', data: { job: view }, at },
    );
    return jobViewOf(await this.mustGet(jobId));
  }

  async get(jobId: string, opts?: { debug?: boolean }) {
    this.calls.push({ command: 'get', args: { jobId, opts } });
    if (jobId === 'explode') throw new Error('database file /var/secret.db is locked');
    const row = await this.mustGet(jobId);
    const events = (await this.store.listEvents(jobId)).map(toJobEventView);
    return { job: jobViewOf(row), events, ...(opts?.debug ? { debug: row.debug } : {}) };
  }

  async list(cmd: ListCommand) {
    this.calls.push({ command: 'list', args: cmd });
    const states = cmd.state === undefined ? undefined : Array.isArray(cmd.state) ? cmd.state : [cmd.state];
    const filter = { states, conversationId: cmd.conversation_id, character: cmd.character };
    const rows = await this.store.listJobs({ ...filter, limit: cmd.limit, offset: cmd.offset });
    return { jobs: rows.map((r) => jobViewOf(r)), total: await this.store.countJobs(filter) };
  }

  async workflows() {
    this.calls.push({ command: 'workflows', args: {} });
    return { workflows: [{ name: 'default', type: 'image', placeholders: ['PROMPT_PLACEHOLDER'] }], problems: [{ file: 'broken.json', reason: 'not JSON' }] };
  }

  async validate(cmd: ValidateCommand) {
    this.calls.push({ command: 'validate', args: cmd });
    if (cmd.workflow === 'broken') return { ok: false, errors: [{ node: '1', message: 'unknown node type' }], warnings: [] };
    if (cmd.workflow !== 'default') throw new ChorusError('WORKFLOW_NOT_FOUND', `no workflow "${cmd.workflow}"`);
    return { ok: true, errors: [], warnings: [{ node: '3', message: 'no backend reachable: structure only' }] };
  }

  private async mustGet(jobId: string) {
    const row = await this.store.getJob(jobId);
    if (!row) throw new ChorusError('JOB_NOT_FOUND', `no job "${jobId}"`, { details: { job_id: jobId } });
    return row;
  }
}
