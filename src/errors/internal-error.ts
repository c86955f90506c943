/**
 * What a door (NATS, HTTP) answers for something thrown. A ChorusError was written for the
 * caller and goes out as it is. Anything else is a bug whose text may hold paths, SQL or
 * secrets: the caller gets INTERNAL, a generic message and a correlation id; the door logs
 * that id beside the real cause, so one can be found from the other.
 */
import { randomUUID } from 'node:crypto';
import { ChorusError } from './chorus-error.js';
import { ErrorCode } from '../contracts/error-codes.js';

export interface PublicError {
  error: ChorusError;
  /** Set when the real cause was withheld: log it with this id. */
  correlationId: string | undefined;
}

export function publicErrorFor(thrown: unknown, operation: string): PublicError {
  if (thrown instanceof ChorusError) return { error: thrown, correlationId: undefined };
  const correlationId = randomUUID();
  const error = new ChorusError(ErrorCode.INTERNAL, `${operation} failed with an internal error`, {
    details: { correlation_id: correlationId },
    suggestion: `This is a bug in chorus-visual; the service log has the cause under correlation_id ${correlationId}.`,
  });
  return { error, correlationId };
}

/** The cause as a log field: message and stack, never the object's other own properties. */
export function causeForLog(thrown: unknown): { message: string; stack?: string } {
  if (thrown instanceof Error) return { message: thrown.message, ...(thrown.stack ? { stack: thrown.stack } : {}) };
  return { message: String(thrown) };
}
