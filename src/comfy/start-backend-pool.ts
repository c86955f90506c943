import type { ResolvedConfig } from '../config/index.js';
import { BackendPool } from './backend-pool.js';
import { ComfyBackendClient } from './comfy-backend-client.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';

export interface StartBackendPoolOptions {
  logger?: StructuredLogger;
  /** /system_stats period per backend (default 15 s). */
  statsIntervalMs?: number;
}

/**
 * Builds and starts one ComfyBackendClient per configured backend. With `instance_id` set,
 * each socket's clientId is stable across restarts (`{instance_id}-{backend}`), so prompts
 * submitted before a restart keep sending their events to us; two running instances must
 * then have different ids, or one socket goes deaf (protocol §5.2). Without it the id is random
 * and restored prompts are followed by polling.
 */
export async function startBackendPool(config: ResolvedConfig, options: StartBackendPoolOptions = {}): Promise<BackendPool> {
  const polling = config.comfyui.polling;
  const backends = config.resolvedBackends.map((backend) => {
    const clientOptions: ConstructorParameters<typeof ComfyBackendClient>[1] = {
      pollInitialMs: polling.initial_interval_seconds * 1_000,
      pollMaxMs: polling.max_interval_seconds * 1_000,
    };
    if (config.instance_id) clientOptions.clientId = `${config.instance_id}-${backend.name}`;
    if (options.logger) clientOptions.logger = options.logger;
    if (options.statsIntervalMs) clientOptions.statsIntervalMs = options.statsIntervalMs;
    return new ComfyBackendClient(backend, clientOptions);
  });
  const pool = new BackendPool(backends);
  try {
    await Promise.all(backends.map((backend) => backend.start()));
  } catch (error) {
    await pool.close();
    throw error;
  }
  return pool;
}
