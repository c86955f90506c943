/**
 * The fenced-write failure of several instances on one database: `src/db` throws it, the
 * job service recognises it and stops driving the job (another instance took it over).
 */
import { ErrorCode } from '../contracts/error-codes.js';
import { ChorusError } from './chorus-error.js';

/**
 * Thrown by a fenced write when another instance has taken the job over (`owner_changed`),
 * or another process claimed this one's instance id, and the job with it (`instance_taken`).
 */
export function ownershipLost(jobId: string, owner: string | null, reason: 'owner_changed' | 'instance_taken' = 'owner_changed'): ChorusError {
  const message =
    reason === 'instance_taken'
      ? `Job ${jobId} is now driven by another process under instance id ${owner ?? '(none)'}; this run lost the id`
      : `Job ${jobId} is now driven by ${owner ?? 'no instance'}; this instance lost it`;
  return new ChorusError(ErrorCode.OWNERSHIP_LOST, message, { recoverable: true, details: { job_id: jobId, reason, owner } });
}

export function isOwnershipLost(error: unknown): boolean {
  return error instanceof ChorusError && error.code === ErrorCode.OWNERSHIP_LOST;
}
