/**
 * The storage layer's share of a job, alone: CPU per job and statements (SQLite) or round
 * trips (PostgreSQL) per job, through the JobStore port only — so the same file runs against
 * an older tree for a before/after. Each job does what the service asks of the store: one
 * createJob, seven recordTransitions (the service's patch shapes, a ~2.9 KB snapshot each)
 * one after the other, while a relay loop reads the outbox and marks what it read. `--window`
 * jobs are in flight at once, as admissions overlap in the service.
 *
 *   npx tsx bench/store-cpu-bench.ts [--jobs 2000] [--window 256] [--db sqlite|postgres|both] [--rounds 1]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import type { JobPatch, JobStore, NewJob, NewJobEvent } from '../src/contracts/job-store-port.js';
import { createJobStore } from '../src/db/index.js';
import { createPostgresSchema } from '../test/integration/db-test-fixtures.js';

/** Counts every statement run (better-sqlite3 `run`/`all`/`get`) and PostgreSQL round trip (`pg.Client#query`). */
function installCounters(): { sqlite: () => number; postgres: () => number } {
  let sqliteStatements = 0;
  let postgresQueries = 0;
  const probe = new BetterSqlite3(':memory:');
  const statementPrototype = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...args: unknown[]) => unknown>;
  probe.close();
  for (const method of ['run', 'all', 'get'] as const) {
    const original = statementPrototype[method]!;
    statementPrototype[method] = function counted(this: unknown, ...args: unknown[]) {
      sqliteStatements += 1;
      return original.apply(this, args);
    };
  }
  const pg = createRequire(import.meta.url)('pg') as { Client: { prototype: Record<string, (...args: unknown[]) => unknown> } };
  const query = pg.Client.prototype['query']!;
  pg.Client.prototype['query'] = function counted(this: unknown, ...args: unknown[]) {
    postgresQueries += 1;
    return query.apply(this, args);
  };
  return { sqlite: () => sqliteStatements, postgres: () => postgresQueries };
}

const counters = installCounters();

/** A persisted XState snapshot of about the service's size (~2.9 KB of JSON). */
function snapshotOf(jobId: string, state: string): Record<string, unknown> {
  const graph: Record<string, unknown> = {};
  for (let node = 1; node <= 12; node += 1) {
    graph[String(node)] = {
      class_type: `Node${node}`,
      inputs: { seed: node * 7919, text: `a prompt fragment for ${jobId} number ${node}`, width: 512, height: 512 },
    };
  }
  return {
    status: 'active',
    value: { [state]: 'running' },
    context: { jobId, attempts: 0, graph, deadlines: { queue: '2026-11-29T12:00:00.000Z' } },
    historyValue: {},
  };
}

const path: Array<{ state: string; substate: string; extra?: (now: string) => JobPatch }> = [
  { state: 'queued', substate: 'queued.waiting', extra: () => ({ prompt: 'a composed prompt', seed: 123456789, prompt_source: 'template' }) },
  { state: 'queued', substate: 'queued.submitting' },
  { state: 'submitted', substate: 'submitted.pending', extra: (now) => ({ comfy_prompt_id: 'p-1', backend: 'gpu-0', submitted_at: now, attempts: 1 }) },
  { state: 'processing', substate: 'processing.running', extra: (now) => ({ started_at: now }) },
  { state: 'moving', substate: 'moving.collecting' },
  { state: 'moving', substate: 'moving.freeingComfy', extra: () => ({ debug: { timestamps: { collected_at: 'now' } } }) },
  {
    state: 'completed',
    substate: 'completed',
    extra: (now) => ({ completed_at: now, finished_at: now, result: { outputs: [{ path: 'conversations/c/images/x.png', mediaType: 'image/png' }] } as never }),
  },
];

function newJob(index: number, run: string): NewJob {
  return {
    id: `${run}-${index}`,
    conversation_id: `conv-${index % 20}`,
    thread_id: null,
    message_id: null,
    workflow: 'no_model_test',
    prompt: `job ${index}`,
    parameters: { width: 512, height: 512 },
    status: 'queued',
    created_at: new Date().toISOString(),
    comfy_prompt_id: null,
    substate: 'queued.composing',
    character: null,
    negative_prompt: null,
    seed: null,
    prompt_source: null,
    request_id: `req-${run}-${index}`,
    request_hash: null,
    priority: 0,
    snapshot: null,
    debug: {},
    regenerated_from: null,
  };
}

function eventOf(jobId: string, from: string | null, to: string): NewJobEvent {
  return {
    type: 'transition',
    from_state: from,
    to_state: to,
    data: { id: jobId, conversation_id: 'conv', state: to, prompt: 'a prompt', backend: 'gpu-0' },
    at: new Date().toISOString(),
  };
}

async function runJob(store: JobStore, index: number, run: string, kick: () => void): Promise<void> {
  const job = newJob(index, run);
  await store.createJob(job, eventOf(job.id, null, 'queued.composing'), { maxQueueSize: 1_000_000 });
  kick();
  let from = 'queued.composing';
  for (const step of path) {
    const now = new Date().toISOString();
    const patch: JobPatch = {
      status: step.state as JobPatch['status'],
      substate: step.substate,
      snapshot: snapshotOf(job.id, step.state),
      ...(step.extra?.(now) ?? {}),
    };
    await store.recordTransition(job.id, patch, eventOf(job.id, from, step.substate));
    kick();
    from = step.substate;
  }
}

/** Reads the outbox and marks what it read, as the relay does (without publishing). */
function startRelay(store: JobStore): { kick: () => void; stop: () => Promise<number> } {
  let running = true;
  let wake: (() => void) | undefined;
  let kicked = false;
  let marked = 0;
  const loop = (async () => {
    while (running) {
      kicked = false;
      const rows = await store.listUnpublished(256);
      if (rows.length > 0) {
        await store.markPublished(
          rows.map((row) => row.id),
          new Date().toISOString(),
        );
        marked += rows.length;
        if (rows.length === 256) continue;
      }
      if (!kicked && running) await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
  return {
    kick() {
      kicked = true;
      wake?.();
      wake = undefined;
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      return marked;
    },
  };
}

interface StoreCpuResult {
  dialect: string;
  jobs: number;
  window: number;
  wallMs: number;
  jobsPerSecond: number;
  cpuMsPerJob: number;
  statementsPerJob: number;
  eventsMarked: number;
}

async function measure(dialect: 'sqlite' | 'postgres', jobs: number, window: number): Promise<StoreCpuResult> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-store-cpu-'));
  const schema = dialect === 'postgres' ? await createPostgresSchema() : undefined;
  const store = await createJobStore(schema ? schema.url : `sqlite:${join(dir, 'jobs.db')}`, schema ? { ownerInstance: 'bench' } : {});
  const run = Date.now().toString(36);
  try {
    // Warm-up (JIT, statement caches), not measured.
    const warm = startRelay(store);
    await Promise.all(Array.from({ length: 50 }, (_, i) => runJob(store, i, `${run}w`, warm.kick)));
    await warm.stop();

    const relay = startRelay(store);
    const count = dialect === 'postgres' ? counters.postgres : counters.sqlite;
    const statementsBefore = count();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < jobs; i = next++) await runJob(store, i, run, relay.kick);
    };
    await Promise.all(Array.from({ length: window }, worker));
    // Until the relay has marked every event of the measured jobs.
    while ((await store.countUnpublished()) > 0) {
      relay.kick();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const statements = count() - statementsBefore;
    const eventsMarked = await relay.stop();
    return {
      dialect,
      jobs,
      window,
      wallMs: Math.round(wallMs),
      jobsPerSecond: Math.round((jobs * 1000) / wallMs),
      cpuMsPerJob: Math.round(((cpu.user + cpu.system) / 1000 / jobs) * 1000) / 1000,
      statementsPerJob: Math.round((statements / jobs) * 100) / 100,
      eventsMarked,
    };
  } finally {
    await store.close();
    await schema?.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '2000' },
      window: { type: 'string', default: '256' },
      db: { type: 'string', default: 'sqlite' },
      rounds: { type: 'string', default: '1' },
    },
  });
  const dialects: Array<'sqlite' | 'postgres'> = values.db === 'both' ? ['sqlite', 'postgres'] : [values.db === 'postgres' ? 'postgres' : 'sqlite'];
  console.log(
    `load average at start: ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  );
  for (let round = 0; round < Number(values.rounds); round += 1) {
    for (const dialect of dialects) {
      const result = await measure(dialect, Number(values.jobs), Number(values.window));
      const unit = dialect === 'postgres' ? 'round trips' : 'statements';
      console.log(
        `${dialect.padEnd(9)} ${result.jobs} jobs, ${result.window} in flight: ${result.wallMs} ms, ${result.jobsPerSecond} jobs/s, ${result.cpuMsPerJob.toFixed(3)} CPU ms/job, ${result.statementsPerJob} ${unit}/job (${result.eventsMarked} events marked)`,
      );
    }
  }
  console.log(
    `load average at end: ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  );
}

await main();
