/**
 * Reads the service's SQLite file directly, read-only: the jobs table is the truth about
 * where every job ended, and `job_events` (the outbox) the truth about which transitions
 * happened and must reach NATS.
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { PersistedEvent } from './delivery-check.js';

const jobRowSchema = z.object({
  id: z.string(),
  status: z.string(),
  error: z.string().nullable(),
  result: z.string().nullable(),
  comfy_prompt_id: z.string().nullable(),
  seed: z.union([z.number(), z.string()]).nullable(),
});
const eventRowSchema = z.object({ job_id: z.string(), seq: z.number(), data: z.string() });
const eventDataSchema = z.looseObject({ job: z.looseObject({ comfy_prompt_id: z.string().nullable().optional() }).optional() });
const errorSchema = z.looseObject({ code: z.string() });

export interface StoredJob {
  id: string;
  status: string;
  errorCode: string | undefined;
  result: unknown;
  seed: string | undefined;
}

export interface DatabaseFacts {
  jobs: Map<string, StoredJob>;
  events: PersistedEvent[];
  promptIdsByJob: Map<string, Set<string>>;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function readDatabaseFacts(path: string): DatabaseFacts {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const jobs = new Map<string, StoredJob>();
    const promptIdsByJob = new Map<string, Set<string>>();
    const addPrompt = (jobId: string, promptId: string | null | undefined): void => {
      if (!promptId) return;
      const set = promptIdsByJob.get(jobId) ?? new Set<string>();
      set.add(promptId);
      promptIdsByJob.set(jobId, set);
    };
    for (const raw of db.prepare('select id, status, error, result, comfy_prompt_id, seed from visual_generation_jobs').all()) {
      const row = jobRowSchema.parse(raw);
      const error = errorSchema.safeParse(parseJson(row.error));
      jobs.set(row.id, {
        id: row.id,
        status: row.status,
        errorCode: error.success ? error.data.code : undefined,
        result: parseJson(row.result),
        seed: row.seed === null ? undefined : String(row.seed),
      });
      addPrompt(row.id, row.comfy_prompt_id);
    }
    const events: PersistedEvent[] = [];
    for (const raw of db.prepare('select job_id, seq, data from job_events order by id').all()) {
      const row = eventRowSchema.parse(raw);
      events.push({ jobId: row.job_id, seq: row.seq });
      const data = eventDataSchema.safeParse(parseJson(row.data));
      if (data.success) addPrompt(row.job_id, data.data.job?.comfy_prompt_id);
    }
    return { jobs, events, promptIdsByJob };
  } finally {
    db.close();
  }
}

/** Outbox rows not yet published (the settle phase waits for zero). */
export function countUnpublished(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = z.object({ n: z.number() }).parse(db.prepare('select count(*) as n from job_events where published_at is null').get());
    return row.n;
  } finally {
    db.close();
  }
}

/** Jobs not yet in a final state (the settle phase waits for zero). */
export function countUnfinished(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = z
      .object({ n: z.number() })
      .parse(db.prepare("select count(*) as n from visual_generation_jobs where status not in ('completed', 'failed', 'cancelled')").get());
    return row.n;
  } finally {
    db.close();
  }
}
