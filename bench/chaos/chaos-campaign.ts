/**
 * One fault campaign: start everything, submit jobs and inject faults for a bounded time,
 * let everything settle, stop the service cleanly, then judge. Every part it starts is
 * stopped and every folder removed, whatever happens.
 */
import { countUnfinished, countUnpublished, readDatabaseFacts } from './campaign-database-reader.js';
import { createEnvironment } from './campaign-environment.js';
import { judge, type Verdict } from './campaign-verdict.js';
import { LiveEventRecorder, readEventStream } from './event-recorder.js';
import { FaultInjector, type FaultKind, type FaultTiming } from './fault-injector.js';
import { JobSubmitter, type SubmitterCounts } from './job-submitter.js';
import { seededRandom, sleep } from './seeded-random.js';
import { ServiceSupervisor } from './service-supervisor.js';

export interface CampaignOptions {
  seconds: number;
  seed: number;
  /** Pause between two submissions. */
  submitIntervalMs: number;
  timing: FaultTiming;
  /** Longest wait for every job to reach a final state after the faults stop. */
  settleSeconds: number;
  tmpfsMb: number;
  executionDelayMs: number;
  databaseOnDataDisk?: boolean;
  /** Inject full-disk faults (default true: a machine that cannot mount a tmpfs fails the run). */
  diskFull?: boolean;
  /** Ends the fault window early (Ctrl-C): the campaign still settles, judges and cleans up. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface CampaignReport {
  seed: number;
  faultWindowSeconds: number;
  totalSeconds: number;
  settleSeconds: number;
  settled: boolean;
  diskFull: { method: string; note: string | undefined; databaseOnDataDisk: boolean };
  injected: Record<FaultKind, number>;
  natsRestartsBySigkill: number;
  injectorErrors: string[];
  /** Why each second `serve` that was not refused with STORE_LOCKED was not. */
  rivalsNotRefused: string[];
  serviceStarts: number;
  /** Spawn to "listening", per start (ms): how long each crash kept the service away. */
  serviceStartMs: { median: number; max: number };
  submissions: SubmitterCounts & { stillInDoubt: number };
  simulator: { submissions: number; executions: number };
  live: { progressTicks: number; disconnects: number };
  serviceErrorLines: { count: number; byMessage: Record<string, number>; examples: string[] };
  verdict: Verdict;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const log = options.log ?? (() => undefined);
  const startedAt = Date.now();
  const prefix = 'chaos.visual';
  const streamName = 'CHAOS_VISUAL_EVENTS';
  const env = await createEnvironment({
    tmpfsMb: options.tmpfsMb,
    executionDelayMs: options.executionDelayMs,
    prefix,
    streamName,
    databaseOnDataDisk: options.databaseOnDataDisk ?? false,
    diskFull: options.diskFull ?? true,
  });
  const service = new ServiceSupervisor(env.configPath);
  let live: LiveEventRecorder | undefined;
  try {
    log(`data folder ${env.dataDir} (disk full: ${env.disk.method}${env.disk.reason ? `, ${env.disk.reason}` : ''})`);
    await service.start();
    live = await LiveEventRecorder.start(env.nats.url, prefix);
    const random = seededRandom(options.seed);
    const snapshots: Array<Record<string, number>> = [];
    const injector = new FaultInjector(
      { service, simulator: env.simulator, nats: env.nats, disk: env.disk, beforeSimulatorRestart: () => snapshots.push(env.simulator.stats().executions) },
      random,
      options.timing,
      (line) => log(`t+${((Date.now() - startedAt) / 1000).toFixed(1)}s ${line}`),
    );
    const submitter = new JobSubmitter(() => service.httpUrl, { workflow: 'no_model_test', conversations: 8, runTag: `s${options.seed}` });

    const faultWindowSeconds = await runFaultWindow(options, submitter, injector, log);
    log(`faults stopped after ${faultWindowSeconds.toFixed(1)} s; settling`);
    await injector.recover();
    const { settled, settleSeconds } = await settle(env.databasePath, submitter, live, options.settleSeconds);
    log(`settled=${settled} after ${settleSeconds.toFixed(1)} s; stopping the service and judging`);

    await service.stop();
    await live.stop();
    const facts = readDatabaseFacts(env.databasePath);
    const stream = await readEventStream(env.nats.url, streamName);
    snapshots.push(env.simulator.stats().executions);
    const verdict = await judge({
      acceptedIds: [...submitter.accepted.keys()],
      facts,
      dataDir: env.dataDir,
      comfyOutputDir: env.simulator.outputDir,
      streamEvents: stream.events,
      liveEvents: live.events,
      liveOffline: live.offline,
      executionSnapshots: snapshots,
      rivalsNotRefused: injector.rivalsNotRefused.length,
    });
    const simStats = env.simulator.stats();
    return {
      seed: options.seed,
      faultWindowSeconds,
      totalSeconds: (Date.now() - startedAt) / 1000,
      settleSeconds,
      settled,
      diskFull: { method: env.disk.method, note: env.disk.reason, databaseOnDataDisk: options.databaseOnDataDisk ?? false },
      injected: { ...injector.counts },
      natsRestartsBySigkill: injector.natsKills,
      injectorErrors: injector.errors,
      rivalsNotRefused: injector.rivalsNotRefused,
      serviceStarts: service.starts,
      serviceStartMs: { median: median(service.startMs), max: Math.max(0, ...service.startMs) },
      submissions: { ...submitter.counts, stillInDoubt: submitter.inDoubtCount },
      simulator: { submissions: simStats.submissions, executions: simStats.totalExecutions },
      live: { progressTicks: live.progress, disconnects: live.disconnects },
      serviceErrorLines: { count: service.errorLines.length, byMessage: countByMessage(service.errorLines), examples: service.errorLines.slice(0, 5) },
      verdict,
    };
  } finally {
    await service.kill().catch(() => undefined);
    await live?.stop().catch(() => undefined);
    await env.close();
  }
}

/** Submits and injects until the window ends (or the signal fires); returns its length in s. */
async function runFaultWindow(options: CampaignOptions, submitter: JobSubmitter, injector: FaultInjector, log: (line: string) => void): Promise<number> {
  const start = Date.now();
  let submitting = true;
  const submitLoop = (async () => {
    while (submitting) {
      await submitter.submitNext();
      await sleep(options.submitIntervalMs);
    }
  })();
  const faultLoop = injector.run();
  const ticker = setInterval(
    () => log(`t+${Math.round((Date.now() - start) / 1000)}s accepted ${submitter.counts.accepted}, faults ${JSON.stringify(injector.counts)}`),
    10_000,
  );
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.seconds * 1_000);
    options.signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
  submitting = false;
  injector.stop();
  await Promise.all([submitLoop, faultLoop]);
  clearInterval(ticker);
  return (Date.now() - start) / 1000;
}

/** Waits until no request is in doubt, no job is unfinished and the outbox is empty. */
async function settle(
  databasePath: string,
  submitter: JobSubmitter,
  live: LiveEventRecorder,
  maxSeconds: number,
): Promise<{ settled: boolean; settleSeconds: number }> {
  const start = Date.now();
  let settled = false;
  while (Date.now() < start + maxSeconds * 1_000) {
    await submitter.retryInDoubt();
    if (submitter.inDoubtCount === 0 && countUnfinished(databasePath) === 0 && countUnpublished(databasePath) === 0) {
      settled = true;
      break;
    }
    await sleep(500);
  }
  // The live subscriber may still be receiving the last publishes.
  const expectedEvents = readDatabaseFacts(databasePath).events.length;
  for (let i = 0; i < 20 && live.events.length < expectedEvents; i++) await sleep(100);
  return { settled, settleSeconds: (Date.now() - start) / 1000 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function countByMessage(lines: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    let msg = 'unparseable';
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) msg = String(parsed.msg);
    } catch {
      // a line that is not JSON (a crash trace) counts as one message of its own
    }
    counts[msg] = (counts[msg] ?? 0) + 1;
  }
  return counts;
}
