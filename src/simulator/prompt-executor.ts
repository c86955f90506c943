/**
 * The worker thread of ComfyUI (main.py prompt_worker + execution.py PromptExecutor): takes one
 * queue entry at a time and emits the messages of protocol §5.5 in the recorded order. Per-prompt
 * messages go only to the prompt's client; progress, progress_state, legacy previews and
 * execution_interrupted are broadcast when the prompt has no client_id.
 */
import { randomInt } from 'node:crypto';
import type { HistoryStore, HistoryEntry, HistoryMessage } from './history-store.js';
import type { PromptQueue, QueueEntry } from './prompt-queue.js';
import type { SocketHub } from './socket-hub.js';
import type { NodeCatalog } from './node-catalog.js';
import type { OutputFileNamer } from './output-file-namer.js';
import type { FaultState, SimulatorTiming } from './simulator-types.js';
import type { ApiPromptGraph } from './prompt-validator.js';
import { ExecutionCache, computeSignatures } from './execution-cache.js';
import { ExecutionPlan } from './execution-plan.js';
import { handlerFor } from './node-handler-registry.js';
import { NodeExecutionError, type NodeRunContext } from './node-run-context.js';
import { legacyPreviewFrame, metadataPreviewFrame, progressTextFrame } from './binary-frames.js';
import { samplerPreviewPng } from './sim-image.js';

class InterruptedAt extends Error {
  constructor(readonly nodeId: string) {
    super('interrupted');
  }
}
class ExecutionAborted extends Error {}

export interface ExecutorDeps {
  queue: PromptQueue;
  history: HistoryStore;
  hub: SocketHub;
  catalog: NodeCatalog;
  namer: OutputFileNamer;
  dirs: { output: string; input: string; temp: string };
  timing: SimulatorTiming;
  faults: FaultState;
  onExecutionStart(promptId: string): void;
}

const tempLetters = 'abcdefghijklmnopqrstupvxyz';

export class PromptExecutor {
  readonly cache = new ExecutionCache();
  private interruptRequested = false;
  private freeMemoryRequested = false;
  private generation = 0;
  private wakeUp: (() => void) | null = null;
  private runningClientId: string | null = null;
  private runningNode: string | null = null;

  constructor(private readonly deps: ExecutorDeps) {}

  start(): void {
    void this.loop(this.generation);
  }

  /** Stops the worker where it stands, sending nothing more (a process dying). */
  stop(): void {
    this.generation++;
    this.runningClientId = null;
    this.runningNode = null;
    this.wakeUp?.();
  }

  notify(): void {
    this.wakeUp?.();
  }

  interrupt(): void {
    this.interruptRequested = true;
  }

  requestFreeMemory(): void {
    this.freeMemoryRequested = true;
  }

  executingNodeFor(sid: string): string | null {
    return this.runningClientId === sid ? this.runningNode : null;
  }

  private async loop(gen: number): Promise<void> {
    while (gen === this.generation) {
      if (this.freeMemoryRequested) {
        this.freeMemoryRequested = false;
        this.cache.clear();
      }
      const entry = this.deps.queue.take();
      if (!entry) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        this.wakeUp = null;
        continue;
      }
      try {
        await this.run(entry, gen);
      } catch (error) {
        if (!(error instanceof ExecutionAborted)) throw error;
      }
    }
  }

  private async pause(ms: number, gen: number): Promise<void> {
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    if (gen !== this.generation) throw new ExecutionAborted();
  }

  private async run(entry: QueueEntry, gen: number): Promise<void> {
    const { hub, catalog, timing, faults } = this.deps;
    const [, promptId, prompt, extraData, outputsToExecute] = entry;
    const graph = prompt as ApiPromptGraph;
    const clientId = typeof extraData['client_id'] === 'string' ? (extraData['client_id'] as string) : null;
    const messages: HistoryMessage[] = [];
    const toClient = (type: string, data: Record<string, unknown>) => {
      if (clientId !== null) hub.send(type, data, clientId);
    };
    const record = (type: string, data: Record<string, unknown>, broadcast = false) => {
      messages.push([type, data]);
      if (broadcast || clientId !== null) hub.send(type, data, clientId);
    };
    this.interruptRequested = false;
    this.runningClientId = clientId;
    this.deps.onExecutionStart(promptId);
    record('execution_start', { prompt_id: promptId, timestamp: Date.now() });

    const signatures = computeSignatures(graph, catalog, this.deps.dirs.input);
    const cachedNodes = Object.keys(graph).filter((id) => this.cache.get(signatures.get(id) ?? null));
    record('execution_cached', { nodes: cachedNodes, prompt_id: promptId, timestamp: Date.now() });

    const progress: Record<string, Record<string, unknown>> = {};
    const setProgress = (id: string, value: number, max: number, state: string) => {
      progress[id] = { value, max, state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id };
      hub.send('progress_state', { prompt_id: promptId, nodes: progress }, clientId);
    };
    const outputs: HistoryEntry['outputs'] = {};
    const meta: HistoryEntry['meta'] = {};
    const keepUi = (id: string, ui: Record<string, unknown> | null) => {
      if (!ui) return;
      outputs[id] = ui;
      meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
    };
    const executed: string[] = [];
    const values = new Map<string, unknown[]>();
    const cached = new Set(cachedNodes);
    const plan = new ExecutionPlan(graph, outputsToExecute, (id) => cached.has(id), (id) => catalog.isOutputNode(String(graph[id]?.class_type)));
    const tempSuffix = Array.from({ length: 5 }, () => tempLetters[randomInt(tempLetters.length)]).join('');
    let extraDelay = faults.executionDelayMs;
    let status: 'success' | 'error' = 'success';

    try {
      for (let id = plan.next(); id !== null; id = plan.next()) {
        const classType = String(graph[id]?.class_type);
        const signature = signatures.get(id) ?? null;
        const hit = this.cache.get(signature);
        if (hit) {
          toClient('executed', { node: id, display_node: id, output: hit.ui, prompt_id: promptId });
          setProgress(id, 1, 1, 'finished');
          keepUi(id, hit.ui);
          values.set(id, hit.outputs);
          plan.complete(id);
          continue;
        }
        setProgress(id, 0, 1, 'running');
        toClient('executing', { node: id, display_node: id, prompt_id: promptId });
        this.runningNode = id;
        if (this.interruptRequested) throw new InterruptedAt(id);
        if (faults.failNodeClass === classType) {
          throw new NodeExecutionError('RuntimeError', `Simulated failure in ${classType} (fault injection)`);
        }
        await this.pause(timing.nodeDelayMs + extraDelay, gen);
        extraDelay = 0;
        let lastTick: [number, number] = [1, 1];
        const ctx: NodeRunContext = {
          nodeId: id, classType, signature: signature ?? `${id}:${Date.now()}`,
          inputs: this.resolveInputs(graph, id, values, signatures), dirs: this.deps.dirs, namer: this.deps.namer,
          defaultSteps: timing.defaultSteps, tempSuffix,
          tick: async (value, max, withPreview = timing.previews) => {
            await this.pause(timing.stepDelayMs, gen);
            if (this.interruptRequested) throw new InterruptedAt(id);
            lastTick = [value, max];
            setProgress(id, value, max, 'running');
            this.sendProgress(id, value, max, promptId, clientId, withPreview);
          },
          sendText: (text) => hub.sendRaw(progressTextFrame(id, text), null),
        };
        const result = faults.succeedWithoutOutputs && catalog.isOutputNode(classType)
          ? { outputs: [], ui: null }
          : await handlerFor(catalog, classType)(ctx);
        if (gen !== this.generation) throw new ExecutionAborted();
        values.set(id, result.outputs);
        this.cache.set(signature, result);
        executed.push(id);
        if (result.ui) toClient('executed', { node: id, display_node: id, output: result.ui, prompt_id: promptId });
        keepUi(id, result.ui);
        setProgress(id, lastTick[1], lastTick[1], 'finished');
        plan.complete(id);
      }
      record('execution_success', { prompt_id: promptId, timestamp: Date.now() });
    } catch (error) {
      if (error instanceof ExecutionAborted) throw error;
      status = 'error';
      const failedId = error instanceof InterruptedAt ? error.nodeId : (this.runningNode ?? '');
      const base = { prompt_id: promptId, node_id: failedId, node_type: String(graph[failedId]?.class_type), executed: [...executed].reverse() };
      if (error instanceof InterruptedAt) {
        record('execution_interrupted', { ...base, timestamp: Date.now() }, true);
      } else {
        const failure = error instanceof NodeExecutionError ? error : new NodeExecutionError('Exception', String((error as Error)?.message ?? error));
        record('execution_error', {
          ...base, exception_message: failure.exceptionMessage, exception_type: failure.exceptionType,
          traceback: failure.traceback, current_inputs: this.currentInputs(graph, failedId),
          current_outputs: Object.keys(graph), timestamp: Date.now(),
        });
      }
    }
    this.runningNode = null;
    this.cache.retainOnly(signatures.values());
    this.deps.history.put(promptId, this.historyEntry(entry, outputs, meta, status, messages));
    this.runningClientId = null;
    this.deps.queue.finishRunning();
    toClient('executing', { node: null, prompt_id: promptId });
  }

  private sendProgress(id: string, value: number, max: number, promptId: string, clientId: string | null, withPreview: boolean): void {
    const { hub } = this.deps;
    const data = { value, max, prompt_id: promptId, node: id };
    if (!withPreview) {
      hub.send('progress', data, clientId);
      return;
    }
    if (clientId !== null && hub.supportsPreviewMetadata(clientId)) {
      const metadata = { node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id, image_type: 'image/png' };
      hub.sendRaw(metadataPreviewFrame(samplerPreviewPng(), metadata), clientId);
      hub.send('progress', data, clientId);
    } else {
      hub.send('progress', data, clientId);
      hub.sendRaw(legacyPreviewFrame(samplerPreviewPng()), clientId);
    }
  }

  /** Upstream values come from this run, or from the cache for nodes that did not run. */
  private resolveInputs(graph: ApiPromptGraph, id: string, values: Map<string, unknown[]>, signatures: Map<string, string | null>): Record<string, unknown> {
    const resolved: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(graph[id]?.inputs ?? {})) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
        const upstream = values.get(value[0]) ?? this.cache.get(signatures.get(value[0]) ?? null)?.outputs;
        resolved[name] = upstream?.[Number(value[1])];
      } else {
        resolved[name] = value;
      }
    }
    return resolved;
  }

  private currentInputs(graph: ApiPromptGraph, id: string): Record<string, unknown[]> {
    const inputs: Record<string, unknown[]> = {};
    for (const [name, value] of Object.entries(graph[id]?.inputs ?? {})) {
      if (!Array.isArray(value)) inputs[name] = [value];
    }
    return inputs;
  }

  /** Secrets for API nodes are stripped when the entry moves to history (0.3.45+). */
  private historyEntry(entry: QueueEntry, outputs: HistoryEntry['outputs'], meta: HistoryEntry['meta'], status: 'success' | 'error', messages: HistoryMessage[]): HistoryEntry {
    const extra = { ...entry[3] };
    delete extra['api_key_comfy_org'];
    delete extra['auth_token_comfy_org'];
    return {
      prompt: [entry[0], entry[1], entry[2], extra, entry[4]],
      outputs,
      status: { status_str: status, completed: status === 'success', messages },
      meta,
    };
  }
}
