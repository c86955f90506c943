/**
 * The vocabulary every area shares: the job's public shape and states, its stored rows and
 * the ports that store them, the notices and error data it emits, the ComfyUI facts it
 * carries, how a sqlite: URL names its file. A leaf: nothing here imports another area (the
 * dependency rules check it).
 */
export * from './job-view.js';
export * from './job-store-port.js';
export type * from './instance-coordination-port.js';
export type * from './job-notices.js';
export type * from './comfy-prompt.js';
export type { ErrorData } from './error-data.js';
export { ErrorCode, errorCatalogue } from './error-codes.js';
export { entersNewState, topLevelOf, transitionName } from './event-names.js';
export { silentLogger, type StructuredLogger } from './structured-logger.js';
export { inMemorySqlite, sqliteUrlFile, type SqliteUrlFile } from './sqlite-url.js';
export { isSafeName, SAFE_NAME_CHARACTER, SAFE_NAME_FIRST, SAFE_NAME_MAX_LENGTH, SAFE_NAME_PATTERN } from './safe-name.js';
export { WORKFLOW_NAME_MAX_LENGTH, WORKFLOW_NAME_RULE, workflowNameProblem } from './workflow-name.js';
