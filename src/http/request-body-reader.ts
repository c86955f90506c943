/**
 * Reads a JSON request body with a hard size limit, so a huge or endless body costs us at
 * most `limitBytes` of memory and becomes a 413, not a crash.
 */
import type { IncomingMessage } from 'node:http';
import { MAX_COMMAND_BYTES } from '../commands/command-replies.js';
import { HttpRequestError } from './http-error-envelope.js';

/** The NATS door's limit, so a command too large for one door is too large for both. */
export const defaultBodyLimitBytes = MAX_COMMAND_BYTES;

/** No command comes near the limit (its text fields are capped far below it): say so, not "fix the fields". */
function tooLarge(limitBytes: number): HttpRequestError {
  return new HttpRequestError(413, `request body is larger than ${limitBytes} bytes`, {
    details: { limit_bytes: limitBytes },
    suggestion: `Send at most ${limitBytes} bytes (details.limit_bytes; NATS commands have the same limit). No command needs that much (its text fields are capped at a few thousand characters each), so check what is being sent.`,
  });
}

/**
 * Fatal, as the NATS door decodes: `toString('utf8')` would quietly store U+FFFD for every
 * byte that is not UTF-8, a command different from the one sent.
 */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpRequestError(400, 'request body is not valid UTF-8', {
      details: { reason: 'not_utf8' },
      suggestion: 'Send the JSON body encoded as UTF-8 (text in another encoding, such as Latin-1, must be converted first).',
    });
  }
}

export async function readJsonBody(req: IncomingMessage, limitBytes = defaultBodyLimitBytes): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw tooLarge(limitBytes);
  }
  const type = req.headers['content-type'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume();
      throw tooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  const text = decodeUtf8(Buffer.concat(chunks));
  if (text.trim() === '') return {};
  if (type !== '' && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new HttpRequestError(415, `expected application/json, got ${type}`, {
      suggestion: 'Send the body as JSON with "Content-Type: application/json" (an empty command is {}).',
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpRequestError(400, 'request body is not valid JSON', {
      details: { parse_error: error instanceof Error ? error.message : String(error) },
      suggestion: 'Send a JSON object with Content-Type: application/json.',
    });
  }
}
