/**
 * What the command service needs from the job runtime. The JobService implements it; the
 * NATS service, the HTTP API and the CLI call it after validating with command-schemas.ts.
 * Failures are thrown as ChorusError (JOB_NOT_FOUND, QUEUE_FULL, WORKFLOW_NOT_FOUND…).
 */
import type { JobEventRow } from '../contracts/job-store-port.js';
import type { JobView } from '../contracts/job-view.js';
import type { GenerateCommand, ListCommand, RegenerateCommand, ValidateCommand } from './command-schemas.js';

/** One entry of a job's history as callers see it (the outbox row without internals). */
export interface JobEventView {
  seq: number;
  type: string;
  from_state: string | null;
  to_state: string;
  at: string;
  published_at: string | null;
}

export function toJobEventView(row: JobEventRow): JobEventView {
  return { seq: row.seq, type: row.type, from_state: row.from_state, to_state: row.to_state, at: row.at, published_at: row.published_at };
}

export interface WorkflowSummary {
  name: string;
  type: string;
  placeholders: string[];
  problems?: string[];
}

export interface JobCommandHandler {
  generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }>;
  /** A new job from an earlier one's inputs, linked both ways; the same reply as generate. */
  regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }>;
  cancel(jobId: string): Promise<JobView>;
  get(jobId: string, opts?: { debug?: boolean }): Promise<{ job: JobView; events: JobEventView[]; debug?: Record<string, unknown> }>;
  /** `counts`: jobs per state under the same filters except `state` (absent states: none). */
  list(cmd: ListCommand): Promise<{ jobs: JobView[]; total: number; counts?: Partial<Record<string, number>> }>;
  workflows(): Promise<{ workflows: WorkflowSummary[]; problems: Array<{ file: string; reason: string }> }>;
  validate(cmd: ValidateCommand): Promise<{ ok: boolean; errors: unknown[]; warnings: unknown[] }>;
}
