/**
 * Shared by the db-*.test.ts files: the database URLs every store test runs against, temp
 * folders that are removed afterwards, and job/event factories.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import type { NewJob, NewJobEvent } from '../../src/jobs/job-store-port.js';

export interface DatabaseTarget {
  name: string;
  /** A fresh, empty database URL inside `dir` (or elsewhere, for a server database). */
  url(dir: string): string;
}

/**
 * Every store test runs once per entry. PostgreSQL (issue 9) joins this list, e.g. from an
 * environment variable naming a throwaway server database.
 */
export const databaseTargets: DatabaseTarget[] = [
  { name: 'sqlite file', url: (dir) => `sqlite:${path.join(dir, 'nested', 'folder', 'jobs.db')}` },
];

/** A temp folder plus the stores opened in it; `cleanup()` closes them and removes it. */
export async function createTestDatabaseHome(target: DatabaseTarget) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chorus-db-test-'));
  const url = target.url(dir);
  const opened: DatabaseJobStore[] = [];
  return {
    dir,
    url,
    async open(): Promise<DatabaseJobStore> {
      const store = await createJobStore(url);
      opened.push(store);
      return store;
    },
    async cleanup(): Promise<void> {
      for (const store of opened) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  counter += 1;
  return {
    id: `job-${process.pid}-${counter}`,
    conversation_id: 'conv-1',
    thread_id: null,
    message_id: null,
    workflow: 'selfie',
    prompt: 'a quiet harbour at dawn',
    parameters: { steps: 20 },
    status: 'queued',
    created_at: new Date(Date.UTC(2026, 10, 25, 12, 0, counter % 60, counter % 1000)).toISOString(),
    substate: 'queued.composing',
    character: 'nova',
    negative_prompt: null,
    seed: 42,
    prompt_source: 'template',
    request_id: null,
    priority: 0,
    snapshot: { value: 'queued' },
    debug: {},
    comfy_prompt_id: null,
    ...overrides,
  };
}

export function newEvent(fromState: string | null, toState: string, data: Record<string, unknown> = {}): NewJobEvent {
  return { type: fromState === null ? 'job.created' : 'job.transition', from_state: fromState, to_state: toState, data, at: new Date().toISOString() };
}

export const roomyQueue = { maxQueueSize: 1_000_000 };
