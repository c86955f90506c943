import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { resolvePathsInConfigFile } from './config-file-paths.js';
import { movedDatabase, type MovedDatabase } from './moved-database.js';
import { isLoopbackHost } from './loopback-host.js';
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

/**
 * Validates a raw config. `overrides` (from applyEnvOverrides' reader) say which keys a
 * variable or flag set: a bad value there is blamed on that variable, not on the file.
 */
export function parseServiceConfig(raw: unknown, source = 'config', overrides: readonly ConfigOverride[] = []): ResolvedConfig {
  const result = serviceConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const carriers = new Set<string>();
    let fromFile = false;
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      const carrier = overrideFor(overrides, issue.path);
      if (carrier === undefined) {
        fromFile = true;
        return `${key}: ${issue.message}`;
      }
      carriers.add(carrier.label);
      return `${carrier.label} (${key}): ${issue.message}`;
    });
    const blamed = fromFile ? `${source} is invalid` : `${[...carriers].join(', ')} ${carriers.size === 1 ? 'is' : 'are'} invalid`;
    throw new ChorusError(ErrorCode.CONFIG_INVALID, `${blamed}: ${lines.join('; ')}`, {
      details: { source: fromFile ? source : [...carriers], issues: lines },
    });
  }
  // No database.url given: the database lives in data_dir, so moving data_dir moves it too.
  const givenUrl = (raw as { database?: { url?: unknown } } | null | undefined)?.database?.url;
  if (givenUrl === undefined) result.data.database.url = `sqlite:${join(result.data.data_dir, 'chorus-visual.db')}`;
  assertHttpExposureIsIntended(result.data, overrides);
  return resolve(result.data);
}

/**
 * No token means no authentication, which is only right where no one else can connect:
 * on any other address the service refuses to start unless told the port is guarded.
 */
function assertHttpExposureIsIntended(config: ServiceConfig, overrides: readonly ConfigOverride[]): void {
  const { http } = config;
  if (!http.enabled || http.token !== undefined || http.allow_unauthenticated || isLoopbackHost(http.host)) return;
  const carrier = overrideFor(overrides, ['http', 'host']);
  const hostKey = carrier ? `${carrier.label} (http.host)` : 'http.host';
  throw new ChorusError(ErrorCode.CONFIG_INVALID, `${hostKey} is ${http.host}, an address other machines can reach, and http.token is not set`, {
    details: { host: http.host, ...(carrier ? { variable: carrier.label } : {}) },
    suggestion:
      'Set http.token (CHORUS_VISUAL_HTTP_TOKEN), bind http.host to 127.0.0.1, or, when something else guards the port (a firewall, a container published on loopback), set http.allow_unauthenticated: true.',
  });
}

/** The override whose key is the issue's key or holds it (a list set by one variable). */
function overrideFor(overrides: readonly ConfigOverride[], issuePath: readonly PropertyKey[]): ConfigOverride | undefined {
  return overrides.find((o) => o.path.every((key, i) => String(issuePath[i]) === key));
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
    throw new ChorusError(
      ErrorCode.CONFIG_INVALID,
      'comfyui.gpu_handoff is for the single-server form (comfyui.url); with comfyui.backends, set gpu_handoff on each backend',
      {
        details: { key: 'comfyui.gpu_handoff' },
        suggestion: 'Move the gpu_handoff block under the backend that shares its GPU with the LLM.',
      },
    );
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

/** One `CHORUS_VISUAL_*` variable (or a CLI flag passed as one): the key it sets and its value. */
export interface ConfigOverride {
  variable: string;
  /** How the user gave it: the variable's name, or the flag's (`--http-port`). */
  label: string;
  path: string[];
  value: unknown;
}

/**
 * Reads `CHORUS_VISUAL_*` variables. A variable names a config leaf by its path in upper
 * snake case (`CHORUS_VISUAL_DATABASE_URL` → `database.url`,
 * `CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE` → `comfyui.queue.max_queue_size`). The value
 * of a text key (tokens, passwords, URLs, names) is taken exactly as given — `abc #def`,
 * `&x`, `''` are what they say; numbers and booleans are parsed; a list is a JSON/YAML
 * list (`["nats://a:4222"]`) or, for a list of text, comma-separated. An empty value and an
 * unknown variable are errors naming the variable: an unset template variable must not
 * quietly turn a token off, and a typo must not be silently ignored. `labels` renames
 * variables that came from CLI flags, so errors name the flag.
 */
export function readEnvOverrides(env: NodeJS.ProcessEnv, labels: Readonly<Record<string, string>> = {}): ConfigOverride[] {
  const leaves = leafSchemas(serviceConfigSchema);
  const byEnvName = new Map(leaves.map((leaf) => [ENV_PREFIX + leaf.path.join('_').toUpperCase(), leaf]));
  const overrides: ConfigOverride[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(ENV_PREFIX) || value === undefined) continue;
    if (variable === `${ENV_PREFIX}CONFIG`) continue;
    const label = labels[variable] ?? variable;
    const leaf = byEnvName.get(variable);
    if (!leaf) {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `environment variable ${variable} names no config key`, {
        details: { variable },
        suggestion: `Known variables: ${[...byEnvName.keys()].slice(0, 12).join(', ')}, …`,
      });
    }
    const key = leaf.path.join('.');
    if (value === '') {
      throw new ChorusError(ErrorCode.CONFIG_INVALID, `${label} (${key}) is set but empty`, {
        details: { variable: label, key },
        suggestion: `Unset ${label} to use the file's value or the default, or give it a value.`,
      });
    }
    overrides.push({ variable, label, path: leaf.path, value: parseEnvValue(value, leaf.schema) });
  }
  return overrides;
}

/** Applies `CHORUS_VISUAL_*` variables to a raw config (see readEnvOverrides). */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  labels: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  return applyOverrides(raw, readEnvOverrides(env, labels));
}

function applyOverrides(raw: Record<string, unknown>, overrides: readonly ConfigOverride[]): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const o of overrides) setPath(out, o.path, o.value);
  return out;
}

const isTextSchema = (schema: z.ZodType) => schema instanceof z.ZodString || schema instanceof z.ZodStringFormat || schema instanceof z.ZodEnum;

function parseEnvValue(value: string, schema: z.ZodType): unknown {
  // Text is literal: parsing it as YAML turned `abc #def` into `abc` and `''` into an empty token.
  if (isTextSchema(schema)) return value;
  if (schema instanceof z.ZodArray && isTextSchema(unwrap(schema.element as z.ZodType)) && !value.trimStart().startsWith('[')) {
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }
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

/** Every leaf key of an object schema with its (unwrapped) schema; arrays and records count as leaves. */
function leafSchemas(schema: z.ZodType, prefix: string[] = []): Array<{ path: string[]; schema: z.ZodType }> {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([key, child]) => leafSchemas(child, [...prefix, key]));
  }
  return [{ path: prefix, schema: inner }];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) {
      s = (s as unknown as { unwrap(): z.ZodType }).unwrap();
    } else return s;
  }
}

/** The config file a load reads: the given path, else CHORUS_VISUAL_CONFIG, else config/chorus-visual.yaml. */
export function configFilePath(path: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path ?? env[`${ENV_PREFIX}CONFIG`] ?? 'config/chorus-visual.yaml';
}

export interface LoadServiceConfigOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
  required?: boolean;
  labels?: Readonly<Record<string, string>>;
}

/**
 * Loads the config: the YAML file (when it exists; a missing default file means defaults),
 * its relative paths made absolute against its folder (config-file-paths.ts), then
 * `CHORUS_VISUAL_*` overrides (their paths relative to the working directory), then validation.
 */
export async function loadServiceConfig(options: LoadServiceConfigOptions = {}): Promise<ResolvedConfig> {
  return (await readServiceConfig(options)).config;
}

/**
 * loadServiceConfig, and where the file's relative database path pointed before relative
 * paths were read against the file's folder (moved-database.ts), for the commands that open
 * the job store to check before they make one.
 */
export async function readServiceConfig(options: LoadServiceConfigOptions = {}): Promise<{ config: ResolvedConfig; movedDatabase: MovedDatabase | undefined }> {
  const env = options.env ?? process.env;
  const path = configFilePath(options.path, env);
  let raw: Record<string, unknown> = {};
  let asWritten: Record<string, unknown> | undefined;
  try {
    const text = await readFile(path, 'utf8');
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ChorusError(ErrorCode.CONFIG_INVALID, `${path}: the top level must be a mapping of keys`);
      }
      asWritten = parsed as Record<string, unknown>;
      raw = resolvePathsInConfigFile(asWritten, path);
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
  const overrides = readEnvOverrides(env, options.labels);
  const config = parseServiceConfig(applyOverrides(raw, overrides), path, overrides);
  const overridden = (key: readonly string[]) => overrideFor(overrides, key) !== undefined;
  return { config, movedDatabase: asWritten === undefined ? undefined : movedDatabase(asWritten, path, overridden) };
}
