/**
 * Optional bearer token. Browsers cannot put headers on `<img src>` or on a WebSocket, so
 * `?token=` is accepted as well; the page sends the header on fetches and the query
 * parameter only where it must.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '../errors/index.js';
import { HttpRequestError } from './http-error-envelope.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function presentedToken(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match?.[1]) return match[1];
  }
  return url.searchParams.get('token');
}

/** Throws a 401 envelope error unless the request carries the token (or none is configured). */
export function assertAuthorized(expected: string | undefined, req: IncomingMessage, url: URL): void {
  if (expected === undefined || expected === '') return;
  const given = presentedToken(req, url);
  // Compare digests: equal length, so timingSafeEqual never throws and leaks no length.
  if (given !== null && timingSafeEqual(digest(given), digest(expected))) return;
  throw new HttpRequestError(401, given === null ? 'a bearer token is required' : 'the bearer token is wrong', {
    code: ErrorCode.UNAUTHORIZED,
    suggestion: 'Send "Authorization: Bearer <http.token>" (or open the inspector with ?token=<http.token>).',
  });
}
