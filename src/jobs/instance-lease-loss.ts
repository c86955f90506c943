/**
 * What a run of several instances reports when it lost its instance id (JobLeaseKeeper):
 * it stalled past its lease, or could not renew it in time, and then either found another
 * process's run token on its row (`taken`) or its own lease lapsed (`lapsed`: others may
 * have taken its jobs over meanwhile, so it does not renew it back to life).
 */
import type { RunStanding } from '../contracts/instance-coordination-port.js';
import { ChorusError, ErrorCode } from '../errors/index.js';

/** A job step refused because this run lost its instance id: another run may drive the job now. */
export function jobNotDrivenHere(jobId: string): ChorusError {
  return new ChorusError(ErrorCode.INSTANCE_LEASE_LOST, `this instance lost its instance id; job ${jobId} is not driven here any more`, {
    details: { job_id: jobId },
  });
}

export type LossReason = 'taken' | 'lapsed' | 'gone' | 'unknown';

export function reasonOf(standing: RunStanding | undefined): LossReason {
  if (standing === undefined) return 'unknown';
  // Read back as still held: the renewal came too late to prove nobody took the jobs meanwhile.
  return standing.standing === 'held' ? 'lapsed' : standing.standing;
}

/**
 * `beyondMs`: how long after the run's hold ran out (measured on this host's monotonic clock)
 * it noticed; a negative one means another process claimed the id before this run's hold ran
 * out, which the database's clock allows only if it stepped forward (or the row was edited).
 */
export function instanceLeaseLost(instanceId: string, standing: RunStanding | undefined, beyondMs: number, leaseTtlMs: number): ChorusError {
  const reason = reasonOf(standing);
  const stalled = Math.max(0, Math.round(beyondMs));
  const holder = standing !== undefined && 'holder' in standing ? standing.holder : undefined;
  const message = {
    taken:
      beyondMs >= 0
        ? `another process took instance id "${instanceId}" after this one stalled for ${stalled} ms beyond its lease (${leaseTtlMs} ms); this instance stopped driving jobs`
        : `another process took instance id "${instanceId}" while this one's lease still had ${-Math.round(beyondMs)} ms left by its own count (did the database server's clock step forward?); this instance stopped driving jobs`,
    lapsed: `the lease of instance id "${instanceId}" lapsed: this instance stalled for ${stalled} ms beyond its lease (${leaseTtlMs} ms) before renewing it, and other instances may have taken its jobs over; this instance stopped driving jobs`,
    gone: `the row of instance id "${instanceId}" was deleted from service_instances while this instance ran (${stalled} ms beyond its lease); this instance stopped driving jobs`,
    unknown: `this instance could not renew the lease of instance id "${instanceId}" in time (${stalled} ms beyond its lease of ${leaseTtlMs} ms; the database did not answer): other instances may have taken its jobs over; this instance stopped driving jobs`,
  }[reason];
  return new ChorusError(ErrorCode.INSTANCE_LEASE_LOST, message, {
    details: {
      instance_id: instanceId,
      reason,
      beyond_lease_ms: Math.round(beyondMs),
      lease_ttl_ms: leaseTtlMs,
      ...(holder ? { holder: { started_at: holder.started_at, heartbeat_at: holder.heartbeat_at, lease_expires_at: holder.lease_expires_at } } : {}),
    },
  });
}
