/**
 * The worker of ComfyUI (main.py prompt_worker): takes one queue entry at a time, runs it, stores
 * its history entry, lets the queue broadcast `status`, then sends the end marker — in that
 * order, so history is readable once `executing {node: null}` arrives (protocol §6.7).
 */
import type { ExecutorDeps } from './executor-deps.js';
import { ExecutionCache } from './execution-cache.js';
import { PromptRun, type RunControl } from './prompt-run.js';
import { ModelMemory } from './model-memory.js';

export type { ExecutorDeps } from './executor-deps.js';

/** The worker was stopped (restart/close): the prompt vanishes without another message. */
class ExecutionAborted extends Error {
  override name = 'ExecutionAborted';
}

export class PromptExecutor {
  readonly cache = new ExecutionCache();
  private readonly models: ModelMemory;
  private interruptRequested = false;
  private freeMemoryRequested = false;
  private generation = 0;
  private wakeUp: (() => void) | null = null;
  private runningClientId: string | null = null;
  private runningNode: string | null = null;

  constructor(private readonly deps: ExecutorDeps) {
    this.models = new ModelMemory(deps.timing.modelLoadMs);
  }

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

  /** POST /free {free_memory}: acted on between prompts, like the real worker. */
  requestFreeMemory(): void {
    this.freeMemoryRequested = true;
  }

  /** POST /free {unload_models}: the next prompt loads its models again. */
  requestUnloadModels(): void {
    this.models.requestUnload();
  }

  /** For the reconnect hello: the node running for this client's prompt, if any. */
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
      const control: RunControl = {
        interrupted: () => this.interruptRequested,
        pause: async (ms) => {
          if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
          if (gen !== this.generation) throw new ExecutionAborted();
        },
        setRunningNode: (id) => {
          this.runningNode = id;
        },
        loadModels: async (files) => {
          const load = this.models.load(files);
          this.deps.onModelLoad(load);
          if (load.ms > 0) await control.pause(load.ms);
        },
      };
      // The flag is cleared when the next prompt starts (execution.py:652).
      this.interruptRequested = false;
      const run = new PromptRun(entry, this.deps, this.cache, control);
      this.runningClientId = run.clientId;
      this.deps.onExecutionStart(entry[1]);
      try {
        const historyEntry = await run.execute();
        this.deps.history.put(entry[1], historyEntry);
        this.runningClientId = null;
        this.deps.queue.finishRunning();
        run.finish();
      } catch (error) {
        if (!(error instanceof ExecutionAborted)) throw error;
      }
    }
  }
}
