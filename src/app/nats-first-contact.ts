/**
 * The first contact with NATS at start. The service starts without NATS (events wait in the
 * outbox, the connection keeps trying in the background), so an unreachable server is not a
 * start failure. A server that answers and refuses our credentials is: retrying cannot fix
 * it, and a service that would run for hours without commands or events must say so now.
 */
import type { NatsConnection } from 'nats';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { connectNats, type NatsConfig } from '../events/index.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';

/** nats.js error codes that mean "the server answered and said no". */
const refusals = new Set(['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'AUTHENTICATION_TIMEOUT', 'ACCOUNT_EXPIRED']);

export type FirstContact =
  | { kind: 'connected'; connection: NatsConnection }
  /** Not reachable yet: the connection that keeps trying, settled when NATS answers. */
  | { kind: 'deferred'; reason: string; later: Promise<NatsConnection> };

export interface FirstContactOptions {
  logger: StructuredLogger;
  /** How long the first attempt may take before start goes on without NATS (default 3 s). */
  firstContactMs?: number;
}

export async function connectNatsAtStart(config: NatsConfig, options: FirstContactOptions): Promise<FirstContact> {
  const { logger } = options;
  // One attempt that fails at once when no server answers (waitOnFirstConnect false) ...
  const attempt = connectNats(config, { logger, waitOnFirstConnect: false });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    attempt.then(
      (connection) => ({ kind: 'connected' as const, connection }),
      (error: unknown) => ({ kind: 'failed' as const, error }),
    ),
    new Promise<{ kind: 'slow' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'slow' }), options.firstContactMs ?? 3_000))),
  ]);
  clearTimeout(timer);
  // ... and then the one that waits for a server as long as it takes.
  const keepTrying = (): Promise<NatsConnection> => connectNats(config, { logger });
  switch (outcome.kind) {
    case 'connected':
      return outcome;
    case 'slow':
      // A server that neither answers nor refuses: the attempt under way may still succeed.
      return { kind: 'deferred', reason: 'no answer yet', later: attempt.catch(keepTrying) };
    case 'failed': {
      const cause = natsCodeOf(outcome.error);
      // Unreadable credential files and other config faults are not reachability problems.
      if (cause === undefined) throw outcome.error;
      if (refusals.has(cause)) {
        throw new ChorusError(ErrorCode.CONFIG_INVALID, `NATS (${config.servers.join(', ')}) refused our credentials: ${cause}`, {
          cause: outcome.error,
          details: { key: 'nats', reason: cause },
          suggestion: 'Check nats.user/nats.pass, nats.token, nats.creds_file or nats.nkey_file against the server, or set nats.enabled: false.',
        });
      }
      return { kind: 'deferred', reason: cause, later: keepTrying() };
    }
  }
}

/**
 * The code of the nats.js error under our wrapping (connectNats keeps it as `cause`);
 * undefined when the failure did not come from talking to a server.
 */
function natsCodeOf(error: unknown): string | undefined {
  const cause = error instanceof ChorusError ? error.cause : error;
  if (!(cause instanceof Error) || cause.name !== 'NatsError') return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
