import type { PromptEvent, PromptOutputs } from './backend-port.js';
import type { QueueSnapshot } from './comfy-http-client.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';
import { failureOf, outcomeFromHistory, type TerminalEvent } from './history-outcome.js';
import { outputFilesOf } from './output-files.js';
import type { HistoryEntry } from './protocol/http-schemas.js';
import type { ComfyWsMessage, ExecutionErrorData } from './protocol/ws-message-schemas.js';

/** What a watcher needs from its backend; small so the watcher can be tested alone. */
export interface PromptWatcherDeps {
  fetchHistory(promptId: string): Promise<HistoryEntry | undefined>;
  fetchQueue(): Promise<QueueSnapshot>;
  socketOpen(): boolean;
  pollInitialMs: number;
  pollMaxMs: number;
  /** After `execution_success`/`execution_error`, how long to wait for `executing {node:null}`. */
  settleMs?: number;
  logger: StructuredLogger;
  /** Called once, when the watch ends (terminal event or stop). */
  onEnd(): void;
  /**
   * Polling saw this prompt running (twice in a row) or finished while the open socket had
   * said nothing at all about it: the socket may be deaf. The backend decides what to do.
   */
  onUnannounced?(seen: 'running' | 'finished'): void;
}

/** Reads of /history right after `execution_success` can be empty for ~1 ms (§6.7). */
const historyRetryDelaysMs = [5, 20, 50, 100, 200];

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Follows one prompt to its end. Socket messages drive it; when the socket is down or the
 * prompt has been quiet for the current poll interval it checks /queue then /history (in
 * that order: a prompt leaving the queue is already in history, so one check cannot miss
 * it), backing off from pollInitialMs to pollMaxMs while nothing changes. Exactly one
 * terminal event, then it ends itself.
 */
export class PromptWatcher {
  private ended = false;
  private startedSent = false;
  private lastPosition: number | undefined;
  private successSeen = false;
  private errorSeen: ExecutionErrorData | undefined;
  private readonly executedOutputs: PromptOutputs = {};
  private absentChecks = 0;
  private lastActivityAt = Date.now();
  private pollIntervalMs: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private busy = false;
  /** `executing {node:null}` arrived while a poll was in flight: finish right after it. */
  private finishRequested = false;
  /** Any socket message or preview for this prompt (buffered ones included). */
  private heardFromSocket = false;
  /** Polls in a row that found it running while the socket had said nothing of it. */
  private unannouncedRunning = 0;

  constructor(
    readonly promptId: string,
    private readonly onEvent: (event: PromptEvent) => void,
    private readonly deps: PromptWatcherDeps,
  ) {
    this.pollIntervalMs = deps.pollInitialMs;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Replays what the socket already delivered, then starts the fallback clock. */
  begin(buffered: ComfyWsMessage[]): void {
    for (const message of buffered) this.handleMessage(message);
    if (this.ended) return;
    // A watch may start long after the prompt finished (restart, late call): ask history once
    // right away, without counting an empty answer towards "lost" (it may not be queued yet).
    if (buffered.length === 0 || !this.deps.socketOpen()) void this.check(false);
    else this.schedule(this.pollIntervalMs);
  }

  handleMessage(message: ComfyWsMessage): void {
    if (this.ended) return;
    this.heardFromSocket = true;
    this.noteActivity();
    const promptId = this.promptId;
    switch (message.type) {
      case 'execution_start':
        return void this.sendStarted(message.data.timestamp ?? Date.now());
      case 'execution_cached':
        return void this.emit({ type: 'cached', promptId, nodes: message.data.nodes });
      case 'executing':
        if (message.data.node === null) return void this.finish();
        return void this.emit({ type: 'executing', promptId, node: message.data.node });
      case 'progress':
        return void this.emit({ type: 'progress', promptId, node: message.data.node ?? null, value: message.data.value, max: message.data.max });
      case 'executed':
        if (message.data.output) this.executedOutputs[message.data.node] = message.data.output;
        return void this.emit({ type: 'executed', promptId, node: message.data.node, output: message.data.output });
      case 'execution_success':
        this.successSeen = true;
        return void this.settleSoon();
      case 'execution_error':
        this.errorSeen = message.data;
        return void this.settleSoon();
      case 'execution_interrupted':
        return void this.terminate({
          type: 'interrupted',
          promptId,
          nodeId: message.data.node_id ?? null,
          at: message.data.timestamp ?? Date.now(),
          via: 'socket',
        });
      default:
        return;
    }
  }

  handlePreview(node: string | null, mediaType: string, bytes: Buffer): void {
    if (this.ended) return;
    this.heardFromSocket = true;
    this.noteActivity();
    this.emit({ type: 'preview', promptId: this.promptId, node, mediaType, bytes });
  }

  /** After a reconnect (messages in the gap are lost) or when the socket drops: look now. */
  recheckSoon(): void {
    if (this.ended) return;
    this.pollIntervalMs = this.deps.pollInitialMs;
    void this.check(true);
  }

  stop(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    this.deps.onEnd();
  }

  private noteActivity(): void {
    this.lastActivityAt = Date.now();
    this.pollIntervalMs = this.deps.pollInitialMs;
    this.absentChecks = 0;
  }

  private settleSoon(): void {
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => void this.finish(), this.deps.settleMs ?? 100);
  }

  /** The prompt is over: history has every output (including cached ones), so read it. */
  private async finish(): Promise<void> {
    if (this.ended) return;
    if (this.busy) {
      this.finishRequested = true;
      return;
    }
    this.busy = true;
    clearTimeout(this.settleTimer);
    try {
      const entry = await this.historyWithRetries();
      if (entry) return this.terminate({ ...outcomeFromHistory(this.promptId, entry), via: 'socket' });
      const fromSocket = this.outcomeFromSocket();
      if (fromSocket) return this.terminate(fromSocket);
    } catch (error) {
      const fromSocket = this.outcomeFromSocket();
      if (fromSocket) return this.terminate(fromSocket);
      this.deps.logger.warn({ err: error, promptId: this.promptId }, 'reading history of a finished prompt failed; polling');
    } finally {
      this.busy = false;
    }
    if (this.finishRequested) {
      this.finishRequested = false;
      return this.finish();
    }
    this.schedule(this.deps.pollInitialMs);
  }

  private async historyWithRetries(): Promise<HistoryEntry | undefined> {
    let entry = await this.deps.fetchHistory(this.promptId);
    for (const wait of historyRetryDelaysMs) {
      if (entry || this.ended) break;
      await delay(wait);
      entry = await this.deps.fetchHistory(this.promptId);
    }
    return entry;
  }

  /** When history stays empty (or unreachable) but the socket told us how it ended. */
  private outcomeFromSocket(): TerminalEvent | undefined {
    const at = Date.now();
    if (this.errorSeen) {
      return { type: 'failed', promptId: this.promptId, failure: failureOf(this.errorSeen), outputs: this.executedOutputs, at, via: 'socket' };
    }
    if (this.successSeen) {
      return { type: 'succeeded', promptId: this.promptId, outputs: this.executedOutputs, files: outputFilesOf(this.executedOutputs), at, via: 'socket' };
    }
    return undefined;
  }

  private schedule(ms: number): void {
    if (this.ended) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.onPollTimer(), ms);
  }

  private onPollTimer(): void {
    const quietFor = Date.now() - this.lastActivityAt;
    if (this.deps.socketOpen() && quietFor < this.pollIntervalMs) return void this.schedule(this.pollIntervalMs - quietFor);
    void this.check(true);
  }

  private async check(countAbsent: boolean): Promise<void> {
    if (this.ended || this.busy) return;
    this.busy = true;
    let changed = false;
    try {
      changed = await this.lookUp(countAbsent);
    } catch (error) {
      this.deps.logger.debug({ err: error, promptId: this.promptId }, 'poll failed; will retry');
    } finally {
      this.busy = false;
    }
    if (this.ended) return;
    if (this.finishRequested) {
      this.finishRequested = false;
      return void this.finish();
    }
    if (!changed) this.pollIntervalMs = Math.min(this.pollIntervalMs * 2, this.deps.pollMaxMs);
    this.schedule(this.pollIntervalMs);
  }

  /** One look at /queue then /history. Returns whether anything new was learned. */
  private async lookUp(countAbsent: boolean): Promise<boolean> {
    const queue = await this.deps.fetchQueue();
    if (this.ended) return true;
    if (queue.running.some((entry) => entry[1] === this.promptId)) {
      this.absentChecks = 0;
      // Twice, so a prompt that starts just as we look (its execution_start in flight) is not taken for silence.
      if (countAbsent && this.socketSilent() && ++this.unannouncedRunning === 2) this.deps.onUnannounced?.('running');
      const fresh = !this.startedSent;
      this.sendStarted(Date.now());
      return fresh;
    }
    this.unannouncedRunning = 0;
    const position = queue.pending.findIndex((entry) => entry[1] === this.promptId);
    if (position >= 0) {
      this.absentChecks = 0;
      if (position === this.lastPosition) return false;
      this.lastPosition = position;
      this.emit({ type: 'queued', promptId: this.promptId, position });
      return true;
    }
    const entry = await this.deps.fetchHistory(this.promptId);
    if (this.ended) return true;
    if (entry) {
      if (countAbsent && this.socketSilent()) this.deps.onUnannounced?.('finished');
      this.terminate({ ...outcomeFromHistory(this.promptId, entry), via: 'poll' });
      return true;
    }
    if (countAbsent) this.absentChecks += 1;
    // Two looks in a row: neither queued, nor running, nor in history. ComfyUI forgot it.
    if (this.absentChecks >= 2) this.terminate({ type: 'lost', promptId: this.promptId });
    return false;
  }

  /** The socket is open and has told us nothing of this prompt, though ComfyUI has run it. */
  private socketSilent(): boolean {
    return !this.heardFromSocket && this.deps.socketOpen();
  }

  private sendStarted(at: number): void {
    if (this.startedSent) return;
    this.startedSent = true;
    this.emit({ type: 'started', promptId: this.promptId, at });
  }

  private terminate(event: TerminalEvent | Extract<PromptEvent, { type: 'lost' }>): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    this.emit(event);
    this.deps.onEnd();
  }

  private emit(event: PromptEvent): void {
    try {
      this.onEvent(event);
    } catch (error) {
      this.deps.logger.error({ err: error, promptId: this.promptId, event: event.type }, 'prompt event listener threw');
    }
  }

  private clearTimers(): void {
    clearTimeout(this.pollTimer);
    clearTimeout(this.settleTimer);
  }
}
