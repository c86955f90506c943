/**
 * Opens the one NATS connection of the service from the config's `nats` block. The
 * connection never gives up: it waits for the first server, reconnects forever, and its
 * disconnects are logged, never thrown, so NATS trouble cannot bring the process down
 * (events wait in the outbox meanwhile).
 */
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, nkeyAuthenticator, type Authenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { redactUrl, type ResolvedConfig } from '../config/index.js';
import { ChorusError, ErrorCode, messageOf } from '../errors/index.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';

export type NatsConfig = ResolvedConfig['nats'];

export interface ConnectNatsOptions {
  logger?: StructuredLogger;
  /** Wait for the first server instead of failing at once (default true: a service starts before NATS). */
  waitOnFirstConnect?: boolean;
  reconnectTimeWaitMs?: number;
}

/** Builds nats.js options from our config; reads credential/nkey files up front. */
export async function natsConnectionOptions(config: NatsConfig, options: ConnectNatsOptions = {}): Promise<ConnectionOptions> {
  const authenticators: Authenticator[] = [];
  if (config.creds_file) {
    authenticators.push(credsAuthenticator(await readSecretFile(config.creds_file, 'nats.creds_file')));
  }
  if (config.nkey_file) {
    const seed = new TextDecoder().decode(await readSecretFile(config.nkey_file, 'nats.nkey_file')).trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  const opts: ConnectionOptions = {
    servers: config.servers,
    name: config.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1_000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? true,
    // nats.js otherwise builds an Error (a stack capture) for every request, JetStream
    // publishes included, only to improve a timeout's trace: ~0.6 ms of CPU per job.
    noAsyncTraces: true,
  };
  if (config.user !== undefined) opts.user = config.user;
  if (config.pass !== undefined) opts.pass = config.pass;
  if (config.token !== undefined) opts.token = config.token;
  if (authenticators.length > 0) opts.authenticator = authenticators.length === 1 ? authenticators[0] : authenticators;
  if (config.tls) {
    opts.tls = {
      ...(config.tls.ca_file ? { caFile: config.tls.ca_file } : {}),
      ...(config.tls.cert_file ? { certFile: config.tls.cert_file } : {}),
      ...(config.tls.key_file ? { keyFile: config.tls.key_file } : {}),
    };
  }
  return opts;
}

/** nats.js codes meaning "reached the server, and it said no to who we are". */
const natsAuthCodes: ReadonlySet<string> = new Set(['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'AUTHENTICATION_TIMEOUT']);

export async function connectNats(config: NatsConfig, options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const logger = options.logger ?? silentLogger;
  let nc: NatsConnection;
  try {
    nc = await connect(await natsConnectionOptions(config, options));
  } catch (error) {
    if (error instanceof ChorusError) throw error;
    // Server URLs may carry user:password@; error messages end up in logs and terminals.
    const servers = config.servers.map(redactUrl).join(', ');
    if (natsAuthCodes.has(String((error as { code?: unknown }).code))) {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `NATS (${servers}) refused our credentials: ${messageOf(error)}`, {
        cause: error,
        suggestion: 'Fix nats.user/pass, token, creds_file or nkey_file in the config.',
      });
    }
    // Unreachable is a condition of the network or the server, not of the config file.
    throw new ChorusError(ErrorCode.EVENTS_UNAVAILABLE, `cannot connect to NATS (${servers}): ${messageOf(error)}`, {
      cause: error,
      recoverable: true,
      suggestion: 'Check that nats-server is running and that nats.servers points at it.',
    });
  }
  // `client_name`, not `name`: pino's own `name` is on every line already.
  logger.info({ server: nc.getServer(), client_name: config.name }, 'connected to NATS');
  void watchStatus(nc, logger);
  return nc;
}

async function watchStatus(nc: NatsConnection, logger: StructuredLogger): Promise<void> {
  try {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'error') {
        logger.warn({ nats: status.type, data: String(status.data) }, 'NATS connection trouble; reconnecting');
      } else if (status.type === 'reconnect') {
        logger.info({ nats: status.type, data: String(status.data) }, 'NATS reconnected');
      }
    }
  } catch (error) {
    logger.warn({ err: messageOf(error) }, 'NATS status stream ended');
  }
}

async function readSecretFile(path: string, key: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ChorusError(ErrorCode.CONFIG_INVALID, `${key}: cannot read ${path}: ${messageOf(error)}`, { cause: error, details: { key, path } });
  }
}
