/**
 * Where a ComfyUI says it writes its outputs. ComfyUI has no route for its folders; the one
 * place it tells is `/system_stats.system.argv`, and only when it was started with
 * `--output-directory`. Used by the output-folder advice and by `doctor`.
 */
import { isIP } from 'node:net';

export function reportedOutputFolder(stats: unknown): string | undefined {
  const argv = (stats as { system?: { argv?: unknown } } | null)?.system?.argv;
  if (!Array.isArray(argv)) return undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--output-directory' && typeof argv[i + 1] === 'string') return argv[i + 1] as string;
    if (typeof arg === 'string' && arg.startsWith('--output-directory=')) return arg.slice('--output-directory='.length);
  }
  return undefined;
}

/** GET /system_stats, or undefined when it does not answer in time. */
export async function readSystemStats(baseUrl: string, timeoutMs = 3_000): Promise<unknown> {
  try {
    const response = await fetch(new URL('/system_stats', baseUrl), { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

/** A backend URL that points at this machine (where a move could have worked). */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
