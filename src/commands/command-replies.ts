/**
 * The reply envelope every command door uses (NATS now, HTTP later):
 *   { "ok": true, ...data }  or  { "ok": false, "error": { code, message, recoverable, details?, suggestion? } }
 * and the parsing of a raw request into a validated command, so a malformed request is
 * always an INVALID_COMMAND reply naming the bad fields, never a crash or silence.
 */
import { z } from 'zod';
import { ChorusError, ErrorCode, type ErrorData } from '../errors/index.js';

export type OkReply<T extends object = Record<string, unknown>> = { ok: true } & T;
export interface ErrorReply {
  ok: false;
  error: ErrorData;
}
export type CommandReply<T extends object = Record<string, unknown>> = OkReply<T> | ErrorReply;

/** Largest request body accepted (bytes). NATS allows 1 MB; no command needs a quarter of it. */
export const MAX_COMMAND_BYTES = 256 * 1024;
/** Validation issues reported back, at most (a fuzzed payload can produce thousands). */
const MAX_REPORTED_ISSUES = 20;
const MAX_MESSAGE_CHARS = 300;

export function replyOk<T extends object>(data: T): OkReply<T> {
  // `ok` last: a handler's result can never turn a success into something else.
  return { ...data, ok: true } as OkReply<T>;
}

export function replyError(error: ChorusError): ErrorReply {
  return { ok: false, error: error.toJSON() };
}

/** For clients (tests, the TypeScript example): checks the envelope before trusting it. */
export const errorReplySchema = z.object({
  ok: z.literal(false),
  error: z.object({
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    recoverable: z.boolean(),
    details: z.unknown().optional(),
    suggestion: z.string().optional(),
  }),
});
export const commandReplySchema = z.union([z.looseObject({ ok: z.literal(true) }), errorReplySchema]);

export interface IssueReport {
  path: string;
  message: string;
}

/** zod issues as `details`: dotted paths and short messages, capped. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): IssueReport[] {
  return issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)',
    message: issue.message.slice(0, MAX_MESSAGE_CHARS),
  }));
}

export function invalidCommand(message: string, details?: unknown): ChorusError {
  return new ChorusError(ErrorCode.INVALID_COMMAND, message, details === undefined ? {} : { details });
}

/**
 * A parsed JSON value that must be an object (a command's fields) before a schema sees it:
 * refused as `<what> must be a JSON object, got <kind>`, by the NATS commands and the HTTP API alike.
 */
export function jsonObjectOrRefuse(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    throw invalidCommand(`${what} must be a JSON object, got ${kind}`, [{ path: '(root)', message: `expected object, received ${kind}` }]);
  }
  return value as Record<string, unknown>;
}

/**
 * Bytes → validated command. Empty, oversized, non-JSON and non-object payloads are
 * refused before the schema sees them; then the schema's issues become the details.
 */
export function parseCommandPayload<S extends z.ZodType>(schema: S, payload: Uint8Array, command: string): z.output<S> {
  if (payload.length === 0) {
    throw invalidCommand(`${command}: empty request; send a JSON object (at least {})`, [{ path: '(root)', message: 'empty payload' }]);
  }
  if (payload.length > MAX_COMMAND_BYTES) {
    throw invalidCommand(`${command}: request is ${payload.length} bytes, more than ${MAX_COMMAND_BYTES}`, [
      { path: '(root)', message: `payload larger than ${MAX_COMMAND_BYTES} bytes` },
    ]);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    // As the HTTP door says it (request-body-reader.ts): details.reason, not a list of fields.
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `${command}: request is not valid UTF-8`, {
      details: { reason: 'not_utf8' },
      suggestion: 'Send the JSON request encoded as UTF-8 (text in another encoding, such as Latin-1, must be converted first).',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message.slice(0, MAX_MESSAGE_CHARS) : 'unparseable';
    throw invalidCommand(`${command}: request is not valid UTF-8 JSON`, [{ path: '(root)', message: reason }]);
  }
  const result = schema.safeParse(jsonObjectOrRefuse(value, `${command}: request`));
  if (!result.success) {
    const issues = describeIssues(result.error.issues);
    const first = issues[0];
    throw invalidCommand(`${command}: invalid request${first ? ` (${first.path}: ${first.message})` : ''}`, issues);
  }
  return result.data;
}
