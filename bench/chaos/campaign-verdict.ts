/**
 * After the run: the four promises checked against what the database, the stream, the live
 * subscriber, the simulator and the disk say. Every count that is not zero where zero is
 * promised is a violation; jobs failed by design (full disk, ComfyUI forgetting a prompt
 * too often) are listed by code, not counted as violations.
 */
import { checkDelivery, deliveryViolations, type DeliveryResult } from './delivery-check.js';
import type { OfflineWindow } from './event-recorder.js';
import type { DatabaseFacts } from './campaign-database-reader.js';
import type { ReceivedEvent } from './event-recorder.js';
import { checkExecutions, type ExecutionResult } from './execution-check.js';
import { checkFailedOutputs, type FailedOutputResult } from './failed-output-check.js';
import { checkFiles, type FileResult } from './file-check.js';

const finalStates = new Set(['completed', 'failed', 'cancelled']);

export interface JobOutcome {
  accepted: number;
  byState: Record<string, number>;
  failedByCode: Record<string, number>;
  /** Accepted but not in a final state, or not in the database at all. */
  notFinal: number;
  missingFromDatabase: number;
  /** Jobs in the database whose creation no answer ever confirmed (e.g. refused mid-write). */
  storedButNotAccepted: number;
  examples: string[];
}

export interface Verdict {
  jobs: JobOutcome;
  executions: ExecutionResult;
  files: FileResult;
  failedOutputs: FailedOutputResult;
  delivery: { stream: DeliveryResult; live: DeliveryResult };
  violations: Record<string, number>;
  totalViolations: number;
}

function outcomeOf(acceptedIds: string[], facts: DatabaseFacts): JobOutcome {
  const byState: Record<string, number> = {};
  const failedByCode: Record<string, number> = {};
  const examples: string[] = [];
  let notFinal = 0;
  let missing = 0;
  for (const id of acceptedIds) {
    const job = facts.jobs.get(id);
    if (!job) {
      missing++;
      if (examples.length < 5) examples.push(`${id}: not in the database`);
      continue;
    }
    byState[job.status] = (byState[job.status] ?? 0) + 1;
    if (job.status === 'failed') failedByCode[job.errorCode ?? 'UNKNOWN'] = (failedByCode[job.errorCode ?? 'UNKNOWN'] ?? 0) + 1;
    if (!finalStates.has(job.status)) {
      notFinal++;
      if (examples.length < 5) examples.push(`${id}: ${job.status}`);
    }
  }
  const accepted = new Set(acceptedIds);
  const storedButNotAccepted = [...facts.jobs.keys()].filter((id) => !accepted.has(id)).length;
  return { accepted: acceptedIds.length, byState, failedByCode, notFinal, missingFromDatabase: missing, storedButNotAccepted, examples };
}

export async function judge(input: {
  acceptedIds: string[];
  facts: DatabaseFacts;
  dataDir: string;
  comfyOutputDir: string;
  streamEvents: ReceivedEvent[];
  liveEvents: ReceivedEvent[];
  /** When the live subscriber was disconnected. */
  liveOffline: OfflineWindow[];
  executionSnapshots: Array<Record<string, number>>;
  /** Second `serve` processes on the same database that were not refused at once. */
  rivalsNotRefused: number;
}): Promise<Verdict> {
  const { facts } = input;
  const jobs = outcomeOf(input.acceptedIds, facts);
  const executions = checkExecutions(facts.promptIdsByJob, input.executionSnapshots);
  const completed = [...facts.jobs.values()].filter((j) => j.status === 'completed').map((j) => ({ jobId: j.id, result: j.result }));
  const failedIds = new Set([...facts.jobs.values()].filter((j) => j.status !== 'completed').map((j) => j.id));
  const files = await checkFiles(input.dataDir, completed, failedIds);
  const failedOutputs = await checkFailedOutputs([...facts.jobs.values()], input.comfyOutputDir, input.dataDir);
  const stream = checkDelivery('JetStream (ordered consumer after the run)', facts.events, input.streamEvents);
  const live = checkDelivery(
    'core NATS (subscribed during the run)',
    facts.events,
    input.liveEvents,
    storedWhileOffline(input.streamEvents, input.liveOffline),
  );
  const violations = {
    acceptedNotFinal: jobs.notFinal + jobs.missingFromDatabase,
    duplicateExecutions: executions.duplicateJobs,
    unattributedExecutions: executions.unattributedExecutions,
    badCompletedJobs: files.badJobs,
    strayFilesOfCompletedJobs: files.leftovers.ofCompletedJobs,
    lostOutputsOfFailedJobs: failedOutputs.lost,
    streamDelivery: deliveryViolations(stream, { requireGapless: true, atLeastOnce: false }),
    liveDelivery: deliveryViolations(live, { requireGapless: false, atLeastOnce: true }),
    secondDriverStarted: input.rivalsNotRefused,
  };
  const totalViolations = Object.values(violations).reduce((a, b) => a + b, 0);
  return { jobs, executions, files, failedOutputs, delivery: { stream, live }, violations, totalViolations };
}

/**
 * Slack around a window the live subscriber was offline: what the server stored just before
 * it died may never have reached the socket, and the subscription is sent again a moment
 * after the reconnect; the server's timestamps and the recorder's are this host's clock.
 */
const offlineSlackMs = 250;

/** Events the stream stored while the live subscriber was disconnected (with slack either side). */
export function storedWhileOffline(streamEvents: ReceivedEvent[], offline: OfflineWindow[]): (eventId: string) => boolean {
  const storedAt = new Map(streamEvents.map((event) => [event.eventId, event.storedAt] as const));
  return (eventId) => {
    const at = storedAt.get(eventId);
    if (at === undefined) return false;
    return offline.some((window) => at >= window.from - offlineSlackMs && at <= (window.to ?? Number.POSITIVE_INFINITY) + offlineSlackMs);
  };
}
