/**
 * The config as the CLI sees it: `--config FILE` (or CHORUS_VISUAL_CONFIG, or
 * config/chorus-visual.yaml), then environment overrides, then the command's own flags.
 */
import { applyEnvOverrides, loadServiceConfig, parseServiceConfig, type ResolvedConfig } from '../config/index.js';

export async function loadCliConfig(configPath: string | undefined, patch: (config: ResolvedConfig) => ResolvedConfig = (c) => c): Promise<ResolvedConfig> {
  const config = await loadServiceConfig(configPath === undefined ? {} : { path: configPath, required: true });
  return patch(config);
}

/** Re-validates a config after code changed it (ids, URLs), so flags get the same checks as the file. */
export function revalidate(config: ResolvedConfig): ResolvedConfig {
  const { resolvedBackends: _b, collectMode: _m, ...raw } = config;
  return parseServiceConfig(applyEnvOverrides(raw as Record<string, unknown>, {}));
}
