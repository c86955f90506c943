/**
 * `chorus-visual jobs list | show <id> [--debug] | cancel <id> | regenerate <id> [--seed N]`.
 * list and show only read the database, so they work whether or not a service runs (they
 * take no driver lock). cancel and regenerate must reach the process that drives the job —
 * an actor is the only thing allowed to move a job. cancel goes to the service holding the
 * database's driver lock, or, when none does, drives that one job here; stderr says which
 * way it went. regenerate goes through the running service's NATS command.
 */
import { connect } from 'nats';
import { natsConnectionOptions } from '../events/index.js';
import { commandSubject } from '../commands/command-service.js';
import { createJobStore } from '../db/index.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { finalStates, jobViewOf, type JobState, type JobView } from '../jobs/index.js';
import { startApp } from '../app/chorus-visual-app.js';
import { describeDatabase } from '../db/index.js';
import { driverLockPathsFor, lockHolderOf, StoreDriverLock, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';
import { silentLogger } from '../logging/logger.js';
import { connectToDriver, routeLine } from './driver-client.js';
import { debugDocumentOf } from '../jobs/job-debug-document.js';
import { toJobEventView } from '../commands/job-command-handler.js';
import { describeIssues, invalidCommand } from '../commands/command-replies.js';
import { parseCommandArgs } from './cli-args.js';
import { loadCliConfig } from './load-cli-config.js';
import { jobIdCommandSchema, listCommandSchema, regenerateCommandSchema } from '../commands/command-schemas.js';

/** Longest wait for an in-process cancel to reach a final state (ComfyUI may be slow to confirm). */
const IN_PROCESS_CANCEL_MS = 60_000;

const usage = 'usage: chorus-visual jobs list [--state S] [--conversation ID] [--limit N] | show <id> [--debug] | cancel <id> | regenerate <id> [--seed N]   [--config FILE] [--json]';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseCommandArgs(
    rest,
    {
      config: { type: 'string' },
      json: { type: 'boolean' },
      debug: { type: 'boolean' },
      state: { type: 'string' },
      conversation: { type: 'string' },
      character: { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
    },
    usage,
  );
  const config = await loadCliConfig(values.config);
  if (sub === 'cancel') return cancelJob(config, positionals[0], values.json === true);
  if (sub === 'regenerate') {
    const parsed = regenerateCommandSchema.safeParse({
      job_id: positionals[0] ?? '',
      ...(values.seed === undefined ? {} : { seed: /^\d+$/.test(values.seed) ? Number(values.seed) : values.seed }),
    });
    if (!parsed.success) throw invalidCommand(`jobs regenerate: ${describeIssues(parsed.error.issues).map((i) => `${i.path}: ${i.message}`).join('; ')}`, describeIssues(parsed.error.issues));
    const cmd = parsed.data;
    return throughService(config, 'regenerate', cmd, values.json === true);
  }
  if (sub !== 'list' && sub !== 'show') throw new ChorusError(ErrorCode.INVALID_COMMAND, `unknown jobs command "${sub ?? ''}"`, { suggestion: usage });

  const store = await createJobStore(config.database.url);
  try {
    if (sub === 'list') {
      const cmd = listCommandSchema.parse({
        ...(values.state ? { state: values.state as JobState } : {}),
        ...(values.conversation ? { conversation_id: values.conversation } : {}),
        ...(values.character ? { character: values.character } : {}),
        ...(values.limit ? { limit: Number(values.limit) } : {}),
      });
      const rows = await store.listJobs({
        ...(cmd.state ? { states: Array.isArray(cmd.state) ? cmd.state : [cmd.state] } : {}),
        ...(cmd.conversation_id ? { conversationId: cmd.conversation_id } : {}),
        ...(cmd.character ? { character: cmd.character } : {}),
        limit: cmd.limit,
        offset: cmd.offset,
      });
      const regenerations = await store.listRegenerations(rows.map((row) => row.id));
      const views = rows.map((row) => jobViewOf(row, null, regenerations.get(row.id)));
      if (values.json) {
        process.stdout.write(`${JSON.stringify(views, null, 2)}\n`);
      } else {
        for (const v of views) {
          process.stdout.write(`${v.id}  ${v.state.padEnd(10)} ${(v.character ?? '-').padEnd(10)} ${v.conversation_id.padEnd(20)} ${v.created_at}  ${v.error?.code ?? ''}\n`);
        }
        if (views.length === 0) process.stdout.write('no jobs\n');
      }
      return 0;
    }
    const { job_id } = jobIdCommandSchema.parse({ job_id: positionals[0] ?? '' });
    const row = await store.getJob(job_id);
    if (!row) throw new ChorusError(ErrorCode.JOB_NOT_FOUND, `no job with id ${job_id}`);
    const view = jobViewOf(row, null, (await store.listRegenerations([job_id])).get(job_id));
    const events = await store.listEvents(job_id);
    const document = { job: view, events: events.map(toJobEventView), ...(values.debug ? { debug: debugDocumentOf(row, view, events) } : {}) };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

type CliConfig = Awaited<ReturnType<typeof loadCliConfig>>;

/**
 * Only the driver of a job may move it. SQLite: the process holding the driver lock gets the
 * cancel (HTTP, else NATS); when none holds it, this process takes the lock, restores the
 * one job and cancels it. PostgreSQL: the instances' NATS command service.
 */
async function cancelJob(config: CliConfig, jobId: string | undefined, json: boolean): Promise<number> {
  const { job_id } = jobIdCommandSchema.parse({ job_id: jobId ?? '' });
  const paths = driverLockPathsFor(config.database.url);
  if (!paths) return throughService(config, 'cancel', { job_id }, json);
  const holder = StoreDriverLock.currentHolder(paths);
  if (holder) return printCancelled(await cancelThroughDriver(config, paths, holder, job_id), json);
  try {
    return printCancelled(await cancelInProcess(config, job_id), json);
  } catch (error) {
    // A service started meanwhile: it is the driver now.
    const raced = lockHolderOf(error);
    if (!raced) throw error;
    return printCancelled(await cancelThroughDriver(config, paths, raced, job_id), json);
  }
}

async function cancelThroughDriver(config: CliConfig, paths: DriverLockPaths, holder: DriverHolder, jobId: string): Promise<JobView> {
  const { client, holder: serving } = await connectToDriver(config, paths, holder);
  process.stderr.write(routeLine(client, serving));
  try {
    return await client.cancel(jobId);
  } finally {
    await client.close();
  }
}

/** No service drives the database: drive this one job here, just long enough to cancel it. */
async function cancelInProcess(config: CliConfig, jobId: string): Promise<JobView> {
  const app = await startApp({ config, logger: silentLogger(), http: false, commands: false, role: 'jobs cancel', runtime: { restore: false } });
  process.stderr.write(`route: in this process (no service drives ${describeDatabase(config.database.url)})\n`);
  try {
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
  } finally {
    await app.stop();
  }
}

function printCancelled(job: JobView, json: boolean): number {
  process.stdout.write(json ? `${JSON.stringify({ ok: true, job }, null, 2)}\n` : `job ${job.id}: ${job.state}\n`);
  return 0;
}

/** cancel and regenerate move jobs: only the running service (its actors) may do that. */
async function throughService(
  config: Awaited<ReturnType<typeof loadCliConfig>>,
  command: 'cancel' | 'regenerate',
  payload: Record<string, unknown>,
  json: boolean,
): Promise<number> {
  process.stderr.write(`route: NATS ${commandSubject(config.nats.subject_prefix, command)} (the running service's command service)\n`);
  const nc = await connect({ ...(await natsConnectionOptions(config.nats, { waitOnFirstConnect: false })), maxReconnectAttempts: 0 }).catch((error: unknown) => {
    throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `cannot reach NATS at ${config.nats.servers.join(', ')}: ${(error as Error).message}`, {
      suggestion: `${command} goes through the running service: start NATS and \`chorus-visual serve\`.`,
    });
  });
  try {
    const reply = await nc
      .request(commandSubject(config.nats.subject_prefix, command), JSON.stringify(payload), { timeout: 15_000 })
      .catch((error: unknown) => {
        throw new ChorusError(ErrorCode.INTERNAL, `no chorus-visual service answered: ${(error as Error).message}`, {
          recoverable: true,
          suggestion: `start \`chorus-visual serve\` (it drives the jobs and performs the ${command}).`,
        });
      });
    const body = reply.json<{ ok: boolean; job?: { id: string; state: string; regenerated_from?: string | null }; error?: { code: string; message: string } }>();
    const line = body.ok
      ? command === 'regenerate'
        ? `job ${body.job?.id}: ${body.job?.state} (regenerated from ${body.job?.regenerated_from ?? payload['job_id']})\n`
        : `job ${body.job?.id}: ${body.job?.state}\n`
      : `error ${body.error?.code}: ${body.error?.message}\n`;
    process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : line);
    return body.ok ? 0 : 1;
  } finally {
    await nc.close();
  }
}
