export {
  serviceConfigSchema,
  backendSchema,
  type ServiceConfig,
  type ServiceConfigInput,
  type BackendConfig,
  type GpuHandoffConfig,
  gpuHandoffSchema,
} from './service-config.schema.js';
export {
  loadServiceConfig,
  readServiceConfig,
  configFilePath,
  parseServiceConfig,
  applyEnvOverrides,
  readEnvOverrides,
  describeIssues,
  ENV_PREFIX,
  type ConfigOverride,
  type ResolvedConfig,
  type LoadServiceConfigOptions,
} from './load-service-config.js';
export { databaseLeftBehind, movedDatabase, type MovedDatabase } from './moved-database.js';
export { redactConfig, redactUrl } from './redact-config.js';
export { isLoopbackHost } from './loopback-host.js';
