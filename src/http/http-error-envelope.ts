/**
 * Replies in the same envelope as the NATS request/reply service — `{ok:true, ...data}` or
 * `{ok:false, error:{code,message,details,suggestion}}` — so a client handles both alike.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ChorusError, ErrorCode, toChorusError, type ErrorData } from '../errors/index.js';

/** The HTTP status that says the same thing as each stable error code. */
const statusByCode: Record<ErrorCode, number> = {
  INVALID_COMMAND: 400,
  UNAUTHORIZED: 401,
  JOB_NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  CHARACTER_NOT_FOUND: 404,
  WORKFLOW_INVALID: 422,
  WORKFLOW_NODE_ERROR: 422,
  QUEUE_FULL: 429,
  COMFY_UNAVAILABLE: 503,
  COMFY_LOST: 503,
  STORAGE_UNAVAILABLE: 503,
  STORE_LOCKED: 409,
  EVENTS_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  INSTANCE_LEASE_LOST: 503,
  OWNERSHIP_LOST: 409,
  REQUEST_ID_CONFLICT: 409,
  PROMPT_GENERATION_FAILED: 502,
  EXECUTION_ERROR: 500,
  GENERATION_TIMEOUT: 504,
  QUEUE_WAIT_TIMEOUT: 504,
  NO_OUTPUT: 500,
  OUTPUT_FILE_NOT_FOUND: 404,
  FILE_MOVE_FAILED: 500,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

export function statusForCode(code: ErrorCode): number {
  return statusByCode[code] ?? 500;
}

/**
 * An error the HTTP layer raises itself (unknown route, wrong method, bad token, body too
 * large). Most travel as INVALID_COMMAND with the precise status beside it; a refused
 * token is UNAUTHORIZED. The suggestion is required: the catalogue's INVALID_COMMAND one
 * speaks of a command's fields, which says nothing to a caller on the wrong route.
 */
export class HttpRequestError extends ChorusError {
  readonly status: number;
  constructor(status: number, message: string, options: { code?: ErrorCode; details?: unknown; suggestion: string }) {
    const { code = ErrorCode.INVALID_COMMAND, ...rest } = options;
    super(code, message, rest);
    this.status = status;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendOk(res: ServerResponse, data: Record<string, unknown>, status = 200): void {
  sendJson(res, status, { ok: true, ...data });
}

export function errorEnvelope(error: ChorusError): { ok: false; error: ErrorData } {
  return { ok: false, error: error.toJSON() };
}

/** Anything thrown becomes an enveloped reply; returns the ChorusError for logging. */
export function sendError(res: ServerResponse, thrown: unknown, headers: Record<string, string> = {}): ChorusError {
  const error = toChorusError(thrown);
  const status = error instanceof HttpRequestError ? error.status : statusForCode(error.code);
  sendJson(res, status, errorEnvelope(error), headers);
  return error;
}

/** A refused WebSocket upgrade gets a plain HTTP reply in the same envelope; returns its status. */
export function rejectUpgrade(socket: Duplex, thrown: unknown): number {
  const error = toChorusError(thrown);
  const status = error instanceof HttpRequestError ? error.status : statusForCode(error.code);
  const body = JSON.stringify(errorEnvelope(error));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  return status;
}
