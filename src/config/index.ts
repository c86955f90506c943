export { serviceConfigSchema, backendSchema, type ServiceConfig, type ServiceConfigInput, type BackendConfig, type GpuHandoffConfig, gpuHandoffSchema } from './service-config.schema.js';
export { loadServiceConfig, parseServiceConfig, applyEnvOverrides, describeIssues, ENV_PREFIX, type ResolvedConfig } from './load-service-config.js';
