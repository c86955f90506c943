/** A stored job row for pure tests: a fresh queued job, with only what a test needs changed. */
import type { JobRow } from '../../src/contracts/job-store-port.js';

export function jobRowFixture(changes: Partial<JobRow> = {}): JobRow {
  return {
    id: 'job-1',
    conversation_id: 'c1',
    thread_id: null,
    message_id: null,
    workflow: 'wf',
    prompt: null,
    parameters: {},
    status: 'queued',
    created_at: '2026-01-01T00:00:00.000Z',
    started_at: null,
    completed_at: null,
    comfy_prompt_id: 'prompt-1',
    result: null,
    error: null,
    substate: 'queued.composing',
    character: null,
    negative_prompt: null,
    seed: null,
    prompt_source: null,
    request_id: null,
    priority: 0,
    backend: null,
    submitted_at: null,
    finished_at: null,
    attempts: 0,
    snapshot: null,
    debug: {},
    last_seq: 1,
    updated_at: '2026-01-01T00:00:00.000Z',
    ...changes,
  };
}
