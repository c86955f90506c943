/**
 * Fetches `/object_info` for validation and UI-format conversion. Kept apart from the full
 * ComfyUI client so the `workflows` command works against any server with one request.
 */
import { request } from 'undici';
import { ChorusError } from '../errors/index.js';
import { objectInfoSchema, type ObjectInfo } from './object-info-spec.js';

export async function fetchObjectInfo(baseUrl: string, timeoutMs = 10_000): Promise<ObjectInfo> {
  const url = objectInfoUrl(baseUrl);
  let body: unknown;
  try {
    const response = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`HTTP ${response.statusCode}`);
    }
    body = await response.body.json();
  } catch (error) {
    throw new ChorusError('COMFY_UNAVAILABLE', `Cannot read ${url}: ${(error as Error).message}`, { cause: error, details: { url } });
  }
  const parsed = objectInfoSchema.safeParse(body);
  if (!parsed.success) throw new ChorusError('COMFY_UNAVAILABLE', `${url} did not answer with ComfyUI's object_info.`, { details: { url } });
  return parsed.data;
}

/** Malformed base URLs are the caller's configuration, not an unreachable server. */
function objectInfoUrl(baseUrl: string): string {
  try {
    return new URL('object_info', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
  } catch (error) {
    throw new ChorusError('CONFIG_INVALID', `"${baseUrl}" is not a URL of a ComfyUI server`, {
      cause: error,
      details: { url: baseUrl },
      suggestion: 'give its http:// or https:// address, e.g. http://127.0.0.1:8188',
    });
  }
}
