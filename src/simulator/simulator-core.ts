/**
 * Everything a ComfyUI process holds in memory — queue, history, caches, the `number` counter,
 * sockets — wired together. A restart builds a fresh core over the same folders.
 */
import type { SimulatorStats, FaultState, SimulatorTiming } from './simulator-types.js';
import { PromptQueue } from './prompt-queue.js';
import { HistoryStore } from './history-store.js';
import { SocketHub } from './socket-hub.js';
import { PromptExecutor } from './prompt-executor.js';
import type { OutputFileNamer } from './output-file-namer.js';
import type { NodeCatalog } from './node-catalog.js';
import { PromptValidator } from './prompt-validator.js';
import type { SimDirs } from './file-routes.js';

export interface StatsCounter {
  stats: SimulatorStats;
}

export class SimulatorCore {
  readonly queue: PromptQueue;
  readonly history = new HistoryStore();
  readonly hub: SocketHub;
  readonly executor: PromptExecutor;
  readonly validator: PromptValidator;
  /** server.number: starts at 0 on every start. */
  number = 0;

  constructor(
    readonly catalog: NodeCatalog,
    readonly dirs: SimDirs,
    readonly namer: OutputFileNamer,
    timing: SimulatorTiming,
    readonly faults: FaultState,
    private readonly counter: StatsCounter,
  ) {
    this.queue = new PromptQueue(() => this.queueChanged());
    this.hub = new SocketHub({
      queueRemaining: () => this.queue.remaining(),
      executingNodeFor: (sid) => this.executor.executingNodeFor(sid),
    });
    this.validator = new PromptValidator(catalog, dirs.input);
    this.executor = new PromptExecutor({
      queue: this.queue,
      history: this.history,
      hub: this.hub,
      catalog,
      namer,
      dirs,
      timing,
      faults,
      onModelLoad: (load) => {
        if (load.files.length === 0) return;
        this.counter.stats.modelLoads++;
        this.counter.stats.modelLoadMs += load.ms;
      },
      onExecutionStart: (promptId) => {
        const stats = this.counter.stats;
        stats.executions[promptId] = (stats.executions[promptId] ?? 0) + 1;
        stats.totalExecutions++;
      },
    });
    this.executor.start();
  }

  /** Every queue change broadcasts `status` (server.queue_updated). */
  private queueChanged(): void {
    const remaining = this.queue.remaining();
    const stats = this.counter.stats;
    if (remaining > stats.peakQueueDepth) stats.peakQueueDepth = remaining;
    this.hub.send('status', { status: { exec_info: { queue_remaining: remaining } } }, null);
    this.executor.notify();
  }

  /** The process dies: no more messages, sockets dropped without a close frame. */
  kill(): void {
    this.executor.stop();
    this.queue.reset();
    this.hub.close();
  }
}
