/**
 * A job id as a person types it: the whole id, or a unique prefix of at least 6 characters
 * (the inspector shows the first 8). Resolved against the database, so it works whether or
 * not the service runs.
 */
import type { JobStore } from '../contracts/index.js';
import { ChorusError, ErrorCode } from '../errors/index.js';

export const minimumPrefix = 6;

export async function resolveJobId(store: Pick<JobStore, 'getJob' | 'listJobs'>, typed: string | undefined): Promise<string> {
  const wanted = (typed ?? '').trim();
  if (wanted === '')
    throw new ChorusError(ErrorCode.INVALID_COMMAND, 'a job id is needed', {
      suggestion: 'give the job id (or its first 6+ characters), e.g. from `chorus-visual jobs list`',
    });
  if (await store.getJob(wanted)) return wanted;
  if (wanted.length < minimumPrefix) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `"${wanted}" is too short to name a job`, {
      suggestion: `give at least ${minimumPrefix} characters of the job id`,
    });
  }
  const matches = await store.listJobs({ idPrefix: wanted.toLowerCase(), limit: 3 });
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) {
    throw new ChorusError(ErrorCode.JOB_NOT_FOUND, `no job with id ${wanted}`, {
      details: { job_id: wanted },
      suggestion: '`chorus-visual jobs list` shows the jobs in this database (check --config / CHORUS_VISUAL_DATABASE_URL)',
    });
  }
  throw new ChorusError(ErrorCode.INVALID_COMMAND, `"${wanted}" is the start of more than one job: ${matches.map((m) => m.id).join(', ')}`, {
    details: { job_id: wanted, matches: matches.map((m) => m.id) },
    suggestion: 'give more characters of the job id',
  });
}
