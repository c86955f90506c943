/** The ComfyUI layer: protocol schemas, HTTP client, socket, backend (ComfyBackend) and pool. */
export * from './backend-port.js';
export * from './protocol/index.js';
export {
  ComfyHttpClient,
  compareQueueEntries,
  type ComfyHttpClientOptions,
  type SubmitPromptBody,
  type QueueSnapshot,
  type FileLocation,
} from './comfy-http-client.js';
export {
  promptRejectedError,
  partialAcceptanceError,
  unavailableError,
  summariseNodeErrors,
  describeNode,
  describeNetworkFailure,
  type NodeErrorSummary,
  type RequestContext,
} from './comfy-http-errors.js';
export { ComfySocket, socketUrlOf, type ComfySocketOptions, type ComfySocketEvents, type SocketState } from './comfy-socket.js';
export { ComfyBackendClient, type ComfyBackendClientOptions } from './comfy-backend-client.js';
export { BackendPool } from './backend-pool.js';
export { BackendOutageLog, outageCauseOf, type BackendOutageLogOptions } from './backend-outage-log.js';
export { startBackendPool, type StartBackendPoolOptions } from './start-backend-pool.js';
export { PromptWatcher, type PromptWatcherDeps } from './prompt-watcher.js';
export { PromptMessageBuffer, type PromptMessageBufferOptions } from './prompt-message-buffer.js';
export { backoffDelayMs, type BackoffPolicy } from './reconnect-backoff.js';
export { outputFilesOf } from './output-files.js';
export { outcomeFromHistory, outputsOf, failureOf, type TerminalEvent } from './history-outcome.js';
