import { ErrorCode, errorCatalogue } from '../contracts/error-codes.js';
import type { ErrorData } from '../contracts/error-data.js';

export type { ErrorData };

export interface ChorusErrorOptions {
  details?: unknown;
  suggestion?: string;
  recoverable?: boolean;
  cause?: unknown;
}

/**
 * The one error class of chorus-visual: a stable `code` callers branch on, plus what
 * they need to act. `recoverable` and `suggestion` default from the catalogue.
 */
export class ChorusError extends Error {
  readonly code: ErrorCode;
  readonly recoverable: boolean;
  readonly details: unknown;
  readonly suggestion: string | undefined;

  constructor(code: ErrorCode, message: string, options: ChorusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChorusError';
    this.code = code;
    // A code this build does not know (a newer service's, read by fromJSON) has no entry.
    const entry = Object.hasOwn(errorCatalogue, code) ? errorCatalogue[code] : undefined;
    this.recoverable = options.recoverable ?? entry?.recoverable ?? false;
    this.details = options.details;
    this.suggestion = options.suggestion ?? entry?.suggestion;
  }

  toJSON(): ErrorData {
    const data: ErrorData = { code: this.code, message: this.message, recoverable: this.recoverable };
    if (this.details !== undefined) data.details = this.details;
    if (this.suggestion !== undefined) data.suggestion = this.suggestion;
    return data;
  }

  /** An error as a reply carried it; its code may be one this build does not know (kept as sent). */
  static fromJSON(data: ErrorData): ChorusError {
    return new ChorusError(data.code, data.message, {
      details: data.details,
      suggestion: data.suggestion,
      recoverable: data.recoverable,
    });
  }
}

export function isChorusError(value: unknown): value is ChorusError {
  return value instanceof ChorusError;
}

/** Anything thrown becomes a ChorusError; unknown failures are INTERNAL, never a bare string. */
export function toChorusError(value: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): ChorusError {
  if (value instanceof ChorusError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new ChorusError(fallback, message, { cause: value });
}
