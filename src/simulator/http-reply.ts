/**
 * Responses shaped like aiohttp's: JSON with `charset=utf-8`, empty 200s as
 * application/octet-stream, and the stock text/plain 500 page for unhandled exceptions.
 */
import type { ServerResponse } from 'node:http';

const serverHeader = 'Python/3.11 aiohttp/3.8.4';

export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  replyRawJson(res, status, JSON.stringify(body));
}

export function replyRawJson(res: ServerResponse, status: number, json: string): void {
  const bytes = Buffer.from(json, 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': bytes.length, Server: serverHeader });
  res.end(bytes);
}

export function replyEmpty(res: ServerResponse, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/octet-stream', 'Content-Length': 0, Server: serverHeader });
  res.end();
}

const reasons: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** aiohttp's default error page text for a status. */
export function replyErrorText(res: ServerResponse, status: number): void {
  const reason = reasons[status] ?? 'Error';
  const text = status === 500 ? '500 Internal Server Error\n\nServer got itself in trouble' : `${status}: ${reason}`;
  const bytes = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': bytes.length, Server: serverHeader });
  res.end(bytes);
}

export function replyBytes(res: ServerResponse, bytes: Buffer, headers: Record<string, string | number>): void {
  res.writeHead(200, { ...headers, 'Content-Length': bytes.length, Server: serverHeader });
  res.end(bytes);
}

/** request.json() in aiohttp: a JSON value or a parse failure. */
export function parseJsonBody(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
