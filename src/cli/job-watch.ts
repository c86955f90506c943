/**
 * `jobs watch <id>`: follows one job to its end with the progress bar, from the events the
 * running service publishes on NATS (transitions and progress ticks). The database is read
 * first (a finished job is simply shown) and again once subscribed, so a transition that
 * happened in between is not missed. Without NATS it reads the database twice a second:
 * states but no progress bar.
 */
import { connect, type NatsConnection } from 'nats';
import type { ResolvedConfig } from '../config/index.js';
import { finalStates, type JobStore, type JobView } from '../contracts/index.js';
import { jobEventsSubject, natsConnectionOptions } from '../events/index.js';
import { jobViewOf } from '../jobs/index.js';
import { runThenStop } from '../app/stop-sequence.js';
import { createJobProgressDisplay } from './job-progress-display.js';
import { noteStopFailure } from './stop-failure-note.js';

async function currentView(store: Pick<JobStore, 'getJob'>, jobId: string): Promise<JobView> {
  return jobViewOf((await store.getJob(jobId))!);
}

export async function watchJob(config: ResolvedConfig, store: Pick<JobStore, 'getJob'>, jobId: string): Promise<JobView> {
  const job = await currentView(store, jobId);
  if (finalStates.has(job.state)) return job;
  const display = createJobProgressDisplay();
  display.track(job, job.character ?? job.workflow);
  // The display and the connection are stopped however the watch ends; when it fails, its
  // error stays the one reported, not a stop's after it (as in the other commands).
  const watch = async (): Promise<JobView> => {
    const nc = config.nats.enabled ? await connectQuietly(config) : undefined;
    if (!nc) return pollUntilFinal(store, jobId, display);
    return runThenStop(
      () => followEvents(nc, config, store, jobId, display),
      [{ part: 'the NATS connection', stop: () => nc.close() }],
      'stopping jobs watch',
      noteStopFailure,
    );
  };
  return runThenStop(watch, [{ part: 'the progress display', stop: () => display.stop() }], 'stopping jobs watch', noteStopFailure);
}

async function followEvents(
  nc: NatsConnection,
  config: ResolvedConfig,
  store: Pick<JobStore, 'getJob'>,
  jobId: string,
  display: ReturnType<typeof createJobProgressDisplay>,
): Promise<JobView> {
  const subscription = nc.subscribe(jobEventsSubject(config.nats.subject_prefix, jobId));
  // Subscribed: anything from now on arrives as an event; check what happened before.
  const job = await currentView(store, jobId);
  display.transition(job);
  if (finalStates.has(job.state)) return job;
  for await (const message of subscription) {
    const event = message.json<{ type: string; data: Record<string, unknown> }>();
    if (event.type.endsWith('.progress')) {
      const progress = event.data['progress'] as { value: number; max: number } | undefined;
      if (progress) display.progress(jobId, progress.value, progress.max);
      continue;
    }
    const state = event.data['state'];
    if (typeof state !== 'string') continue;
    display.transition(event.data as unknown as JobView);
    if (finalStates.has(state as JobView['state'])) break;
  }
  return currentView(store, jobId);
}

async function connectQuietly(config: ResolvedConfig): Promise<NatsConnection | undefined> {
  try {
    return await connect({ ...(await natsConnectionOptions(config.nats, { waitOnFirstConnect: false })), maxReconnectAttempts: 0, timeout: 3_000 });
  } catch {
    return undefined;
  }
}

async function pollUntilFinal(store: Pick<JobStore, 'getJob'>, jobId: string, display: ReturnType<typeof createJobProgressDisplay>): Promise<JobView> {
  let last = '';
  for (;;) {
    const job = await currentView(store, jobId);
    const position = job.substate ?? job.state;
    if (position !== last) display.transition(job);
    last = position;
    if (finalStates.has(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
