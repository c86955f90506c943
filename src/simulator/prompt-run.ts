/**
 * One prompt being executed: the messages of protocol §5.5 in their recorded order, the
 * cumulative progress_state snapshot, and the history entry it leaves. Per-prompt messages go
 * only to the prompt's client; progress, progress_state, legacy previews and
 * execution_interrupted are broadcast when the prompt has no client_id.
 */
import { randomInt } from 'node:crypto';
import type { HistoryEntry, HistoryMessage } from './history-store.js';
import type { QueueEntry } from './prompt-queue.js';
import type { ApiPromptGraph } from './prompt-validator.js';
import type { ExecutorDeps } from './executor-deps.js';
import type { ExecutionCache, CachedNode } from './execution-cache.js';
import { computeSignatures } from './execution-cache.js';
import { ExecutionPlan } from './execution-plan.js';
import { handlerFor } from './node-handler-registry.js';
import { NodeExecutionError, type NodeRunContext } from './node-run-context.js';
import { legacyPreviewFrame, metadataPreviewFrame, progressTextFrame } from './binary-frames.js';
import { samplerPreviewPng } from './sim-image.js';
import { modelFilesOfGraph } from './model-memory.js';

export class InterruptedAt extends Error {
  constructor(readonly nodeId: string) {
    super('interrupted');
  }
}

/** What a run needs from the worker: the interrupt flag and time that a restart can cut short. */
export interface RunControl {
  interrupted(): boolean;
  /** Waits, then throws if the process "died" meanwhile. */
  pause(ms: number): Promise<void>;
  setRunningNode(id: string | null): void;
  /** Loads the prompt's model files (a delay when they differ from the previous prompt's). */
  loadModels(files: string[]): Promise<void>;
}

const tempLetters = 'abcdefghijklmnopqrstupvxyz';

export class PromptRun {
  private readonly promptId: string;
  private readonly graph: ApiPromptGraph;
  readonly clientId: string | null;
  private readonly messages: HistoryMessage[] = [];
  private readonly progress: Record<string, Record<string, unknown>> = {};
  private readonly outputs: HistoryEntry['outputs'] = {};
  private readonly meta: HistoryEntry['meta'] = {};
  private readonly executed: string[] = [];
  private readonly values = new Map<string, unknown[]>();
  private readonly signatures: Map<string, string | null>;
  private readonly tempSuffix = Array.from({ length: 5 }, () => tempLetters[randomInt(tempLetters.length)]).join('');
  private extraDelayMs: number;
  private currentNode = '';

  constructor(
    private readonly entry: QueueEntry,
    private readonly deps: ExecutorDeps,
    private readonly cache: ExecutionCache,
    private readonly control: RunControl,
  ) {
    this.promptId = entry[1];
    this.graph = entry[2] as ApiPromptGraph;
    this.clientId = typeof entry[3]['client_id'] === 'string' ? entry[3]['client_id'] : null;
    this.signatures = computeSignatures(this.graph, deps.catalog, deps.dirs.input);
    this.extraDelayMs = deps.faults.executionDelayMs;
  }

  /** Runs the prompt to its end; the caller stores history, then `finish` sends the end marker. */
  async execute(): Promise<HistoryEntry> {
    const now = () => Date.now();
    this.record('execution_start', { prompt_id: this.promptId, timestamp: now() });
    const cachedNodes = Object.keys(this.graph).filter((id) => this.cache.get(this.signatures.get(id) ?? null));
    this.record('execution_cached', { nodes: cachedNodes, prompt_id: this.promptId, timestamp: now() });
    const cached = new Set(cachedNodes);
    // Loading happens inside the loader nodes on a real server: after execution_start.
    await this.control.loadModels(modelFilesOfGraph(this.graph));
    const plan = new ExecutionPlan(
      this.graph,
      this.entry[4],
      (id) => cached.has(id),
      (id) => this.deps.catalog.isOutputNode(this.classOf(id)),
    );
    let status: 'success' | 'error' = 'success';
    try {
      for (let id = plan.next(); id !== null; id = plan.next()) {
        const hit = this.cache.get(this.signatures.get(id) ?? null);
        if (hit) this.replayCached(id, hit);
        else await this.runNode(id);
        plan.complete(id);
      }
      this.record('execution_success', { prompt_id: this.promptId, timestamp: now() });
    } catch (error) {
      // A stopped worker (restart) ends the prompt silently; everything else is reported.
      if ((error as Error | undefined)?.name === 'ExecutionAborted') throw error;
      status = 'error';
      this.reportFailure(error);
    }
    this.control.setRunningNode(null);
    this.cache.retainOnly(this.signatures.values());
    return this.historyEntry(status);
  }

  /** The end marker, sent after history is stored and `status` broadcast (main.py). */
  finish(): void {
    this.toClient('executing', { node: null, prompt_id: this.promptId });
  }

  private classOf(id: string): string {
    return String(this.graph[id]?.class_type);
  }

  private toClient(type: string, data: Record<string, unknown>): void {
    if (this.clientId !== null) this.deps.hub.send(type, data, this.clientId);
  }

  private record(type: string, data: Record<string, unknown>, broadcast = false): void {
    this.messages.push([type, data]);
    if (broadcast || this.clientId !== null) this.deps.hub.send(type, data, this.clientId);
  }

  private setProgress(id: string, value: number, max: number, state: string): void {
    this.progress[id] = { value, max, state, node_id: id, prompt_id: this.promptId, display_node_id: id, parent_node_id: null, real_node_id: id };
    this.deps.hub.send('progress_state', { prompt_id: this.promptId, nodes: this.progress }, this.clientId);
  }

  private keepUi(id: string, ui: Record<string, unknown> | null): void {
    if (!ui) return;
    this.outputs[id] = ui;
    this.meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
  }

  /** A cached output node: `executed` replayed with the old files, nothing written. */
  private replayCached(id: string, hit: CachedNode): void {
    this.toClient('executed', { node: id, display_node: id, output: hit.ui, prompt_id: this.promptId });
    this.setProgress(id, 1, 1, 'finished');
    this.keepUi(id, hit.ui);
    this.values.set(id, hit.outputs);
  }

  private async runNode(id: string): Promise<void> {
    const { catalog, faults, timing } = this.deps;
    const classType = this.classOf(id);
    this.setProgress(id, 0, 1, 'running');
    this.toClient('executing', { node: id, display_node: id, prompt_id: this.promptId });
    this.currentNode = id;
    this.control.setRunningNode(id);
    // The interrupt flag is checked when a node starts and inside progress callbacks only.
    if (this.control.interrupted()) throw new InterruptedAt(id);
    if (faults.failNodeClass === classType) throw new NodeExecutionError('RuntimeError', `Simulated failure in ${classType} (fault injection)`);
    await this.control.pause(timing.nodeDelayMs + this.extraDelayMs);
    this.extraDelayMs = 0;
    while (faults.holdExecution) {
      await this.control.pause(10);
      if (this.control.interrupted()) throw new InterruptedAt(id);
    }
    let finalMax = 1;
    const signature = this.signatures.get(id) ?? null;
    const ctx: NodeRunContext = {
      nodeId: id,
      classType,
      signature: signature ?? `${id}:${Date.now()}`,
      inputs: this.resolveInputs(id),
      dirs: this.deps.dirs,
      namer: this.deps.namer,
      defaultSteps: timing.defaultSteps,
      tempSuffix: this.tempSuffix,
      tick: async (value, max, withPreview = timing.previews) => {
        await this.control.pause(timing.stepDelayMs);
        if (this.control.interrupted()) throw new InterruptedAt(id);
        finalMax = max;
        this.setProgress(id, value, max, 'running');
        this.sendProgress(id, value, max, withPreview);
      },
      sendText: (text) => this.deps.hub.sendRaw(progressTextFrame(id, text), null),
    };
    const result = faults.succeedWithoutOutputs && catalog.isOutputNode(classType) ? { outputs: [], ui: null } : await handlerFor(catalog, classType)(ctx);
    await this.control.pause(0);
    this.values.set(id, result.outputs);
    this.cache.set(signature, result);
    this.executed.push(id);
    if (result.ui) this.toClient('executed', { node: id, display_node: id, output: result.ui, prompt_id: this.promptId });
    this.keepUi(id, result.ui);
    this.setProgress(id, finalMax, finalMax, 'finished');
  }

  /** Legacy sockets get progress then event 1; negotiated ones event 4 then progress (T07). */
  private sendProgress(id: string, value: number, max: number, withPreview: boolean): void {
    const { hub } = this.deps;
    const data = { value, max, prompt_id: this.promptId, node: id };
    if (!withPreview) return void hub.send('progress', data, this.clientId);
    if (this.clientId !== null && hub.supportsPreviewMetadata(this.clientId)) {
      const metadata = { node_id: id, prompt_id: this.promptId, display_node_id: id, parent_node_id: null, real_node_id: id, image_type: 'image/png' };
      hub.sendRaw(metadataPreviewFrame(samplerPreviewPng(), metadata), this.clientId);
      hub.send('progress', data, this.clientId);
    } else {
      hub.send('progress', data, this.clientId);
      hub.sendRaw(legacyPreviewFrame(samplerPreviewPng()), this.clientId);
    }
  }

  private reportFailure(error: unknown): void {
    const failedId = error instanceof InterruptedAt ? error.nodeId : this.currentNode;
    // `executed` is a Python set on the real server; its order is arbitrary (T06 shows ["2","1"]).
    const base = { prompt_id: this.promptId, node_id: failedId, node_type: this.classOf(failedId), executed: [...this.executed].reverse() };
    if (error instanceof InterruptedAt) {
      this.record('execution_interrupted', { ...base, timestamp: Date.now() }, true);
      return;
    }
    const failure = error instanceof NodeExecutionError ? error : new NodeExecutionError('Exception', String((error as Error)?.message ?? error));
    this.record('execution_error', {
      ...base,
      exception_message: failure.exceptionMessage,
      exception_type: failure.exceptionType,
      traceback: failure.traceback,
      current_inputs: this.currentInputs(failedId),
      current_outputs: Object.keys(this.graph),
      timestamp: Date.now(),
    });
  }

  /** Upstream values come from this run, or from the cache for nodes that did not run. */
  private resolveInputs(id: string): Record<string, unknown> {
    const resolved: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(this.graph[id]?.inputs ?? {})) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
        const upstream = this.values.get(value[0]) ?? this.cache.get(this.signatures.get(value[0]) ?? null)?.outputs;
        resolved[name] = upstream?.[Number(value[1])];
      } else {
        resolved[name] = value;
      }
    }
    return resolved;
  }

  private currentInputs(id: string): Record<string, unknown[]> {
    const inputs: Record<string, unknown[]> = {};
    for (const [name, value] of Object.entries(this.graph[id]?.inputs ?? {})) if (!Array.isArray(value)) inputs[name] = [value];
    return inputs;
  }

  /** Secrets for API nodes are stripped when the entry moves to history (0.3.45+). */
  private historyEntry(status: 'success' | 'error'): HistoryEntry {
    const extra = { ...this.entry[3] };
    delete extra['api_key_comfy_org'];
    delete extra['auth_token_comfy_org'];
    const [number, id, prompt, , outputsToExecute] = this.entry;
    return {
      prompt: [number, id, prompt, extra, outputsToExecute],
      outputs: this.outputs,
      status: { status_str: status, completed: status === 'success', messages: this.messages },
      meta: this.meta,
    };
  }
}
