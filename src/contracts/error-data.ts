import type { ErrorCode } from './error-codes.js';

/** The JSON shape an error takes on the wire (NATS replies, HTTP, the jobs table). */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  recoverable: boolean;
  details?: unknown;
  suggestion?: string;
}
