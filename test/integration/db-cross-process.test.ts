/**
 * Several processes on one SQLite file (the service plus CLI commands, or a restarted
 * service overlapping its predecessor): requests with the same request_id still make one
 * job, and nobody fails with SQLITE_BUSY.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabaseHome, databaseTargets } from './db-test-fixtures.js';
import { runTsxChild } from '../support/tsx-child.js';

const storeModule = pathToFileURL(path.resolve('src/db/index.ts')).href;

/** Runs in each child: a burst of creates with one shared request_id and some of its own. */
const childProgram = `
const { createJobStore } = await import(${JSON.stringify(storeModule)});
const [url, name] = process.argv.slice(-2);
const store = await createJobStore(url);
const job = (id, requestId) => ({
  id, conversation_id: 'c', thread_id: null, message_id: null, workflow: 'w', prompt: 'p', parameters: {},
  status: 'queued', created_at: new Date().toISOString(), substate: null, character: null, negative_prompt: null,
  seed: 1, prompt_source: null, request_id: requestId, priority: 0, snapshot: null, debug: {}, comfy_prompt_id: null,
});
const event = { type: 'job.created', from_state: null, to_state: 'queued', data: {}, at: new Date().toISOString() };
const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) =>
  store.createJob(job(name + '-' + i, i % 2 === 0 ? 'shared' : null), event, { maxQueueSize: 10000 })));
for (let i = 1; i < 20; i += 2) {
  await store.recordTransition(name + '-' + i, { status: 'submitted' }, { ...event, type: 'job.transition', from_state: 'queued', to_state: 'submitted' });
}
process.stdout.write(JSON.stringify(outcomes.map((o) => ({ id: o.job.id, created: o.created }))));
await store.close();
`;

const runChild = (url: string, name: string) => runTsxChild<Array<{ id: string; created: boolean }>>(childProgram, [url, name], `child ${name}`);

describe.each(databaseTargets)('several processes on $name', (target) => {
  let home: Awaited<ReturnType<typeof createTestDatabaseHome>>;

  beforeEach(async () => {
    home = await createTestDatabaseHome(target);
    // Migrate once up front so the children race on jobs, not on the migration lock.
    await (await home.open()).close();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  // Child start-up (tsx compiling the store) dominates; on a loaded machine it takes seconds.
  it('creates one job per request_id across processes and loses no transition', { timeout: 60_000 }, async () => {
    const results = await Promise.all(['p1', 'p2'].map((name) => runChild(home.url, name)));
    const shared = results.flatMap((outcomes) => outcomes.filter((_, i) => i % 2 === 0));
    expect(shared.filter((outcome) => outcome.created)).toHaveLength(1);
    expect(new Set(shared.map((outcome) => outcome.id)).size).toBe(1);

    const store = await home.open();
    expect(await store.countJobs()).toBe(1 + 2 * 10);
    expect(await store.countJobs({ states: ['submitted'] })).toBe(20);
    for (const name of ['p1', 'p2']) {
      expect((await store.listEvents(`${name}-1`)).map((event) => event.seq)).toEqual([1, 2]);
    }
    expect(await store.countUnpublished()).toBe(1 + 20 * 2);
  });
});
