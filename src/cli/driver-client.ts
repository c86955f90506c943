/**
 * The CLI's way to a running service. Only the process that holds a SQLite database's driver
 * lock may move its jobs, so `generate`, `jobs cancel` and `jobs regenerate` beside a running
 * `serve` send the command to it — over its HTTP API when it has one, else over its NATS
 * command service — instead of opening a second driver. Which way a command went is said on stderr.
 * Each request waits COMMAND_REPLY_MS at most, either way: a stopped or hung service still
 * takes the request, and would otherwise keep the command waiting.
 */
import { connect, ErrorCode as NatsErrorCode, type NatsConnection } from 'nats';
import { z } from 'zod';
import { commandSubject, type CommandName } from '../commands/command-service.js';
import type { GenerateCommand, RegenerateCommand } from '../commands/command-schemas.js';
import type { ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, type ErrorData } from '../errors/index.js';
import { natsConnectionOptions } from '../events/index.js';
import type { JobView } from '../jobs/index.js';
import { StoreDriverLock, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';

export interface DriverClient {
  /** For the route line: `HTTP http://…` or `NATS chorus.visual.cmd.*`. */
  readonly way: string;
  generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }>;
  regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }>;
  get(jobId: string): Promise<JobView>;
  cancel(jobId: string): Promise<JobView>;
  close(): Promise<void>;
}

type Envelope = { ok: true; job: JobView; created?: boolean } | { ok: false; error: ErrorData };

/** How long a holder still starting may take to say where it listens. */
const SERVING_WITHIN_MS = 30_000;

/** A client for the holder of the lock, once it serves; throws STORE_LOCKED when it cannot be reached. */
export async function connectToDriver(
  config: ResolvedConfig,
  paths: DriverLockPaths,
  holder: DriverHolder,
  /** What the caller will send first: a failure to connect suggests what fits it. */
  command: CommandName,
): Promise<{ client: DriverClient; holder: DriverHolder }> {
  const deadline = Date.now() + SERVING_WITHIN_MS;
  let current: DriverHolder | undefined = holder;
  while (current && current.state !== 'serving' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    current = StoreDriverLock.currentHolder(paths);
  }
  if (!current)
    throw new ChorusError(ErrorCode.STORE_LOCKED, 'the service that held the job database stopped while this command waited for it', { recoverable: true });
  if (current.http_url) return { client: new HttpDriverClient(current.http_url, config.http.token, paths), holder: current };
  if (current.nats) return { client: await NatsDriverClient.connect(config, current.nats.subject_prefix, paths, command), holder: current };
  throw new ChorusError(
    ErrorCode.STORE_LOCKED,
    `instance ${current.instance_id} (pid ${current.pid} on ${current.host}) drives the job database but serves neither HTTP nor NATS`,
    {
      recoverable: true,
      details: { holder: current },
      suggestion: 'Send the command to that process another way, or stop it and run this command again.',
    },
  );
}

export function routeLine(client: DriverClient, holder: DriverHolder): string {
  return `route: through the running service ${holder.instance_id} (pid ${holder.pid} on ${holder.host}) over ${client.way}\n`;
}

class HttpDriverClient implements DriverClient {
  readonly way: string;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly paths: DriverLockPaths,
  ) {
    this.way = `HTTP ${baseUrl}`;
  }

  generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }> {
    return this.call('generate', 'POST', '/api/jobs', cmd).then((reply) => ({ job: reply.job, created: reply.created ?? true }));
  }

  regenerate({ job_id, ...fields }: RegenerateCommand): Promise<{ job: JobView; created: boolean }> {
    return this.call('regenerate', 'POST', `/api/jobs/${encodeURIComponent(job_id)}/regenerate`, fields).then((reply) => ({
      job: reply.job,
      created: reply.created ?? true,
    }));
  }

  async get(jobId: string): Promise<JobView> {
    return (await this.call('get', 'GET', `/api/jobs/${encodeURIComponent(jobId)}?debug=false`)).job;
  }

  async cancel(jobId: string): Promise<JobView> {
    return (await this.call('cancel', 'POST', `/api/jobs/${encodeURIComponent(jobId)}/cancel`, {})).job;
  }

  async close(): Promise<void> {}

  private async call(command: CommandName, method: string, path: string, body?: unknown): Promise<Extract<Envelope, { ok: true }>> {
    let reply: { text: string; what: string };
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // One bound for the whole reply, headers and body: undici alone waits 300 s for each.
        signal: AbortSignal.timeout(COMMAND_REPLY_MS),
      });
      reply = { text: await response.text(), what: `HTTP ${response.status}, ${response.headers.get('content-type') ?? 'no content type'}` };
    } catch (error) {
      throw unreachable(this.way, error, this.paths, command, !refusedBeforeSending(error));
    }
    return unwrapReply(reply.text, reply.what, this.way, this.paths, command);
  }
}

class NatsDriverClient implements DriverClient {
  readonly way: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly paths: DriverLockPaths,
  ) {
    this.way = `NATS ${prefix}.cmd.*`;
  }

  static async connect(config: ResolvedConfig, prefix: string, paths: DriverLockPaths, command: CommandName): Promise<NatsDriverClient> {
    const options = await natsConnectionOptions(config.nats, { waitOnFirstConnect: false });
    const nc = await connect({ ...options, maxReconnectAttempts: 0 }).catch((error: unknown) => {
      throw unreachable(`NATS ${config.nats.servers.join(', ')}`, error, paths, command, false);
    });
    return new NatsDriverClient(nc, prefix, paths);
  }

  async generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }> {
    const reply = await this.request('generate', cmd);
    return { job: reply.job, created: reply.created ?? true };
  }

  async regenerate(cmd: RegenerateCommand): Promise<{ job: JobView; created: boolean }> {
    const reply = await this.request('regenerate', cmd);
    return { job: reply.job, created: reply.created ?? true };
  }

  async get(jobId: string): Promise<JobView> {
    return (await this.request('get', { job_id: jobId })).job;
  }

  async cancel(jobId: string): Promise<JobView> {
    return (await this.request('cancel', { job_id: jobId })).job;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }

  private async request(command: CommandName, body: unknown): Promise<Extract<Envelope, { ok: true }>> {
    const reply = await this.nc.request(commandSubject(this.prefix, command), JSON.stringify(body), { timeout: COMMAND_REPLY_MS }).catch((error: unknown) => {
      // No responders: nothing subscribed, so nothing received the command.
      throw unreachable(this.way, error, this.paths, command, (error as { code?: unknown }).code !== NatsErrorCode.NoResponders);
    });
    return unwrapReply(reply.string(), 'NATS', this.way, this.paths, command);
  }
}

/**
 * How long the CLI waits for the running service's reply to one request, over HTTP or NATS,
 * before it stops waiting (a service stopped with SIGSTOP, or hung, still takes the request).
 * Per request: `generate` gets its reply once the job is stored, then follows the job with
 * requests of its own, so a job may run for as long as it takes.
 */
export const COMMAND_REPLY_MS = 15_000;

/** The reply envelope of the HTTP API and the NATS command service (only what the CLI reads is checked). */
const envelopeSchema = z.union([
  z.looseObject({ ok: z.literal(true), job: z.looseObject({ id: z.string() }), created: z.boolean().optional() }),
  z.looseObject({ ok: z.literal(false), error: z.looseObject({ code: z.string(), message: z.string(), recoverable: z.boolean() }) }),
]);

/**
 * The job of a reply, or the error it carries. A reply that is no envelope (a proxy's HTML
 * page, an empty body) is not the service's answer: whether it did the command is unknown.
 */
function unwrapReply(text: string, what: string, way: string, paths: DriverLockPaths, command: CommandName): Extract<Envelope, { ok: true }> {
  const parsed = envelopeSchema.safeParse(jsonOrUndefined(text));
  if (!parsed.success) {
    const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(empty)';
    throw unreachable(way, new Error(`the reply is not chorus-visual's (${what}): ${excerpt}`), paths, command, true);
  }
  // Checked as far as the CLI reads it; the rest of a job or an error is passed on as it came.
  const envelope = parsed.data as unknown as Envelope;
  if (!envelope.ok) throw ChorusError.fromJSON(envelope.error);
  return envelope;
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The running service did not answer: it is either still there (and holds the lock) or gone. */
export class DriverUnanswered extends ChorusError {
  /** False when the command cannot have reached the service (the connection was refused); true when it may have. */
  requestSent = true;
}

/** Connection errors that leave no doubt: the request was never sent. */
const notConnected = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** fetch fails with `TypeError: fetch failed`, the socket's error as its cause. */
function refusedBeforeSending(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' && notConnected.has(cause.code);
}

/** The wait for a reply reached COMMAND_REPLY_MS: fetch's signal fired, or nats.js gave up. */
function timedOut(error: unknown): boolean {
  return (error as { name?: unknown }).name === 'TimeoutError' || (error as { code?: unknown }).code === NatsErrorCode.Timeout;
}

/**
 * STORE_LOCKED only while a live process still holds the lock; a holder that died (SIGKILL,
 * crash) dropped it, and then no service runs: SERVICE_UNAVAILABLE.
 */
function unreachable(way: string, error: unknown, paths: DriverLockPaths, command: CommandName, requestSent: boolean): ChorusError {
  const unanswered = unansweredError(way, error, paths, command);
  unanswered.requestSent = requestSent;
  return unanswered;
}

function unansweredError(way: string, error: unknown, paths: DriverLockPaths, command: CommandName): DriverUnanswered {
  const holder = StoreDriverLock.currentHolder(paths);
  const reason = timedOut(error) ? `no reply within ${COMMAND_REPLY_MS / 1000} s` : (error as Error).message;
  if (holder)
    return new DriverUnanswered(ErrorCode.STORE_LOCKED, `the running service holds the job database but did not answer over ${way}: ${reason}`, {
      cause: error,
      recoverable: true,
      details: { holder },
      suggestion: 'Check that the service is healthy (GET /healthz), or stop it and run this command again.',
    });
  return new DriverUnanswered(
    ErrorCode.SERVICE_UNAVAILABLE,
    `the service stopped: it did not answer over ${way} (${reason}) and no longer holds the job database`,
    {
      cause: error,
      recoverable: true,
      suggestion: withoutServiceSuggestion(command),
    },
  );
}

/**
 * What to do once no service runs: generate and cancel can then run in this process (it takes
 * the driver lock); regenerate never does, it needs a service to drive the new job.
 */
function withoutServiceSuggestion(command: CommandName): string {
  if (command === 'regenerate')
    return 'Start `chorus-visual serve` again, then run this command again: regenerate needs a running service to drive the new job.';
  return 'Start `chorus-visual serve` again, or run this command again without it (it then runs in this process).';
}

/**
 * The service accepted the job, then stopped answering: the job is stored and continues when
 * a service drives the database again. Generating again would make a second job; following it does not.
 */
export function jobLeftWithService(error: unknown, jobId: string): unknown {
  if (!(error instanceof DriverUnanswered)) return error;
  const resumes = error.code === ErrorCode.STORE_LOCKED ? 'once the service answers again or is restarted' : 'when `chorus-visual serve` runs again';
  return new ChorusError(error.code, `job ${jobId} is stored, but ${error.message}; the job continues ${resumes}`, {
    cause: error,
    recoverable: true,
    details: { job_id: jobId, ...(error.details as object | undefined) },
    suggestion: `Follow it with \`chorus-visual jobs watch ${jobId}\` (or see it with \`chorus-visual jobs show ${jobId}\`); running generate again would make a second job.`,
  });
}

/** The retry that cannot make a second job: the same request id returns the job it made, if any. */
function retryWithRequestId(requestId: string | undefined, job: string): string {
  return requestId === undefined
    ? `With \`--request-id ID\` (the same ID each time) a retry is safe: it returns the same ${job}.`
    : `Running it again with the same \`--request-id ${requestId}\` is safe: it returns the same ${job}.`;
}

/** What to check before a regenerate that may have been performed is sent again. */
export function checkBeforeRegeneratingAgain(jobId: string, requestId?: string): string {
  return `Check before running it again: \`chorus-visual jobs show ${jobId}\` lists its regenerations, \`chorus-visual jobs list\` the newest jobs; running it again may make a second new job. ${retryWithRequestId(requestId, 'new job')}`;
}

/** What to check before a generate that may have been performed is sent again. */
function checkBeforeGeneratingAgain(conversationId: string, requestId?: string): string {
  return `Check before running it again: \`chorus-visual jobs list --conversation ${conversationId}\` lists that conversation's jobs; running it again may make a second job. ${retryWithRequestId(requestId, 'job')}`;
}

/**
 * The command was sent, then the service stopped answering before any job id came back: it
 * may have stored the job before it stopped, so "run this command again" could make a second one.
 */
function sentThenUnanswered(error: unknown, made: string, details: object, suggestion: string): unknown {
  if (!(error instanceof DriverUnanswered) || !error.requestSent) return error;
  const when = error.code === ErrorCode.SERVICE_UNAVAILABLE ? 'before it stopped' : 'before it stopped answering';
  return new ChorusError(error.code, `${error.message}; it may have made ${made} ${when}`, {
    cause: error,
    recoverable: true,
    details: { ...details, ...(error.details as object | undefined) },
    suggestion,
  });
}

export function regenerateLeftWithService(error: unknown, cmd: RegenerateCommand): unknown {
  return sentThenUnanswered(error, 'the new job', { job_id: cmd.job_id }, checkBeforeRegeneratingAgain(cmd.job_id, cmd.request_id));
}

export function generateLeftWithService(error: unknown, cmd: GenerateCommand): unknown {
  return sentThenUnanswered(
    error,
    'the job',
    { conversation_id: cmd.conversation_id, ...(cmd.request_id === undefined ? {} : { request_id: cmd.request_id }) },
    checkBeforeGeneratingAgain(cmd.conversation_id, cmd.request_id),
  );
}
