/**
 * What a web page must not be able to do to a service on 127.0.0.1 — one guard for every
 * route and every WebSocket upgrade, run by the server before any handler, so a route
 * added later is covered without knowing about it.
 *
 * - Host: only names this server answers to (DNS rebinding gives a hostile page's own
 *   name the address 127.0.0.1; its requests then carry that name in Host).
 * - Origin: when a browser says where a request comes from, it must be this server's own
 *   origin (as the browser sees it: the Host it addressed) or one configured.
 * - Fetch metadata: a cross-site request without an allowed Origin (an `<img>`, a `<script>`,
 *   a no-cors GET) is refused; a top-level navigation (a link to the inspector) is not.
 * - Bodies: only `application/json`, never the content types a form, `sendBeacon` or a
 *   no-cors `fetch` can send without a CORS preflight.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { HttpRequestError } from './http-error-envelope.js';

export interface RequestGuardOptions {
  /** The address the server binds (`http.host`). */
  boundHost: string;
  /** Extra origins allowed to send requests (`http.allowed_origins`), e.g. `https://visual.example.com`. */
  allowedOrigins?: readonly string[];
  /** Extra Host names this server answers to (`http.allowed_hosts`), e.g. `visual.example.com`. */
  allowedHosts?: readonly string[];
}

export interface RequestGuard {
  /** Called once the port is known (the origins the server is reachable at include it). */
  listening(port: number): void;
  /** Host, Origin and fetch metadata of a plain HTTP request; throws an HttpRequestError. */
  checkRequest(req: IncomingMessage): void;
  /** Host and Origin of a WebSocket upgrade (browsers always send Origin on one). */
  checkUpgrade(req: IncomingMessage): void;
  /** A request that carries a body (any method but GET/HEAD/OPTIONS) must declare JSON. */
  checkBodyType(req: IncomingMessage): void;
  /** The allow-lists in force, for the startup log line and docs. */
  describe(): { hosts: string[]; origins: string[] };
}

const wildcardHosts = new Set(['0.0.0.0', '::', '[::]', '']);

/**
 * JSON is UTF-8 (RFC 8259) and the body is decoded as UTF-8: a body declared in another
 * charset would be read as something it is not, so it is refused rather than guessed at.
 */
function checkCharset(declared: string, parameters: readonly string[]): void {
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals === -1 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (/^utf-?8$/i.test(charset)) continue;
    throw new HttpRequestError(415, `expected a UTF-8 JSON body, got ${declared}`, {
      details: { content_type: declared, charset, reason: 'charset_not_utf8' },
      suggestion: 'Send the body as UTF-8 JSON with "Content-Type: application/json" (charset=utf-8 may be given; no other charset is read).',
    });
  }
}

/** A host name as URL parsing writes it: lower case, IPv6 in brackets, IDN in punycode. */
function hostnameOf(value: string): string | null {
  try {
    const url = new URL(`http://${value}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    return url.hostname.replace(/\.$/, '');
  } catch {
    return null;
  }
}

function formatHostname(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host.toLowerCase();
}

/** The Host names a server bound to `boundHost` is reached by, without configuration. */
function defaultHostnames(boundHost: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  if (!wildcardHosts.has(boundHost)) {
    names.add(formatHostname(boundHost));
  } else {
    // Bound to every interface: each of this machine's own addresses is a name it is reached by.
    for (const list of Object.values(networkInterfaces())) {
      for (const nic of list ?? []) names.add(formatHostname(nic.address.replace(/%.*$/, '')));
    }
  }
  return [...names];
}

function normalisedOrigin(value: string): string | null {
  if (value === 'null') return null;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.origin;
  } catch {
    return null;
  }
}

const defaultPort = (protocol: string) => (protocol === 'https:' ? '443' : '80');

/** The origin is the one the browser addressed: same host name and port as the Host header. */
function originMatchesHost(origin: string, hostHeader: string): boolean {
  try {
    const o = new URL(origin);
    const h = new URL(`${o.protocol}//${hostHeader}`);
    return o.hostname === h.hostname && (o.port || defaultPort(o.protocol)) === (h.port || defaultPort(o.protocol));
  } catch {
    return false;
  }
}

const jsonType = /^application\/([a-z0-9.+-]+\+)?json$/;
const bodylessMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createRequestGuard(options: RequestGuardOptions): RequestGuard {
  const extraHosts = (options.allowedHosts ?? []).map((h) => hostnameOf(h.trim()) ?? h.trim().toLowerCase());
  const hosts = new Set([...defaultHostnames(options.boundHost), ...extraHosts]);
  const configuredOrigins = new Set((options.allowedOrigins ?? []).flatMap((o) => normalisedOrigin(o.trim()) ?? []));
  const origins = new Set(configuredOrigins);

  const hostOf = (req: IncomingMessage): string => {
    const header = req.headers.host;
    const name = header === undefined ? null : hostnameOf(header);
    if (name !== null && hosts.has(name)) return header!;
    throw new HttpRequestError(421, header === undefined ? 'the request has no Host header' : `this server does not answer to the host "${header}"`, {
      details: { host: header ?? null, reason: 'host_not_allowed' },
      suggestion: 'Use http://127.0.0.1:<port>/ or http://localhost:<port>/, or add the name to http.allowed_hosts (e.g. behind a reverse proxy).',
    });
  };

  /** true: an Origin was sent and is allowed; false: none was sent; throws when one was sent and is not allowed. */
  const checkOrigin = (req: IncomingMessage, host: string): boolean => {
    const header = req.headers.origin;
    if (header === undefined) return false;
    const origin = normalisedOrigin(header);
    if (origin !== null && (origins.has(origin) || originMatchesHost(origin, host))) return true;
    throw new HttpRequestError(403, `requests from the origin "${header}" are not allowed`, {
      details: { origin: header, reason: 'origin_not_allowed' },
      suggestion: "Open the inspector on this server's own address, or add the origin to http.allowed_origins.",
    });
  };

  return {
    listening(port) {
      for (const name of ['127.0.0.1', 'localhost', '[::1]']) origins.add(`http://${name}:${port}`);
      if (!wildcardHosts.has(options.boundHost)) origins.add(`http://${formatHostname(options.boundHost)}:${port}`);
    },
    checkRequest(req) {
      const host = hostOf(req);
      if (checkOrigin(req, host)) return;
      const site = req.headers['sec-fetch-site'];
      if (site !== 'cross-site' && site !== 'same-site') return;
      // A link to the page from elsewhere is fine: the user sees the answer, the other page does not.
      const navigation = req.headers['sec-fetch-mode'] === 'navigate' && (req.method === 'GET' || req.method === 'HEAD');
      if (navigation) return;
      throw new HttpRequestError(403, `cross-site requests are not allowed (Sec-Fetch-Site: ${site})`, {
        details: { sec_fetch_site: site, sec_fetch_mode: req.headers['sec-fetch-mode'] ?? null, reason: 'cross_site_request' },
        suggestion: "Call the API from the inspector's own origin or from a program, not from another web page.",
      });
    },
    checkUpgrade(req) {
      checkOrigin(req, hostOf(req));
    },
    checkBodyType(req) {
      if (bodylessMethods.has(req.method ?? 'GET')) return;
      const declared = req.headers['content-type'] ?? '';
      const [mediaType = '', ...parameters] = declared.split(';').map((part) => part.trim());
      if (jsonType.test(mediaType.toLowerCase())) {
        checkCharset(declared, parameters);
        return;
      }
      throw new HttpRequestError(
        415,
        declared === '' ? 'the request has no Content-Type; expected application/json' : `expected application/json, got ${declared}`,
        {
          details: { content_type: declared || null, reason: 'not_json' },
          suggestion: 'Send the body as JSON with "Content-Type: application/json" (an empty command is {}).',
        },
      );
    },
    describe: () => ({ hosts: [...hosts], origins: [...origins] }),
  };
}
