/**
 * A relative path written in a config file means a place beside that file, wherever the
 * command runs from (as docker-compose and tsconfig read theirs): `data_dir: data` in
 * `/srv/cv/cv.yaml` is `/srv/cv/data` for a `serve` started in one folder and a `generate`
 * started in another, so both use one database. Paths given by a flag or a CHORUS_VISUAL_*
 * variable, and the defaults, stay relative to the working directory: they are resolved
 * later, where they are used.
 */
import path from 'node:path';
import { sqliteUrlFile } from '../contracts/sqlite-url.js';

/** Every key of the config that names a file or folder on this machine. */
const pathKeys: readonly (readonly string[])[] = [
  ['data_dir'],
  ['workflows_dir'],
  ['characters_dir'],
  ['comfyui', 'file_management', 'output_directory'],
  ['nats', 'creds_file'],
  ['nats', 'nkey_file'],
  ['nats', 'tls', 'ca_file'],
  ['nats', 'tls', 'cert_file'],
  ['nats', 'tls', 'key_file'],
];

/**
 * The raw config (as read from `configFile`, before overrides and validation) with each
 * relative path made absolute against the file's folder. Values that are not text are left
 * for validation to name.
 */
export function resolvePathsInConfigFile(raw: Record<string, unknown>, configFile: string): Record<string, unknown> {
  const base = path.dirname(path.resolve(configFile));
  const out = structuredClone(raw);
  for (const key of pathKeys) rewrite(out, key, (value) => path.resolve(base, value));
  const backends = (out['comfyui'] as { backends?: unknown } | undefined)?.backends;
  if (Array.isArray(backends)) {
    for (const backend of backends) rewrite(backend, ['output_directory'], (value) => path.resolve(base, value));
  }
  rewrite(out, ['database', 'url'], (url) => resolveSqliteUrl(url, base));
  return out;
}

/** The relative file of a `sqlite:` (or `sqlite://`) URL; undefined for other URLs, `:memory:`, a blank file and absolute files. */
export function relativeSqliteFile(url: string): string | undefined {
  const sqlite = sqliteUrlFile(url);
  if (sqlite === undefined || sqlite.memory || sqlite.file.trim() === '' || path.isAbsolute(sqlite.file)) return undefined;
  return sqlite.file;
}

/** `sqlite:<relative>` (or `sqlite://<relative>`) against `base`; other URLs as they are. */
function resolveSqliteUrl(url: string, base: string): string {
  const file = relativeSqliteFile(url);
  return file === undefined ? url : `sqlite:${path.resolve(base, file)}`;
}

function rewrite(node: unknown, key: readonly string[], map: (value: string) => string): void {
  let parent = node;
  for (const part of key.slice(0, -1)) {
    if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) return;
    parent = (parent as Record<string, unknown>)[part];
  }
  if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) return;
  const record = parent as Record<string, unknown>;
  const last = key[key.length - 1]!;
  const value = record[last];
  // Empty text is left to validation; an absolute path resolves to itself.
  if (typeof value === 'string' && value !== '') record[last] = map(value);
}
