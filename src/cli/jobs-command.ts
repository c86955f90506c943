/**
 * `chorus-visual jobs list | show <id> | watch <id> | cancel <id> | regenerate <id> [--seed N]`.
 * list, show and watch only read the database, so they work whether or not a service runs
 * (they take no driver lock); with no database file they say so and create none. cancel and regenerate must reach the process that drives the
 * jobs (an actor is the only thing allowed to move a job): cancel goes to the service holding
 * the database's driver lock (HTTP, else NATS), or, when none does, drives that one job here;
 * regenerate goes to that service too, and on PostgreSQL through the NATS command service;
 * on SQLite with no service holding the lock it fails at once (nothing could drive the new
 * job, and NATS could only reach another database's service). stderr says which way.
 * Job ids may be given by a unique prefix of 6+ characters.
 */
import { connect, ErrorCode as NatsErrorCode } from 'nats';
import { stringify as toYaml } from 'yaml';
import { natsConnectionOptions } from '../events/index.js';
import { commandSubject } from '../commands/command-service.js';
import { redactUrl, type ResolvedConfig } from '../config/index.js';
import { JobState, type JobView } from '../contracts/index.js';
import { createJobStore, describeDatabase } from '../db/index.js';
import { driverLockPathsFor, lockHolderOf, StoreDriverLock, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';
import { startApp } from '../app/chorus-visual-app.js';
import { runThenStop } from '../app/stop-sequence.js';
import { finalStates } from '../contracts/index.js';
import { createSilentLogger } from '../logging/logger.js';
import { checkBeforeRegeneratingAgain, COMMAND_REPLY_MS, connectToDriver, regenerateLeftWithService, routeLine } from './driver-client.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { jobViewOf } from '../jobs/index.js';
import { debugDocumentOf } from '../jobs/job-debug-document.js';
import { toJobEventView } from '../commands/job-command-handler.js';
import { describeIssues, invalidCommand } from '../commands/command-replies.js';
import { regenerateCommandSchema, type RegenerateCommand } from '../commands/command-schemas.js';
import { didYouMean, formatHelp, parseCommandArgs, HelpShown, type CommandHelp } from './cli-args.js';
import { resolveJobId } from './job-id-resolver.js';
import { absentDatabaseFile, absentDatabaseNote, noJobWithoutDatabase } from './absent-database.js';
import { formatJobSummary } from './job-summary-format.js';
import { watchJob } from './job-watch.js';
import { loadCliConfig } from './load-cli-config.js';
import { noteStopFailure } from './stop-failure-note.js';

const configOption = { config: 'FILE  the config file (default config/chorus-visual.yaml); its database is read' };

const helps: Record<string, CommandHelp> = {
  list: {
    usage: 'chorus-visual jobs list [options]',
    summary: 'Lists jobs, newest first, with a header line.',
    options: {
      state: `STATE  only jobs in this state (${Object.values(JobState).join(', ')}); comma-separate several`,
      conversation: "ID  only this conversation's jobs",
      character: "ID  only this character's jobs",
      limit: 'N  at most N jobs (default 50)',
      json: 'print the jobs as JSON',
      ...configOption,
    },
  },
  show: {
    usage: 'chorus-visual jobs show <job-id> [options]',
    summary:
      'Shows one job: state, prompt, timings (their parts add up to the total), files, error with its suggestion. The id may be a unique prefix of 6+ characters.',
    options: {
      debug: 'also the debug facts: workflow, prompt components, parameters, LoRAs, submission, how each file came, transitions',
      json: 'print the document as JSON (with --debug: its debug section too)',
      ...configOption,
    },
  },
  watch: {
    usage: 'chorus-visual jobs watch <job-id> [options]',
    summary: 'Follows a job live to its end with the progress bar (events from the running service over NATS), then shows it.',
    options: { json: 'print the final job as JSON', ...configOption },
  },
  cancel: {
    usage: 'chorus-visual jobs cancel <job-id> [options]',
    summary:
      "Asks the service that drives the job (the one holding the database's driver lock: over HTTP, else NATS) to cancel it; with none running, cancels it in this process. Says which way on stderr.",
    options: { json: "print the service's reply as JSON", ...configOption },
  },
  regenerate: {
    usage: 'chorus-visual jobs regenerate <job-id> [options]',
    summary:
      "Asks the running service for a new job from this job's inputs, linked to it: the one holding the database's driver lock (over HTTP, else NATS), or on PostgreSQL any instance over NATS. On SQLite with no service running it fails: start `chorus-visual serve` first.",
    options: {
      seed: "N  the new job's seed (default: a new random seed, recorded on the job; give the earlier job's seed to repeat it)",
      'request-id': 'ID  an idempotency key: run again with the same ID, it returns the same new job instead of making another',
      json: "print the service's reply as JSON",
      ...configOption,
    },
  },
};

const overview: CommandHelp = {
  usage: 'chorus-visual jobs <list|show|watch|cancel|regenerate> [options]',
  summary: 'Reads the jobs in the database; cancel and regenerate go through the running service.',
  options: {},
  more: 'subcommands:\n  list             jobs, newest first\n  show <id>        one job, readable (--json, --debug)\n  watch <id>       follow a job live to its end\n  cancel <id>      cancel a job through the running service\n  regenerate <id>  a new job from its inputs (--seed N), through the running service\n\n`chorus-visual jobs <subcommand> --help` describes its options.',
};

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(formatHelp(overview));
    throw new HelpShown();
  }
  const help = sub === undefined ? undefined : helps[sub];
  if (!help) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, sub === undefined ? 'jobs needs a subcommand' : `unknown jobs command "${sub}"`, {
      suggestion:
        (sub && didYouMean(sub, Object.keys(helps))) ?? 'use one of: jobs list, jobs show <id>, jobs watch <id>, jobs cancel <id>, jobs regenerate <id>',
    });
  }
  const options = {
    config: { type: 'string' },
    json: { type: 'boolean' },
    ...(sub === 'show' ? { debug: { type: 'boolean' } } : {}),
    ...(sub === 'regenerate' ? { seed: { type: 'string' }, 'request-id': { type: 'string' } } : {}),
    ...(sub === 'list' ? { state: { type: 'string' }, conversation: { type: 'string' }, character: { type: 'string' }, limit: { type: 'string' } } : {}),
  } as const;
  const { values, positionals } = parseCommandArgs(rest, options as typeof options & Record<string, { type: 'string' | 'boolean' }>, help);
  const flags = values as Record<string, string | boolean | undefined>;
  const config = await loadCliConfig(flags['config'] as string | undefined);
  const absent = absentDatabaseFile(config.database.url);
  if (absent !== undefined) return withoutDatabase(sub!, absent, positionals[0], flags);
  const store = await createJobStore(config.database.url);
  const runSubcommand = async (): Promise<number> => {
    if (sub === 'list') return await list(store, flags);
    const jobId = await resolveJobId(store, positionals[0]);
    if (sub === 'cancel') return await cancelJob(config, jobId, flags['json'] === true);
    if (sub === 'regenerate') {
      const seed = flags['seed'] as string | undefined;
      const requestId = flags['request-id'] as string | undefined;
      const parsed = regenerateCommandSchema.safeParse({
        job_id: jobId,
        ...(seed === undefined ? {} : { seed: /^\d+$/.test(seed) ? Number(seed) : seed }),
        ...(requestId === undefined ? {} : { request_id: requestId }),
      });
      if (!parsed.success)
        throw invalidCommand(
          `jobs regenerate: ${describeIssues(parsed.error.issues)
            .map((i) => `${i.path}: ${i.message}`)
            .join('; ')}`,
          describeIssues(parsed.error.issues),
        );
      return await regenerateJob(config, parsed.data, flags['json'] === true);
    }
    if (sub === 'watch') {
      const job = await watchJob(config, store, jobId);
      process.stdout.write(flags['json'] ? `${JSON.stringify(job, null, 2)}\n` : formatJobSummary(job, (await store.listEvents(jobId)).length));
      return job.state === 'completed' ? 0 : 1;
    }
    const row = (await store.getJob(jobId))!;
    const view = jobViewOf(row, null, (await store.listRegenerations([jobId])).get(jobId));
    const events = await store.listEvents(jobId);
    const debug = flags['debug'] ? debugDocumentOf(row, view, events) : undefined;
    if (flags['json']) {
      process.stdout.write(`${JSON.stringify({ job: view, events: events.map(toJobEventView), ...(debug ? { debug } : {}) }, null, 2)}\n`);
    } else {
      process.stdout.write(formatJobSummary(view, events.length));
      if (debug) process.stdout.write(`\ndebug:\n${toYaml(debug, { indent: 2 }).replace(/^/gm, '  ')}`);
    }
    return 0;
  };
  // When the subcommand fails, its error stays the one reported, not the store's failing to close after it.
  return runThenStop(runSubcommand, [{ part: 'the database store', stop: () => store.close() }], `stopping jobs ${sub}`, noteStopFailure);
}

function parseStates(text: string): JobState[] {
  const known = Object.values(JobState) as string[];
  return text.split(',').map((state) => {
    const wanted = state.trim();
    if (known.includes(wanted)) return wanted as JobState;
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `"${wanted}" is not a job state`, {
      details: { state: wanted, states: known },
      suggestion: didYouMean(wanted, known) ?? `states: ${known.join(', ')}`,
    });
  });
}

/** The filter of `jobs list`, its options checked. */
function listFilter(flags: Record<string, string | boolean | undefined>) {
  const limit = flags['limit'] === undefined ? 50 : Number(flags['limit']);
  if (!Number.isInteger(limit) || limit < 1)
    throw new ChorusError(ErrorCode.INVALID_COMMAND, '--limit must be a whole number from 1', { suggestion: 'e.g. --limit 20' });
  return {
    ...(typeof flags['state'] === 'string' ? { states: parseStates(flags['state']) } : {}),
    ...(typeof flags['conversation'] === 'string' ? { conversationId: flags['conversation'] } : {}),
    ...(typeof flags['character'] === 'string' ? { character: flags['character'] } : {}),
    limit,
  };
}

/**
 * No database file: nothing to read, and nothing is created. `list` is empty (exit 0) with a
 * note on stderr; a job named by id is JOB_NOT_FOUND saying there is no database.
 */
async function withoutDatabase(sub: string, file: string, typed: string | undefined, flags: Record<string, string | boolean | undefined>): Promise<number> {
  if (sub === 'list') {
    listFilter(flags);
    process.stdout.write(flags['json'] ? '[]\n' : 'no jobs\n');
    process.stderr.write(absentDatabaseNote(file));
    return 0;
  }
  // An empty store: a missing or too-short id gets the usual INVALID_COMMAND; any other is not there.
  await resolveJobId({ getJob: async () => undefined, listJobs: async () => [] }, typed).catch((error: unknown) => {
    if (error instanceof ChorusError && error.code === ErrorCode.JOB_NOT_FOUND) throw noJobWithoutDatabase((typed ?? '').trim(), file);
    throw error;
  });
  throw noJobWithoutDatabase((typed ?? '').trim(), file);
}

async function list(store: Awaited<ReturnType<typeof createJobStore>>, flags: Record<string, string | boolean | undefined>): Promise<number> {
  const rows = await store.listJobs(listFilter(flags));
  const regenerations = await store.listRegenerations(rows.map((row) => row.id));
  const views = rows.map((row) => jobViewOf(row, null, regenerations.get(row.id)));
  if (flags['json']) {
    process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
    return 0;
  }
  if (views.length === 0) {
    process.stdout.write('no jobs\n');
    return 0;
  }
  process.stdout.write(table(views));
  return 0;
}

/** Ids shortened to 8 characters, as the inspector shows them; `jobs show` takes them. */
function table(views: JobView[]): string {
  const rows = [
    ['JOB', 'STATE', 'CHARACTER', 'WORKFLOW', 'CONVERSATION', 'CREATED', 'ERROR'],
    ...views.map((v) => [v.id.slice(0, 8), v.state, v.character ?? '-', v.workflow, v.conversation_id, v.created_at, v.error?.code ?? '']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return `${rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** Longest wait for an in-process cancel to reach a final state (ComfyUI may be slow to confirm). */
const IN_PROCESS_CANCEL_MS = 60_000;

/**
 * Only the driver of a job may move it. SQLite: the process holding the driver lock gets the
 * cancel (HTTP, else NATS); when none holds it, this process takes the lock, restores the
 * one job and cancels it. PostgreSQL: the instances' NATS command service.
 */
async function cancelJob(config: ResolvedConfig, jobId: string, json: boolean): Promise<number> {
  const paths = driverLockPathsFor(config.database.url);
  if (!paths) return throughService(config, 'cancel', { job_id: jobId }, json);
  const holder = StoreDriverLock.currentHolder(paths);
  if (holder) return printCancelled(await cancelThroughDriver(config, paths, holder, jobId), json);
  try {
    return printCancelled(await cancelInProcess(config, jobId), json);
  } catch (error) {
    // A service started meanwhile: it is the driver now.
    const raced = lockHolderOf(error);
    if (!raced) throw error;
    return printCancelled(await cancelThroughDriver(config, paths, raced, jobId), json);
  }
}

async function cancelThroughDriver(config: ResolvedConfig, paths: DriverLockPaths, holder: DriverHolder, jobId: string): Promise<JobView> {
  const { client, holder: serving } = await connectToDriver(config, paths, holder, 'cancel');
  process.stderr.write(routeLine(client, serving));
  return runThenStop(
    () => client.cancel(jobId),
    [{ part: 'the connection to the running service', stop: () => client.close() }],
    'stopping jobs cancel',
    noteStopFailure,
  );
}

/** No service drives the database: drive this one job here, just long enough to cancel it. */
async function cancelInProcess(config: ResolvedConfig, jobId: string): Promise<JobView> {
  const app = await startApp({ config, logger: createSilentLogger(), http: false, commands: false, role: 'jobs cancel', runtime: { restore: false } });
  process.stderr.write(`route: in this process (no service drives ${describeDatabase(config.database.url)})\n`);
  const cancel = async (): Promise<JobView> => {
    const row = await app.runtime.store.getJob(jobId);
    if (!row) throw new ChorusError(ErrorCode.JOB_NOT_FOUND, `no job with id ${jobId}`, { details: { job_id: jobId } });
    if (finalStates.has(row.status)) return (await app.runtime.service.get(jobId)).job;
    const ended = new Promise<void>((resolve) => {
      app.runtime.service.on('transition', (notice) => {
        if (notice.jobId === jobId && finalStates.has(notice.job.state)) resolve();
      });
    });
    await app.runtime.service.adopt([row]);
    await app.runtime.service.cancel(jobId);
    // Cancelling may ask ComfyUI to drop or interrupt the prompt; the machine bounds that wait.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, IN_PROCESS_CANCEL_MS)))]);
    clearTimeout(timer);
    return (await app.runtime.service.get(jobId)).job;
  };
  // When the cancel fails, its error stays the one reported, not the app's failing to stop after it.
  return runThenStop(cancel, [{ part: 'the app', stop: () => app.stop() }], 'stopping jobs cancel', noteStopFailure);
}

function printCancelled(job: JobView, json: boolean): number {
  process.stdout.write(json ? `${JSON.stringify({ ok: true, job }, null, 2)}\n` : `${cancelOutcome(job)}\n`);
  return 0;
}

/**
 * SQLite: the process holding the driver lock makes the new job (HTTP, else NATS); with none,
 * nothing can drive it, and NATS would only reach another database's service on the same
 * subjects. PostgreSQL: the instances' NATS command service.
 */
async function regenerateJob(config: ResolvedConfig, cmd: RegenerateCommand, json: boolean): Promise<number> {
  const paths = driverLockPathsFor(config.database.url);
  if (!paths) return throughService(config, 'regenerate', cmd, json);
  const holder = StoreDriverLock.currentHolder(paths);
  if (!holder)
    throw new ChorusError(
      ErrorCode.SERVICE_UNAVAILABLE,
      `no service drives ${describeDatabase(config.database.url)}: regenerate needs a running service to drive the new job`,
      {
        recoverable: true,
        suggestion: 'Start `chorus-visual serve` with this database, then run this command again.',
      },
    );
  const { client, holder: serving } = await connectToDriver(config, paths, holder, 'regenerate');
  process.stderr.write(routeLine(client, serving));
  const { job, created } = await runThenStop(
    () =>
      client.regenerate(cmd).catch((error: unknown) => {
        throw regenerateLeftWithService(error, cmd);
      }),
    [{ part: 'the connection to the running service', stop: () => client.close() }],
    'stopping jobs regenerate',
    noteStopFailure,
  );
  process.stdout.write(json ? `${JSON.stringify({ ok: true, job, created }, null, 2)}\n` : `${regenerateOutcome(job, cmd.job_id)}\n`);
  return 0;
}

/** cancel (on PostgreSQL) and regenerate move jobs: only the running service (its actors) may do that. */
async function throughService(config: ResolvedConfig, command: 'cancel' | 'regenerate', payload: Record<string, unknown>, json: boolean): Promise<number> {
  process.stderr.write(`route: NATS ${commandSubject(config.nats.subject_prefix, command)} (the running service's command service)\n`);
  const nc = await connect({ ...(await natsConnectionOptions(config.nats, { waitOnFirstConnect: false })), maxReconnectAttempts: 0 }).catch(
    (error: unknown) => {
      throw new ChorusError(
        ErrorCode.EVENTS_UNAVAILABLE,
        `cannot reach NATS at ${config.nats.servers.map(redactUrl).join(', ')}: ${(error as Error).message}`,
        {
          suggestion: `${command} goes through the running service's NATS command service: check nats.servers, start nats-server and \`chorus-visual serve\`.`,
        },
      );
    },
  );
  const ask = async (): Promise<number> => {
    const reply = await nc
      .request(commandSubject(config.nats.subject_prefix, command), JSON.stringify(payload), { timeout: COMMAND_REPLY_MS })
      .catch((error: unknown) => {
        if ((error as { code?: unknown }).code !== NatsErrorCode.NoResponders) throw mayHaveBeenPerformed(config, command, payload, error);
        throw new ChorusError(
          ErrorCode.SERVICE_UNAVAILABLE,
          `no chorus-visual service answered on NATS ${commandSubject(config.nats.subject_prefix, command)}: ${(error as Error).message}`,
          {
            recoverable: true,
            // The way here is NATS only: a service started with --no-nats listens on HTTP alone.
            suggestion: `Start \`chorus-visual serve\` with NATS (it drives the jobs and performs the ${command}). A service running without NATS (\`serve --no-nats\`) cannot be reached this way: send \`POST /api/jobs/${String(payload['job_id'])}/${command}\` to its HTTP API.`,
          },
        );
      });
    const body = reply.json<{ ok: boolean; job?: JobView; error?: { code: string; message: string; suggestion?: string } }>();
    if (json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    else if (!body.ok)
      throw new ChorusError(
        (body.error?.code ?? 'INTERNAL') as ErrorCode,
        // A refusal without a message still names what was refused (a cancel or a regenerate).
        body.error?.message ?? `the ${command} failed`,
        body.error?.suggestion ? { suggestion: body.error.suggestion } : {},
      );
    else process.stdout.write(`${command === 'cancel' ? cancelOutcome(body.job!) : regenerateOutcome(body.job!, String(payload['job_id']))}\n`);
    return body.ok ? 0 : 1;
  };
  return runThenStop(ask, [{ part: 'the NATS connection', stop: () => nc.close() }], `stopping jobs ${command}`, noteStopFailure);
}

/**
 * Something subscribes to the subject (nats.js says no-responders otherwise), but no reply came:
 * a live, slow service may still have performed the command. Saying "none runs" would invite
 * a second regenerate, hence a second new job.
 */
function mayHaveBeenPerformed(config: ResolvedConfig, command: 'cancel' | 'regenerate', payload: Record<string, unknown>, error: unknown): ChorusError {
  const subject = commandSubject(config.nats.subject_prefix, command);
  const timedOut = (error as { code?: unknown }).code === NatsErrorCode.Timeout;
  const jobId = String(payload['job_id']);
  const why = timedOut
    ? `no reply on NATS ${subject} within ${COMMAND_REPLY_MS / 1000} s`
    : `the request on NATS ${subject} failed: ${(error as Error).message}`;
  return new ChorusError(ErrorCode.SERVICE_UNAVAILABLE, `${why}; a service received it and may have performed the ${command}`, {
    cause: error,
    recoverable: true,
    details: { job_id: jobId, subject, timed_out: timedOut },
    suggestion:
      command === 'regenerate'
        ? checkBeforeRegeneratingAgain(jobId, payload['request_id'] as string | undefined)
        : `Check with \`chorus-visual jobs show ${jobId}\`; cancelling again is harmless.`,
  });
}

function regenerateOutcome(job: JobView, from: string): string {
  return `new job ${job.id} (${job.state}), regenerated from ${job.regenerated_from ?? from}`;
}

function cancelOutcome(job: JobView): string {
  if (job.state === 'cancelled') return `job ${job.id} cancelled`;
  if (job.state === 'completed' || job.state === 'failed') return `job ${job.id} had already ${job.state}; nothing to cancel`;
  return `cancel requested for job ${job.id} (now ${job.substate ?? job.state}); it ends as cancelled once ComfyUI confirms — \`chorus-visual jobs watch ${job.id.slice(0, 8)}\` follows it`;
}
