// Talks to the service's own API. The bearer token (if the service has one) arrives once as
// ?token= in the page address, is kept in sessionStorage and removed from the address bar.
const tokenKey = 'chorus-visual-token';

function adoptTokenFromAddress() {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token) {
    sessionStorage.setItem(tokenKey, token);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
}
adoptTokenFromAddress();

export function token() {
  return sessionStorage.getItem(tokenKey);
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

export async function api(path, options = {}) {
  const headers = { accept: 'application/json', ...(options.body ? { 'content-type': 'application/json' } : {}) };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const res = await fetch(path, { ...options, headers });
  const body = await res.json().catch(() => null);
  if (!res.ok || !body?.ok) throw new ApiError(res.status, body?.error);
  return body;
}

/** Image and media URLs cannot carry headers, so they carry the token in the query. */
export function fileUrl(relativePath) {
  const encoded = relativePath.split('/').map(encodeURIComponent).join('/');
  const t = token();
  return `/files/${encoded}${t ? `?token=${encodeURIComponent(t)}` : ''}`;
}

export function liveUrl() {
  const t = token();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/live${t ? `?token=${encodeURIComponent(t)}` : ''}`;
}
