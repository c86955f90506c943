/**
 * The config as the CLI sees it: `--config FILE` (or CHORUS_VISUAL_CONFIG, or
 * config/chorus-visual.yaml), then environment overrides, then the command's own flags.
 * Flags enter as overrides of the same kind as the environment's, so they get the same
 * validation and the same messages naming the key.
 */
import { access } from 'node:fs/promises';
import { configFilePath, databaseLeftBehind, ENV_PREFIX, readServiceConfig, type ResolvedConfig } from '../config/index.js';
import type { ChorusError } from '../errors/index.js';

/**
 * The config for a command that opens the job store (serve, generate, jobs …). It refuses
 * (CONFIG_INVALID) when the config file's relative database path now names a database that
 * does not exist while the one it named before (read against the working folder) holds the
 * jobs: see moved-database.ts. Nothing is created before that check.
 * `flags` maps config paths in upper snake case (as in CHORUS_VISUAL_*) to values; undefined = not given.
 * `flagNames` gives the flag each came from (`HTTP_PORT: '--http-port'`), so an error names it.
 */
export async function loadCliConfig(
  configPath: string | undefined,
  flags: Record<string, string | undefined> = {},
  flagNames: Record<string, string> = {},
): Promise<ResolvedConfig> {
  const { config, leftBehind } = await readCliConfig(configPath, flags, flagNames);
  if (leftBehind !== undefined) throw leftBehind;
  return config;
}

/**
 * The config, and (not thrown) the error loadCliConfig would refuse with: for commands that
 * do not open the job store (workflows) or report it among others (doctor).
 */
export async function readCliConfig(
  configPath: string | undefined,
  flags: Record<string, string | undefined> = {},
  flagNames: Record<string, string> = {},
): Promise<{ config: ResolvedConfig; leftBehind: ChorusError | undefined }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    env[`${ENV_PREFIX}${key}`] = value;
    if (flagNames[key]) labels[`${ENV_PREFIX}${key}`] = flagNames[key];
  }
  const { config, movedDatabase } = await readServiceConfig({ env, labels, ...(configPath === undefined ? {} : { path: configPath, required: true }) });
  return { config, leftBehind: databaseLeftBehind(movedDatabase) };
}

/**
 * The config file a load with this `--config` reads, or undefined when there is none (the
 * default or CHORUS_VISUAL_CONFIG's file is absent, so only defaults and the environment apply).
 * For saying where a setting came from; a missing `--config` file already failed the load.
 */
export async function configFileInUse(configPath: string | undefined): Promise<string | undefined> {
  const path = configFilePath(configPath);
  try {
    await access(path);
    return path;
  } catch {
    return undefined;
  }
}
