/** What the simulated worker is wired to (the parts of a ComfyUI process it touches). */
import type { HistoryStore } from './history-store.js';
import type { PromptQueue } from './prompt-queue.js';
import type { SocketHub } from './socket-hub.js';
import type { NodeCatalog } from './node-catalog.js';
import type { OutputFileNamer } from './output-file-namer.js';
import type { FaultState, SimulatorTiming } from './simulator-types.js';
import type { ModelLoad } from './model-memory.js';

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
  onModelLoad(load: ModelLoad): void;
}
