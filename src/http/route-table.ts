/**
 * A tiny router: exact method, path pattern with `:name` segments. Enough for a dozen
 * routes, and it tells "no such path" (404) from "path exists, wrong method" (405).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: string;
  segments: string[];
  /** `/files/*`: the rest of the path, raw, in params['*']. */
  prefix: boolean;
  handler: RouteHandler;
}

export type RouteMatch =
  | { kind: 'found'; handler: RouteHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

export class RouteTable {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: RouteHandler): this {
    const prefix = pattern.endsWith('/*');
    const path = prefix ? pattern.slice(0, -2) : pattern;
    this.routes.push({ method, pattern, segments: path.split('/').filter(Boolean), prefix, handler });
    return this;
  }

  /** `GET /api/jobs/:id`, … in the order added: what an unknown route's reply lists. */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.pattern}`);
  }

  match(method: string, rawPath: string): RouteMatch {
    const segments = rawPath.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route, segments, rawPath);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { kind: 'found', handler: route.handler, params };
      }
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
  }
}

function matchSegments(route: Route, segments: string[], rawPath: string): Record<string, string> | null {
  if (route.prefix ? segments.length <= route.segments.length : segments.length !== route.segments.length) return null;
  const params: Record<string, string> = {};
  for (const [i, expected] of route.segments.entries()) {
    const actual = segments[i];
    if (actual === undefined) return null;
    if (expected.startsWith(':')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(actual);
      } catch {
        return null;
      }
      params[expected.slice(1)] = decoded;
    } else if (expected !== actual) {
      return null;
    }
  }
  if (route.prefix) {
    // Kept raw: the file route decodes and checks each piece itself.
    const head = `/${route.segments.join('/')}/`;
    params['*'] = rawPath.startsWith(head) ? rawPath.slice(head.length) : '';
  }
  return params;
}
