/**
 * The fenced-write failure of several instances on one database: `src/db` throws it, the
 * job service recognises it and stops driving the job (another instance took it over).
 */
import { ErrorCode } from '../contracts/error-codes.js';
import { ChorusError } from './chorus-error.js';

/** Thrown by a fenced write when another instance has taken the job over. */
export function ownershipLost(jobId: string, owner: string | null): ChorusError {
  return new ChorusError(ErrorCode.OWNERSHIP_LOST, `Job ${jobId} is now driven by ${owner ?? 'no instance'}; this instance lost it`, {
    recoverable: true,
    details: { job_id: jobId, reason: 'owner_changed', owner },
  });
}

export function isOwnershipLost(error: unknown): boolean {
  return error instanceof ChorusError && error.code === ErrorCode.OWNERSHIP_LOST;
}
