/**
 * `chorus-visual jobs list | show <id> [--debug] | cancel <id> | regenerate <id> [--seed N]`.
 * list and show read the database directly, so they work whether or not the service runs;
 * cancel and regenerate must reach the process that drives the job, so it goes through the running
 * service's NATS command (an actor is the only thing allowed to move a job).
 */
import { connect } from 'nats';
import { natsConnectionOptions } from '../events/index.js';
import { commandSubject } from '../commands/command-service.js';
import { redactUrl } from '../config/index.js';
import { createJobStore } from '../db/index.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { jobViewOf, type JobState } from '../jobs/index.js';
import { debugDocumentOf } from '../jobs/job-debug-document.js';
import { toJobEventView } from '../commands/job-command-handler.js';
import { describeIssues, invalidCommand } from '../commands/command-replies.js';
import { parseCommandArgs } from './cli-args.js';
import { loadCliConfig } from './load-cli-config.js';
import { jobIdCommandSchema, listCommandSchema, regenerateCommandSchema } from '../commands/command-schemas.js';

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
  if (sub === 'cancel') return throughService(config, 'cancel', jobIdCommandSchema.parse({ job_id: positionals[0] ?? '' }), values.json === true);
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

/** cancel and regenerate move jobs: only the running service (its actors) may do that. */
async function throughService(
  config: Awaited<ReturnType<typeof loadCliConfig>>,
  command: 'cancel' | 'regenerate',
  payload: Record<string, unknown>,
  json: boolean,
): Promise<number> {
  const nc = await connect({ ...(await natsConnectionOptions(config.nats, { waitOnFirstConnect: false })), maxReconnectAttempts: 0 }).catch((error: unknown) => {
    throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `cannot reach NATS at ${config.nats.servers.map(redactUrl).join(', ')}: ${(error as Error).message}`, {
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
