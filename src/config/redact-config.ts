/**
 * The configuration as it may be shown (logs, diagnostics): credentials replaced, and the
 * user:password part and secret query parameters of every URL hidden. Anything that prints
 * configuration goes through here.
 */
import type { BackendConfig, ServiceConfig } from './service-config.schema.js';

const hidden = '[redacted]';
const secretQueryParameter = /^(token|access_token|password|pass|api_key|apikey|key|secret)$/i;

/** `scheme://user:pass@host/…?token=…` → `scheme://***@host/…?token=[redacted]`; other text unchanged. */
export function redactUrl(value: string): string {
  const withoutUserinfo = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1***@');
  const queryAt = withoutUserinfo.indexOf('?');
  if (queryAt === -1) return withoutUserinfo;
  const [query, fragment] = withoutUserinfo.slice(queryAt + 1).split('#', 2) as [string, string | undefined];
  const params = query.split('&').map((pair) => {
    const name = pair.split('=', 1)[0]!;
    return secretQueryParameter.test(decodeURIComponentSafe(name)) ? `${name}=${hidden}` : pair;
  });
  return `${withoutUserinfo.slice(0, queryAt)}?${params.join('&')}${fragment === undefined ? '' : `#${fragment}`}`;
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const mask = <T>(value: T | undefined): typeof hidden | undefined => (value === undefined ? undefined : hidden);

export function redactConfig<C extends ServiceConfig & { resolvedBackends?: BackendConfig[] }>(config: C): C {
  return {
    ...config,
    ...(config.resolvedBackends === undefined ? {} : { resolvedBackends: config.resolvedBackends.map((b) => ({ ...b, url: redactUrl(b.url) })) }),
    comfyui: {
      ...config.comfyui,
      url: redactUrl(config.comfyui.url),
      backends: config.comfyui.backends.map((b) => ({ ...b, url: redactUrl(b.url) })),
    },
    database: { ...config.database, url: redactUrl(config.database.url) },
    nats: {
      ...config.nats,
      servers: config.nats.servers.map(redactUrl),
      ...(config.nats.user === undefined ? {} : { user: hidden }),
      ...(config.nats.pass === undefined ? {} : { pass: mask(config.nats.pass) }),
      ...(config.nats.token === undefined ? {} : { token: mask(config.nats.token) }),
    },
    llm: {
      ...config.llm,
      ...(config.llm.base_url === undefined ? {} : { base_url: redactUrl(config.llm.base_url) }),
      ...(config.llm.api_key === undefined ? {} : { api_key: mask(config.llm.api_key) }),
    },
    http: { ...config.http, ...(config.http.token === undefined ? {} : { token: mask(config.http.token) }) },
  };
}
