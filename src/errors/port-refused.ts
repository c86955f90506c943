/**
 * A port that cannot be bound is a fault of the setting (or of who else holds the port), not
 * a bug: `serve` (http.port) and `simulate` (--port) say it the same way, with one code.
 */
import { ErrorCode } from '../contracts/error-codes.js';
import { ChorusError } from './chorus-error.js';

const refusals = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

/** The ChorusError for a listen that was refused, or `error` unchanged when it is something else. */
export function portRefused(error: unknown, where: { host: string; port: number; key: string; suggestion: string }): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === undefined || !refusals.has(code)) return error;
  const { host, port, key, suggestion } = where;
  return new ChorusError(ErrorCode.CONFIG_INVALID, `cannot listen on ${host}:${port}: ${code}`, {
    cause: error,
    details: { key, host, port, reason: code },
    suggestion,
  });
}
