/**
 * The tables several instances coordinate through (migration 2026_11_26_090000). Times are
 * ISO-8601 text ("2026-11-26T09:00:00.000Z"), compared as text. On PostgreSQL they are
 * written and compared by the database's clock, in the statements themselves (lease-clock.ts):
 * the instances' clocks need not agree. Rows written before that (by the instances' clocks)
 * have the same format.
 */
import type { Selectable } from 'kysely';

export interface ServiceInstancesTable {
  id: string;
  started_at: string;
  heartbeat_at: string;
  /** Past this, the instance counts as gone and its jobs may be taken over. */
  lease_expires_at: string;
  stopped_at: string | null;
  /**
   * The run that holds the id: a random id it made when it claimed the row (migration
   * 2026_11_30_090000; null in rows from before). Renewals and the retire name it.
   */
  run_token: string | null;
}

export interface CoordinationLeasesTable {
  name: string;
  holder: string;
  expires_at: string;
}

export interface BackendSlotsTable {
  backend: string;
  /** 0 … max_concurrent-1; rows at or above a lowered max_concurrent are never claimed. */
  slot: number;
  /** The job holding the slot (from submission until it leaves ComfyUI), or null. */
  job_id: string | null;
  /** The instance that drives that job: only it may give the slot back. */
  instance_id: string | null;
  claimed_at: string | null;
}

export type ServiceInstanceRecord = Selectable<ServiceInstancesTable>;
