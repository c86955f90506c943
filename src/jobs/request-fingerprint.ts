/**
 * What makes two generate commands "the same request" for idempotency: every field that
 * changes what gets made or where it goes — not request_id itself. A retry sends the same
 * fields and gets its job back; the same request_id with other fields is a different request
 * (REQUEST_ID_CONFLICT), never silently answered with somebody else's job.
 */
import { createHash } from 'node:crypto';
import type { GenerateCommand } from '../commands/command-schemas.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { JobRow } from '../contracts/job-store-port.js';

/** Keys in a fixed order, absent and undefined alike: the hash cannot depend on how JSON was spelled. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

export function requestHashOf(cmd: GenerateCommand): string {
  const { request_id: _requestId, ...meaningful } = cmd;
  return createHash('sha256')
    .update(JSON.stringify(canonical(meaningful)))
    .digest('hex');
}

/** The job a request_id already names, or REQUEST_ID_CONFLICT when it was made for another request. */
export function sameRequestOrConflict(existing: JobRow, hash: string): JobRow {
  // Jobs admitted before hashes were stored cannot be compared: treated as the same request.
  if (existing.request_hash === undefined || existing.request_hash === null || existing.request_hash === hash) return existing;
  throw new ChorusError(
    ErrorCode.REQUEST_ID_CONFLICT,
    `request_id "${existing.request_id}" of conversation "${existing.conversation_id}" already belongs to job ${existing.id}, made for a different request`,
    { details: { job_id: existing.id, request_id: existing.request_id, conversation_id: existing.conversation_id } },
  );
}
