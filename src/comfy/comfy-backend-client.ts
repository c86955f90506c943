import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BackendConfig } from '../config/index.js';
import { redactUrl } from '../config/redact-config.js';
import { isChorusError, type ChorusError } from '../errors/index.js';
import type {
  BackendHealth,
  ComfyBackend,
  OutputFileRef,
  PromptEvent,
  PromptLocation,
  PromptWatch,
  SubmitRequest,
  SubmitResult,
  UploadedImage,
} from './backend-port.js';
import { ComfyHttpClient } from './comfy-http-client.js';
import { partialAcceptanceError } from './comfy-http-errors.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { ComfySocket } from './comfy-socket.js';
import { outcomeFromHistory } from './history-outcome.js';
import { PromptMessageBuffer, type PromptMessageBufferOptions } from './prompt-message-buffer.js';
import { PromptWatcher } from './prompt-watcher.js';
import type { BinaryFrame } from './protocol/binary-frame.js';
import { promptIdOf } from './protocol/parse-ws-message.js';
import type { ComfyWsMessage } from './protocol/ws-message-schemas.js';
import type { BackoffPolicy } from './reconnect-backoff.js';

export interface ComfyBackendClientOptions {
  /** The socket's clientId, also sent as `client_id` with every prompt. Default: a fresh uuid. */
  clientId?: string;
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** How often /system_stats is read for health. */
  statsIntervalMs?: number;
  reconnectBackoff?: BackoffPolicy;
  messageBuffer?: PromptMessageBufferOptions;
  logger?: StructuredLogger;
}

type BackendConfigInput = Pick<BackendConfig, 'name' | 'url'> & Partial<BackendConfig>;

/**
 * One ComfyUI server as a ComfyBackend: HTTP for commands, one WebSocket for events, and
 * /queue + /history polling whenever the socket cannot be trusted.
 */
export class ComfyBackendClient implements ComfyBackend {
  readonly name: string;
  readonly url: string;
  readonly maxConcurrent: number;
  readonly http: ComfyHttpClient;
  readonly socket: ComfySocket;
  private readonly logger: StructuredLogger;
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly statsIntervalMs: number;
  private readonly buffer: PromptMessageBuffer;
  private readonly watchers = new Map<string, Set<PromptWatcher>>();
  private readonly healthListeners = new Set<(health: BackendHealth) => void>();
  /** The prompt of ours that is executing: legacy previews (event 1) carry no prompt id. */
  private activePromptId: string | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private statsOk = false;
  private lastError: string | undefined;
  private comfyuiVersion: string | undefined;
  private queueRemaining: number | undefined;
  private checkedAt: number | undefined;
  private lastReportedHealth = '';
  private closed = false;
  /** Prompts we sent while the socket was open, with the socket connection they were sent on. */
  private readonly sentOnConnection = new Map<string, number>();
  private socketHeals = 0;

  constructor(config: BackendConfigInput, options: ComfyBackendClientOptions = {}) {
    this.name = config.name;
    this.url = config.url;
    this.maxConcurrent = config.max_concurrent ?? 2;
    this.logger = options.logger ?? silentLogger;
    this.pollInitialMs = options.pollInitialMs ?? 2_000;
    this.pollMaxMs = Math.max(options.pollMaxMs ?? 10_000, this.pollInitialMs);
    this.statsIntervalMs = options.statsIntervalMs ?? 15_000;
    this.buffer = new PromptMessageBuffer(options.messageBuffer);
    const requestTimeoutMs = config.request_timeout_ms ?? 10_000;
    this.http = new ComfyHttpClient({ url: config.url, name: config.name, requestTimeoutMs });
    const socketOptions = {
      url: config.url,
      clientId: options.clientId ?? randomUUID(),
      heartbeatIntervalMs: config.heartbeat_interval_ms ?? 5_000,
      heartbeatTimeoutMs: config.heartbeat_timeout_ms ?? 10_000,
    };
    this.socket = new ComfySocket(options.reconnectBackoff ? { ...socketOptions, backoff: options.reconnectBackoff } : socketOptions);
    this.socket.on('message', (message) => this.onMessage(message));
    this.socket.on('binary', (frame) => this.onBinary(frame));
    this.socket.on('open', ({ reconnected }) => this.onSocketOpen(reconnected));
    this.socket.on('close', () => this.onSocketClose());
    this.socket.on('error', (error) => this.logger.debug({ err: error, backend: this.name }, 'ComfyUI socket error'));
  }

  /** Opens the socket and reads /system_stats once; never throws for an unreachable server. */
  async start(): Promise<void> {
    this.socket.start();
    // Wait for the first attempt either way, so health() means something when start() returns.
    const firstAttempt = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off('open', done);
        this.socket.off('attemptFailed', done);
        resolve();
      };
      const timer = setTimeout(done, 2_000);
      this.socket.once('open', done);
      this.socket.once('attemptFailed', done);
    });
    await Promise.all([this.checkStats(), firstAttempt]);
    this.statsTimer = setInterval(() => void this.checkStats(), this.statsIntervalMs);
  }

  async submit(request: SubmitRequest): Promise<SubmitResult> {
    try {
      const body = {
        prompt: request.prompt,
        prompt_id: request.promptId,
        client_id: this.socket.clientId,
        extra_data: { chorus_job_id: request.jobId },
        ...(request.front ? { front: true } : {}),
      };
      const connection = this.socket.state === 'open' ? this.socket.connectionNumber : null;
      const response = await this.http.submitPrompt(body);
      if (connection !== null) this.rememberSent(response.prompt_id, connection);
      if (Object.keys(response.node_errors).length > 0) throw await this.withdrawPartial(response.prompt_id, response.node_errors);
      // Servers before 0.3.45 ignore our id and pick their own: the returned one is the truth.
      return { promptId: response.prompt_id, number: response.number };
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  /** A prompt ComfyUI runs without its invalid outputs: taken out of the queue, or stopped if it already started (and only then). */
  private async withdrawPartial(promptId: string, nodeErrors: Record<string, unknown>): Promise<ChorusError> {
    let withdrawn = true;
    try {
      await this.http.deleteFromQueue([promptId]);
      // Interrupted only when it is the one running: a server before 0.3.57 ignores the id and
      // would stop whatever runs, another job's prompt included.
      if ((await this.locate(promptId)).where === 'running') await this.http.interrupt(promptId);
    } catch (error) {
      withdrawn = false;
      this.logger.warn({ backend: this.name, prompt_id: promptId, err: error }, 'could not withdraw a partly invalid prompt; its valid outputs may run');
    }
    return partialAcceptanceError(nodeErrors, { backend: this.name, promptId, withdrawn });
  }

  watch(promptId: string, onEvent: (event: PromptEvent) => void): PromptWatch {
    const watcher: PromptWatcher = new PromptWatcher(promptId, onEvent, {
      fetchHistory: async (id) => (await this.http.getHistory(id))[id],
      fetchQueue: () => this.http.getQueue(),
      socketOpen: () => this.socket.state === 'open',
      pollInitialMs: this.pollInitialMs,
      pollMaxMs: this.pollMaxMs,
      logger: this.logger,
      onEnd: () => this.forget(watcher),
      onUnannounced: (seen) => this.healIfDeaf(promptId, seen),
    });
    const set = this.watchers.get(promptId) ?? new Set();
    this.watchers.set(promptId, set);
    set.add(watcher);
    if (this.closed) watcher.stop();
    else watcher.begin(this.buffer.messagesFor(promptId));
    return { stop: () => watcher.stop() };
  }

  async locate(promptId: string): Promise<PromptLocation> {
    // Queue before history: a prompt that leaves the queue in between is already in history.
    const queue = await this.http.getQueue();
    if (queue.running.some((entry) => entry[1] === promptId)) return { where: 'running' };
    const position = queue.pending.findIndex((entry) => entry[1] === promptId);
    if (position >= 0) return { where: 'pending', position };
    const entry = (await this.http.getHistory(promptId))[promptId];
    if (entry) return { where: 'history', outcome: outcomeFromHistory(promptId, entry) };
    return { where: 'absent' };
  }

  async deleteFromQueue(promptId: string): Promise<void> {
    await this.http.deleteFromQueue([promptId]);
  }

  /** Always targeted: a global interrupt could kill another job's prompt. */
  async interrupt(promptId: string): Promise<void> {
    await this.http.interrupt(promptId);
  }

  /** POST /free: ComfyUI unloads its models and drops its cache once the running prompt ends. */
  async freeMemory(): Promise<void> {
    await this.http.free({ unloadModels: true, freeMemory: true });
  }

  download(file: Pick<OutputFileRef, 'filename' | 'subfolder' | 'type'>): Promise<Readable> {
    return this.http.view(file);
  }

  uploadImage(bytes: Uint8Array, filename: string, options: { overwrite?: boolean } = {}): Promise<UploadedImage> {
    return this.http.uploadImage(bytes, filename, options.overwrite ? { overwrite: true } : {});
  }

  objectInfo(): Promise<Record<string, unknown>> {
    return this.http.objectInfo();
  }

  health(): BackendHealth {
    const health: BackendHealth = {
      name: this.name,
      // Shown by /readyz and the inspector: without the URL's password or token.
      url: redactUrl(this.url),
      healthy: this.statsOk && this.socket.state === 'open',
      socket: this.socket.state,
    };
    if (this.lastError !== undefined) health.lastError = this.lastError;
    if (this.comfyuiVersion !== undefined) health.comfyuiVersion = this.comfyuiVersion;
    if (this.queueRemaining !== undefined) health.queueRemaining = this.queueRemaining;
    if (this.checkedAt !== undefined) health.checkedAt = this.checkedAt;
    health.socketHeals = this.socketHeals;
    return health;
  }

  onHealthChange(listener: (health: BackendHealth) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.statsTimer);
    for (const set of [...this.watchers.values()]) for (const watcher of [...set]) watcher.stop();
    this.buffer.clear();
    await this.socket.close();
    await this.http.close();
    this.healthListeners.clear();
  }

  private async checkStats(): Promise<void> {
    try {
      const stats = await this.http.systemStats();
      this.statsOk = true;
      this.comfyuiVersion = stats.system.comfyui_version ?? undefined;
      this.lastError = undefined;
    } catch (error) {
      this.statsOk = false;
      this.noteFailure(error);
    }
    this.checkedAt = Date.now();
    this.reportHealth();
  }

  private noteFailure(error: unknown): void {
    if (isChorusError(error) && error.code !== 'COMFY_UNAVAILABLE') return;
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  private onMessage(message: ComfyWsMessage): void {
    if (message.type === 'other') {
      if (message.problem) this.logger.debug({ backend: this.name, message }, 'unexpected ComfyUI message');
      return;
    }
    if (message.type === 'status') {
      this.queueRemaining = message.data.status?.exec_info?.queue_remaining ?? this.queueRemaining;
      return;
    }
    const promptId = promptIdOf(message);
    if (promptId === undefined) return;
    if (message.type === 'execution_start') this.activePromptId = promptId;
    if (message.type === 'executing' && message.data.node === null && this.activePromptId === promptId) this.activePromptId = undefined;
    this.buffer.add(promptId, message);
    for (const watcher of this.watchers.get(promptId) ?? []) watcher.handleMessage(message);
  }

  private onBinary(frame: BinaryFrame): void {
    if (frame.kind !== 'preview') return;
    const promptId = frame.metadata?.prompt_id ?? this.activePromptId;
    if (promptId === undefined) return;
    const node = frame.metadata?.node_id ?? null;
    for (const watcher of this.watchers.get(promptId) ?? []) watcher.handlePreview(node, frame.mediaType, frame.bytes);
  }

  private onSocketOpen(reconnected: boolean): void {
    this.reportHealth();
    // Back after a failure: do not wait a whole stats interval to be healthy again.
    if (!this.statsOk && this.statsTimer) void this.checkStats();
    if (reconnected) this.logger.info({ backend: this.name }, 'ComfyUI socket reconnected; re-checking watched prompts');
    // Whatever happened while we were away is lost (§8.9): ask /history for every watched prompt.
    this.eachWatcher((watcher) => watcher.recheckSoon());
  }

  private onSocketClose(): void {
    this.activePromptId = undefined;
    this.reportHealth();
    if (!this.closed) this.eachWatcher((watcher) => watcher.recheckSoon());
  }

  private eachWatcher(action: (watcher: PromptWatcher) => void): void {
    for (const set of [...this.watchers.values()]) for (const watcher of [...set]) action(watcher);
  }

  private forget(watcher: PromptWatcher): void {
    const set = this.watchers.get(watcher.promptId);
    set?.delete(watcher);
    if (set?.size === 0) {
      this.watchers.delete(watcher.promptId);
      this.sentOnConnection.delete(watcher.promptId);
    }
  }

  private rememberSent(promptId: string, connection: number): void {
    this.sentOnConnection.set(promptId, connection);
    // Prompts never watched would pile up; the oldest are the least likely to matter.
    if (this.sentOnConnection.size > 10_000) this.sentOnConnection.delete(this.sentOnConnection.keys().next().value!);
  }

  /**
   * ComfyUI ran a prompt we sent on this very connection, and the socket said nothing: the
   * server no longer routes our clientId to it (another socket took the id over and closed,
   * protocol §5.2). Pings still work, so only this notices. A new socket re-registers the id.
   * Evidence about a prompt sent on an earlier connection proves nothing (messages in a
   * reconnect gap are lost anyway), which also makes one heal per deaf connection.
   */
  private healIfDeaf(promptId: string, seen: 'running' | 'finished'): void {
    const connection = this.sentOnConnection.get(promptId);
    if (this.closed || connection === undefined || connection !== this.socket.connectionNumber) return;
    if (!this.socket.reconnectNow()) return;
    this.socketHeals += 1;
    this.logger.warn(
      { backend: this.name, prompt_id: promptId, seen, heals: this.socketHeals },
      `ComfyUI socket is deaf: prompt ${seen} without one message on the socket; reopening it`,
    );
  }

  private reportHealth(): void {
    const health = this.health();
    const key = `${health.healthy}:${health.socket}`;
    if (key === this.lastReportedHealth) return;
    this.lastReportedHealth = key;
    for (const listener of [...this.healthListeners]) {
      try {
        listener(health);
      } catch (error) {
        this.logger.error({ err: error, backend: this.name }, 'health listener threw');
      }
    }
  }
}
