/**
 * `chorus-visual generate --character nova --conversation <id> "send me a selfie of you sketching"`
 * Shows a progress bar fed by ComfyUI's progress and prints where the file went; `--json`
 * prints the final job instead, for scripts. When a service drives the database (it holds
 * the driver lock), the job is sent to it (HTTP, else NATS) and followed there; otherwise it
 * runs in this process, which holds the lock meanwhile. stderr says which way it went.
 * Another `generate` holding the lock is no service: this one waits for it (--wait) and then
 * runs in its own process.
 */
import { startApp, type ChorusVisualApp } from '../app/chorus-visual-app.js';
import { runThenStop } from '../app/stop-sequence.js';
import { generateCommandSchema, type GenerateCommand } from '../commands/command-schemas.js';
import { describeIssues, type ResolvedConfig } from '../config/index.js';
import { describeDatabase } from '../db/index.js';
import { driverLockPathsFor, isOneShotHolder, lockHolderOf, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { finalStates, type JobView } from '../contracts/index.js';
import { createSilentLogger } from '../logging/logger.js';
import { nonNegativeNumberOption, parseCommandArgs, type CommandHelp } from './cli-args.js';
import { connectToDriver, generateLeftWithService, jobLeftWithService, routeLine } from './driver-client.js';
import { createJobProgressDisplay } from './job-progress-display.js';
import { drivenByOneShot, untilHolderChanges, waitingLine } from './one-shot-driver.js';
import { loadCliConfig } from './load-cli-config.js';
import { noteStopFailure } from './stop-failure-note.js';

/** How often a job sent to the running service is looked at while it runs there. */
const FOLLOW_INTERVAL_MS = 250;

/** How long a generate waits, by default, for another one-shot command driving the database to end. */
const DEFAULT_WAIT_MS = 600_000;

const help: CommandHelp = {
  usage: 'chorus-visual generate (--character ID | --workflow NAME) --conversation ID [options] "request"',
  summary:
    'Runs one job to its end with a progress bar, and prints where its files went (exit 0) or its error (exit 1). Beside a running serve on the same database the job goes to it (HTTP, else NATS); beside another generate it waits for that one to end (--wait), then runs here; stderr says which way.',
  options: {
    character: 'ID  the character (config/characters/ID.yaml); its default workflow runs unless --workflow is given',
    workflow: 'NAME  the workflow (workflows/NAME.json)',
    conversation: 'ID  the conversation; files go to data/conversations/ID/',
    thread: "ID  Chorus Engine's thread id, recorded on the job",
    message: "ID  Chorus Engine's message id, recorded on the job",
    activity: 'TEXT  what the character is doing, for the visual prompt',
    prompt: 'the request text is the finished visual prompt (no LLM, no template)',
    negative: 'TEXT  the negative prompt',
    seed: 'N  a fixed seed (default: random, recorded on the job)',
    'request-id': 'ID  idempotency key: the same id returns the same job',
    wait: 'SECONDS  with no service, how long to wait while another generate drives the database (default 600; 0: not at all); then it runs here',
    config: 'FILE  the config file (default config/chorus-visual.yaml)',
    json: 'print the finished job as JSON instead',
  },
  more: 'example:\n  chorus-visual generate --character nova --conversation c1 "send me a selfie of you sketching"',
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      character: { type: 'string' },
      workflow: { type: 'string' },
      conversation: { type: 'string' },
      thread: { type: 'string' },
      message: { type: 'string' },
      activity: { type: 'string' },
      prompt: { type: 'boolean' },
      negative: { type: 'string' },
      seed: { type: 'string' },
      'request-id': { type: 'string' },
      wait: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean' },
    },
    help,
  );
  const text = positionals.join(' ').trim();
  const parsed = generateCommandSchema.safeParse({
    conversation_id: values.conversation,
    ...(values.thread ? { thread_id: values.thread } : {}),
    ...(values.message ? { message_id: values.message } : {}),
    ...(values.character ? { character: values.character } : {}),
    ...(values.workflow ? { workflow: values.workflow } : {}),
    ...(text ? (values.prompt ? { prompt: text } : { user_request: text }) : {}),
    ...(values.activity ? { activity: values.activity } : {}),
    ...(values.negative !== undefined ? { negative_prompt: values.negative } : {}),
    ...(values.seed !== undefined ? { seed: Number(values.seed) } : {}),
    ...(values['request-id'] ? { request_id: values['request-id'] } : {}),
  });
  if (!parsed.success) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, describeIssues(parsed.error).join('; '), { suggestion: 'see `chorus-visual generate --help`' });
  }

  const waitMs = waitOption(values.wait);
  const config = await loadCliConfig(values.config);
  const label = values.character ?? values.workflow ?? 'job';
  const json = values.json === true;
  const driving = await driveOrFindService(config, waitMs);
  // A service drives this database: the job is its to run, not a second driver's.
  if (!('app' in driving)) return report(await generateThroughDriver(config, driving.paths, driving.holder, parsed.data, label, json), json);
  const { app } = driving;
  process.stderr.write(
    `route: in this process (${app.runtime.coordination ? 'an instance of the shared database' : `no service drives ${describeDatabase(config.database.url)}`})\n`,
  );
  const display = json ? undefined : createJobProgressDisplay();
  let jobId: string | undefined;
  let resolveFinal: (job: JobView) => void = () => undefined;
  const final = new Promise<JobView>((r) => (resolveFinal = r));
  app.runtime.service.on('transition', (notice) => {
    if (notice.jobId !== jobId) return;
    display?.transition(notice.job);
    if (finalStates.has(notice.job.state)) resolveFinal(notice.job);
  });
  app.runtime.service.on('progress', (notice) => {
    if (notice.jobId === jobId) display?.progress(notice.jobId, notice.progress.value, notice.progress.max);
  });
  // A backend down or back while the job waits for a slot changes its note, not its state.
  app.runtime.pool.onHealthChange(() => {
    if (jobId === undefined || !display) return;
    void app.runtime.service.get(jobId).then(
      ({ job }) => {
        if (job.substate === 'queued.waiting') display.transition(job);
      },
      () => undefined,
    );
  });

  // The app and the display are stopped however the job ends (their handles would keep the
  // process alive); when it fails, its error stays the one reported, not a stop's after it.
  const runJob = async (): Promise<JobView> => {
    const outcome = await app.runtime.service.generate(parsed.data);
    jobId = outcome.job.id;
    display?.track(outcome.job, label);
    // On PostgreSQL this process is an instance too: should it lose its instance id (it
    // stalled past its lease), it drives the job no more and the job ends elsewhere — say so
    // rather than wait for an end that never comes here.
    const ended = finalStates.has(outcome.job.state)
      ? outcome.job
      : await Promise.race([
          final,
          app.lost.then((error) => {
            throw error;
          }),
        ]);
    // The view in the notice is the one persisted with the transition; read it back whole.
    return (await app.runtime.service.get(ended.id)).job;
  };
  const job = await runThenStop(
    runJob,
    [
      { part: 'the progress display', stop: () => display?.stop() },
      { part: 'the app', stop: () => app.stop() },
    ],
    'stopping generate',
    noteStopFailure,
  );
  return report(job, json);
}

/** --wait SECONDS: how long to wait for another one-shot command driving the database. */
function waitOption(text: string | undefined): number {
  return text === undefined ? DEFAULT_WAIT_MS : nonNegativeNumberOption('wait', text, 'seconds', 'e.g. --wait 60, or --wait 0 not to wait') * 1000;
}

/**
 * This process takes the driver lock and runs the job, or the service holding it is returned
 * to send the job to. A one-shot holder (another `generate`, a `jobs cancel`) serves nothing:
 * this one waits, at most `waitMs`, for it to end, saying so on stderr, then tries again.
 */
async function driveOrFindService(
  config: ResolvedConfig,
  waitMs: number,
): Promise<{ app: ChorusVisualApp } | { holder: DriverHolder; paths: DriverLockPaths }> {
  const started = Date.now();
  let waitingFor: DriverHolder | undefined;
  for (;;) {
    try {
      return { app: await startApp({ config, logger: createSilentLogger(), http: false, commands: false, role: 'generate', runtime: { restore: false } }) };
    } catch (error) {
      const holder = lockHolderOf(error);
      const paths = driverLockPathsFor(config.database.url);
      if (!holder || !paths) throw error;
      if (!isOneShotHolder(holder)) return { holder, paths };
      if (Date.now() - started >= waitMs) throw drivenByOneShot(paths, holder, 'generate', Date.now() - started);
      if (waitingFor?.pid !== holder.pid || waitingFor.host !== holder.host) process.stderr.write(waitingLine(paths, holder, waitMs));
      waitingFor = holder;
      await untilHolderChanges(paths, holder, started + waitMs);
    }
  }
}

/** Sends the job to the running service and follows it there until it ends. */
async function generateThroughDriver(
  config: ResolvedConfig,
  paths: DriverLockPaths,
  holder: DriverHolder,
  cmd: GenerateCommand,
  label: string,
  json: boolean,
): Promise<JobView> {
  const { client, holder: serving } = await connectToDriver(config, paths, holder, 'generate');
  process.stderr.write(routeLine(client, serving));
  const display = json ? undefined : createJobProgressDisplay();
  const follow = async (): Promise<JobView> => {
    // Sent, but no job id yet: if the service stops answering now, it may or may not have made the job.
    let job = (
      await client.generate(cmd).catch((error: unknown) => {
        throw generateLeftWithService(error, cmd);
      })
    ).job;
    display?.track(job, label);
    // The note too: a waiting job's reason (no backend reachable) changes without a transition.
    const positionOf = (view: JobView) => `${view.state}/${view.substate ?? ''}/${view.note?.message ?? ''}`;
    let position = positionOf(job);
    if (job.note) display?.transition(job);
    while (!finalStates.has(job.state)) {
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_INTERVAL_MS));
      // Accepted and stored: if the service stops answering now, the job waits for the next one.
      job = await client.get(job.id).catch((error: unknown) => {
        throw jobLeftWithService(error, job.id);
      });
      if (job.progress) display?.progress(job.id, job.progress.value, job.progress.max);
      if (positionOf(job) !== position) {
        position = positionOf(job);
        display?.transition(job);
      }
    }
    return job;
  };
  return runThenStop(
    follow,
    [
      { part: 'the progress display', stop: () => display?.stop() },
      { part: 'the connection to the running service', stop: () => client.close() },
    ],
    'stopping generate',
    noteStopFailure,
  );
}

function report(job: JobView, json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  } else if (job.state === 'completed') {
    for (const file of job.result?.files ?? []) process.stdout.write(`${file.kind}: ${file.absolutePath}\n`);
    process.stdout.write(`metadata: ${job.result?.metadataPath}\njob: ${job.id}\n`);
  } else {
    process.stderr.write(`job ${job.id} ${job.state}: ${job.error?.code ?? ''} ${job.error?.message ?? ''}\n`);
    if (job.error?.suggestion) process.stderr.write(`suggestion: ${job.error.suggestion}\n`);
  }
  return job.state === 'completed' ? 0 : 1;
}
