import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { serviceConfigSchema, type BackendConfig, type ServiceConfig } from './service-config.schema.js';

export const ENV_PREFIX = 'CHORUS_VISUAL_';

/** The config plus what is derived from it once, so no caller re-derives it differently. */
export interface ResolvedConfig extends ServiceConfig {
  /** Never empty: `comfyui.backends`, or one backend made from the original `comfyui.url`. */
  resolvedBackends: BackendConfig[];
  /** `file_management.mode`: auto (the default), or move | copy | download forced. */
  collectMode: 'auto' | 'move' | 'copy' | 'download';
  /** What auto mode does with a file it finds on this machine: the original `move_files` flag. */
  localCollectMode: 'move' | 'copy';
}

/** Formats zod issues as `key.path: message` lines, so a bad key is named, not hinted at. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return `${path}: ${issue.message}`;
  });
}

export function parseServiceConfig(raw: unknown, source = 'config'): ResolvedConfig {
  const result = serviceConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = describeIssues(result.error);
    throw new ChorusError(ErrorCode.CONFIG_INVALID, `${source} is invalid: ${lines.join('; ')}`, {
      details: { source, issues: lines },
    });
  }
  return resolve(result.data);
}

function resolve(config: ServiceConfig): ResolvedConfig {
  const c = config.comfyui;
  const resolvedBackends: BackendConfig[] =
    c.backends.length > 0
      ? c.backends
      : [
          {
            name: 'default',
            url: c.url,
            max_concurrent: c.queue.max_concurrent_jobs,
            output_directory: c.file_management.output_directory,
            request_timeout_ms: 10_000,
            heartbeat_interval_ms: 5_000,
            heartbeat_timeout_ms: 10_000,
            ...(c.gpu_handoff ? { gpu_handoff: c.gpu_handoff } : {}),
          },
        ];
  if (c.backends.length > 0 && c.gpu_handoff) {
    throw new ChorusError(ErrorCode.CONFIG_INVALID, 'comfyui.gpu_handoff is for the single-server form (comfyui.url); with comfyui.backends, set gpu_handoff on each backend', {
      details: { key: 'comfyui.gpu_handoff' },
      suggestion: 'Move the gpu_handoff block under the backend that shares its GPU with the LLM.',
    });
  }
  const names = new Set<string>();
  for (const b of resolvedBackends) {
    if (names.has(b.name)) {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `comfyui.backends: the name "${b.name}" is used twice`);
    }
    names.add(b.name);
  }
  const collectMode = c.file_management.mode;
  const localCollectMode = c.file_management.move_files ? 'move' : 'copy';
  return { ...config, resolvedBackends, collectMode, localCollectMode };
}

/**
 * Applies `CHORUS_VISUAL_*` variables. A variable names a config leaf by its path in upper
 * snake case (`CHORUS_VISUAL_DATABASE_URL` → `database.url`,
 * `CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE` → `comfyui.queue.max_queue_size`); values are
 * read as YAML scalars, so `8`, `true` and `["nats://a:4222"]` keep their types. Unknown
 * variables are an error: a typo must not be silently ignored.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const leaves = leafPaths(serviceConfigSchema);
  const byEnvName = new Map(leaves.map((path) => [ENV_PREFIX + path.join('_').toUpperCase(), path]));
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    if (name === `${ENV_PREFIX}CONFIG`) continue;
    const path = byEnvName.get(name);
    if (!path) {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `environment variable ${name} names no config key`, {
        details: { variable: name },
        suggestion: `Known variables: ${[...byEnvName.keys()].slice(0, 12).join(', ')}, …`,
      });
    }
    setPath(out, path, parseEnvValue(value));
  }
  return out;
}

function parseEnvValue(value: string): unknown {
  try {
    return parseYaml(value);
  } catch {
    return value;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Every leaf key path of an object schema (arrays and records count as leaves). */
function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      leafPaths(child, [...prefix, key]),
    );
  }
  return [prefix];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) {
      s = (s as unknown as { unwrap(): z.ZodType }).unwrap();
    } else return s;
  }
}

/**
 * Loads the config: the YAML file (when it exists; a missing default file means defaults),
 * then `CHORUS_VISUAL_*` overrides, then validation.
 */
export async function loadServiceConfig(
  options: { path?: string; env?: NodeJS.ProcessEnv; required?: boolean } = {},
): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  const path = options.path ?? env[`${ENV_PREFIX}CONFIG`] ?? 'config/chorus-visual.yaml';
  let raw: Record<string, unknown> = {};
  try {
    const text = await readFile(path, 'utf8');
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ChorusError(ErrorCode.CONFIG_INVALID, `${path}: the top level must be a mapping of keys`);
      }
      raw = parsed as Record<string, unknown>;
    }
  } catch (error) {
    if (error instanceof ChorusError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !options.required && options.path === undefined) {
      raw = {};
    } else if (code === 'ENOENT') {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `config file ${path} does not exist`, { cause: error });
    } else {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `${path} cannot be read: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return parseServiceConfig(applyEnvOverrides(raw, env), path);
}
