/**
 * The CLI's way to a running service. Only the process that holds a SQLite database's driver
 * lock may move its jobs, so `generate` and `jobs cancel` beside a running `serve` send the
 * command to it — over its HTTP API when it has one, else over its NATS command service —
 * instead of opening a second driver. Which way a command went is said on stderr.
 */
import { connect, type NatsConnection } from 'nats';
import { commandSubject, type CommandName } from '../commands/command-service.js';
import type { GenerateCommand } from '../commands/command-schemas.js';
import type { ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, type ErrorData } from '../errors/index.js';
import { natsConnectionOptions } from '../events/index.js';
import type { JobView } from '../jobs/index.js';
import { StoreDriverLock, type DriverHolder, type DriverLockPaths } from '../db/store-driver-lock.js';

export interface DriverClient {
  /** For the route line: `HTTP http://…` or `NATS chorus.visual.cmd.*`. */
  readonly way: string;
  generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }>;
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
): Promise<{ client: DriverClient; holder: DriverHolder }> {
  const deadline = Date.now() + SERVING_WITHIN_MS;
  let current: DriverHolder | undefined = holder;
  while (current && current.state !== 'serving' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    current = StoreDriverLock.currentHolder(paths);
  }
  if (!current)
    throw new ChorusError(ErrorCode.STORE_LOCKED, 'the service that held the job database stopped while this command waited for it', { recoverable: true });
  if (current.http_url) return { client: new HttpDriverClient(current.http_url, config.http.token), holder: current };
  if (current.nats) return { client: await NatsDriverClient.connect(config, current.nats.subject_prefix), holder: current };
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
  ) {
    this.way = `HTTP ${baseUrl}`;
  }

  generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }> {
    return this.call('POST', '/api/jobs', cmd).then((reply) => ({ job: reply.job, created: reply.created ?? true }));
  }

  async get(jobId: string): Promise<JobView> {
    return (await this.call('GET', `/api/jobs/${encodeURIComponent(jobId)}?debug=false`)).job;
  }

  async cancel(jobId: string): Promise<JobView> {
    return (await this.call('POST', `/api/jobs/${encodeURIComponent(jobId)}/cancel`, {})).job;
  }

  async close(): Promise<void> {}

  private async call(method: string, path: string, body?: unknown): Promise<Extract<Envelope, { ok: true }>> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw unreachable(this.way, error);
    }
    return unwrap((await response.json()) as Envelope);
  }
}

class NatsDriverClient implements DriverClient {
  readonly way: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
  ) {
    this.way = `NATS ${prefix}.cmd.*`;
  }

  static async connect(config: ResolvedConfig, prefix: string): Promise<NatsDriverClient> {
    const options = await natsConnectionOptions(config.nats, { waitOnFirstConnect: false });
    const nc = await connect({ ...options, maxReconnectAttempts: 0 }).catch((error: unknown) => {
      throw unreachable(`NATS ${config.nats.servers.join(', ')}`, error);
    });
    return new NatsDriverClient(nc, prefix);
  }

  async generate(cmd: GenerateCommand): Promise<{ job: JobView; created: boolean }> {
    const reply = await this.request('generate', cmd);
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
    const reply = await this.nc.request(commandSubject(this.prefix, command), JSON.stringify(body), { timeout: 15_000 }).catch((error: unknown) => {
      throw unreachable(this.way, error);
    });
    return unwrap(reply.json<Envelope>());
  }
}

function unwrap(envelope: Envelope): Extract<Envelope, { ok: true }> {
  if (!envelope.ok) throw ChorusError.fromJSON(envelope.error);
  return envelope;
}

function unreachable(way: string, error: unknown): ChorusError {
  return new ChorusError(ErrorCode.STORE_LOCKED, `the running service holds the job database but did not answer over ${way}: ${(error as Error).message}`, {
    cause: error,
    recoverable: true,
    suggestion: 'Check that the service is healthy (GET /healthz), or stop it and run this command again.',
  });
}
