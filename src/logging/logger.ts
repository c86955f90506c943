/**
 * Structured JSON logs (pino). One root logger per process; modules take a child with the
 * ids that matter (`logger.child({ job_id })`) so every line about a job can be grepped by it.
 */
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { z } from 'zod';

export type { Logger } from 'pino';

const levelSchema = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export interface LoggerOptions {
  /** Wins over LOG_LEVEL; the service passes the config's `log_level`. */
  level?: LevelWithSilent;
  name?: string;
  /** Extra fields on every line, e.g. `{ instance_id }`. */
  base?: Record<string, unknown>;
  /** Defaults to stdout; tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/**
 * LOG_LEVEL, not CHORUS_VISUAL_LOG_LEVEL: every CHORUS_VISUAL_* variable is parsed as a
 * config key, and the config's own `log_level` is how the service sets it.
 */
export function resolveLogLevel(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): LevelWithSilent {
  const raw = explicit ?? env['LOG_LEVEL'] ?? 'info';
  const parsed = levelSchema.safeParse(raw.toLowerCase());
  return parsed.success ? parsed.data : 'info';
}

const secretKeys = ['token', 'pass', 'password', 'api_key', 'authorization', 'cookie'];
const secretLogPaths = [
  ...secretKeys,
  ...secretKeys.map((key) => `*.${key}`),
  ...secretKeys.map((key) => `*.*.${key}`),
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      name: options.name ?? 'chorus-visual',
      level: resolveLogLevel(options.level),
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Bearer tokens, NATS credentials and API keys must never reach a log file. A backstop:
      // callers log paths without query strings and URLs through redactUrl.
      redact: { paths: secretLogPaths, censor: '[redacted]' },
    },
    options.destination,
  );
  return logger;
}

/** A logger that drops everything, for callers that were given none. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
