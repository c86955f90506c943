/**
 * Publishes a batch of outbox rows with different jobs in flight at once while each job's
 * rows go strictly one after the other. Why lanes and not "all in flight": a JetStream
 * publish can fail and be retried later, so if two rows of one job were in flight and the
 * first failed, the second would land in the stream first. Per lane the first failure ends
 * that job's run; its later rows in the batch are not attempted and wait, unmarked, for the
 * relay's next pass — other jobs carry on.
 */
import type { JobEventRow } from '../contracts/job-store-port.js';

export interface LaneFailure {
  row: JobEventRow;
  error: unknown;
  /** Rows of that job in this batch left unpublished (the failed one included). */
  pending: number;
}

export interface LaneOutcome {
  /** Ids of rows confirmed by the transport (any order: marking is per row). */
  published: number[];
  failures: LaneFailure[];
}

/** Splits rows into per-job lanes, keeping outbox order inside each lane. */
export function jobLanes(rows: readonly JobEventRow[]): JobEventRow[][] {
  const byJob = new Map<string, JobEventRow[]>();
  for (const row of rows) {
    const lane = byJob.get(row.job_id);
    if (lane) lane.push(row);
    else byJob.set(row.job_id, [row]);
  }
  return [...byJob.values()];
}

/**
 * At most `maxInFlight` publishes run at a time (one per lane). Lanes are started in the
 * order of their first row, so with light load the oldest job still goes first.
 */
export async function publishInJobLanes(rows: readonly JobEventRow[], publish: (row: JobEventRow) => Promise<void>, maxInFlight: number): Promise<LaneOutcome> {
  const lanes = jobLanes(rows);
  const outcome: LaneOutcome = { published: [], failures: [] };
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let lane = lanes[next++]; lane; lane = lanes[next++]) {
      for (let i = 0; i < lane.length; i++) {
        const row = lane[i]!;
        try {
          await publish(row);
          outcome.published.push(row.id);
        } catch (error) {
          outcome.failures.push({ row, error, pending: lane.length - i });
          break;
        }
      }
    }
  };
  const workers = Math.max(1, Math.min(maxInFlight, lanes.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return outcome;
}
