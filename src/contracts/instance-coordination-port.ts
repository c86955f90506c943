/**
 * What several instances on one database agree through (issue 9). `src/db` implements it;
 * with SQLite (one instance) the runtime does not use it at all, so the single-process path
 * costs nothing more than before.
 *
 * Ownership: a job is driven by the instance named in `owner_instance`. An instance is alive
 * while it renews its own lease row (one write per heartbeat, not one per job); the jobs of
 * an instance whose lease lapsed are claimed by another, restored from their snapshot and
 * reconciled with ComfyUI through their prompt id. Every write of a job's transition is
 * fenced on the owner, so an instance that was presumed dead cannot write over the new one.
 *
 * Runs: each process that claims an id writes a token of its own (a run token) on the id's
 * row. Renewals and the retire name it, and so do transition writes: a run that stalled past
 * its lease, and whose id another process claimed meanwhile, renews nothing, retires
 * nothing and writes no transition under that id when it wakes up.
 */
import type { JobRow } from './job-store-port.js';

export interface InstanceInfo {
  id: string;
  started_at: string;
  heartbeat_at: string;
  lease_expires_at: string;
  stopped_at: string | null;
  /** Not stopped, and its lease has not lapsed: by the database's clock when read (PostgreSQL). */
  alive: boolean;
  /** How long its lease had left when read, by that clock (≤ 0: lapsed). */
  lease_left_ms: number;
}

/**
 * Whether a run still holds its instance id: `taken` when another run's token is on the row
 * (another process claimed the id), `lapsed` when the token is this run's but the lease ran
 * out (or the row was stopped), `gone` when the row was deleted.
 */
export type RunStanding = { standing: 'held' } | { standing: 'taken' | 'lapsed'; holder: InstanceInfo } | { standing: 'gone' };

export interface InstanceCoordinator {
  /**
   * Takes the id for the run `runToken`, leased until now + ttlMs, unless a live instance
   * holds it: then its row is returned (a process still renewing it, or one that died less
   * than a lease ago), and nothing is written.
   */
  claimInstance(instanceId: string, runToken: string, ttlMs: number): Promise<{ claimed: true } | { claimed: false; holder: InstanceInfo }>;
  /**
   * Renews the run's lease until now + ttlMs, only while the run holds the id and its lease
   * has not lapsed (a lapsed lease is never renewed back to life). Otherwise writes nothing
   * and says why (`RunStanding`).
   */
  heartbeat(instanceId: string, runToken: string, ttlMs: number): Promise<RunStanding>;
  /** The run's standing, read without writing anything. */
  runStanding(instanceId: string, runToken: string): Promise<RunStanding>;
  /**
   * Clean stop of the run that holds the id: the instance's unfinished jobs lose their owner
   * (others claim them at once), its slots stay with those jobs, its leases end and its row
   * is marked stopped. False, and nothing written, when the id is no longer the run's.
   */
  retire(instanceId: string, runToken: string): Promise<boolean>;
  /**
   * Makes `instanceId` the owner of at most `limit` unfinished jobs that nobody drives: no
   * owner, or an owner whose lease lapsed (and, with `includeOwn`, its own: a restart with
   * the same id). Oldest first; rows locked by another claimer are skipped. With `runToken`,
   * nothing is claimed unless that run still holds the id (its token, its lease current).
   */
  claimJobs(instanceId: string, limit: number, options?: { includeOwn?: boolean; runToken?: string }): Promise<JobRow[]>;
  /** Marks a cancel for the job's owner to act on; false when the job is unknown or final. */
  requestCancel(jobId: string): Promise<boolean>;
  /** Ids of the instance's jobs with a cancel request, which this call clears (with `runToken`: only while that run holds the id). */
  takeCancelRequests(instanceId: string, runToken?: string): Promise<string[]>;
  /** Takes or renews the named lease; false while another live instance holds it. */
  holdLease(name: string, instanceId: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, instanceId: string): Promise<void>;
  listInstances(): Promise<InstanceInfo[]>;
  /** The owner of every unfinished job (job id → instance id), for the inspector. */
  ownersOfUnfinished(): Promise<Map<string, string>>;
}

/** ComfyUI slots held in the database, so `max_concurrent` holds across every instance. */
export interface SlotLedger {
  /** Creates the slot rows of each backend (idempotent; every instance calls it on start). */
  defineSlots(backends: ReadonlyArray<{ name: string; maxConcurrent: number }>): Promise<void>;
  /** Slots in use per backend, by every instance together. */
  slotsInUse(): Promise<Map<string, number>>;
  /** Gives the job one free slot of `backend`, or returns false when none is free. */
  claimSlot(backend: string, jobId: string, instanceId: string, maxConcurrent: number): Promise<boolean>;
  /** A taken-over job keeps its slot; its new owner becomes the one that may release it. */
  adoptSlot(jobId: string, instanceId: string): Promise<void>;
  releaseSlot(jobId: string, instanceId: string): Promise<void>;
}
