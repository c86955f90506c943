/**
 * The simulator's public contract. Other modules (client tests, demo, benchmarks) code against
 * exactly these names, so they live apart from the server that implements them.
 */
export interface SimulatorOptions {
  port?: number; // 0 or undefined = a free port
  host?: string; // default 127.0.0.1
  outputDir?: string; // ComfyUI's output folder; default: a new temp dir (input/ and temp/ beside it)
  stepDelayMs?: number; // delay per sampler step / progress tick (default 5)
  nodeDelayMs?: number; // delay per executed node (default 1)
  defaultSteps?: number; // progress ticks for a sampler-like node without a steps input (default 4)
  /** Binary preview frames on sampler steps (like `--preview-method auto`); default true. */
  previews?: boolean;
  /**
   * Model-load delay in ms per model file, `*` for any file not named: paid when a prompt's
   * model files differ from the previous prompt's on this server (or after `POST /free
   * {unload_models}`). Default: none, loading is free.
   */
  modelLoadMs?: Record<string, number>;
}

export interface SimulatorStats {
  executions: Record<string, number>; // prompt_id -> times execution_start was sent for it
  totalExecutions: number;
  peakQueueDepth: number; // max(running + pending) ever seen
  submissions: number; // accepted POST /prompt count
  modelLoads: number; // prompts that had to load at least one model file (model swaps)
  modelLoadMs: number; // total model-load delay paid
  frees: number; // POST /free requests
}

export interface SimulatorFaults {
  dropSocketsSilently(): void;
  closeSockets(): void;
  refuseConnections(on: boolean): void;
  failHttp(status: number | null, paths?: string[]): void;
  /** Delays answers on these paths (bare or /api form; all when omitted). */
  slowHttp(ms: number, paths?: string[]): void;
  succeedWithoutOutputs(on: boolean): void;
  failNodeClass(classType: string | null): void;
  executionDelayMs(ms: number): void;
  /**
   * While on, a running prompt stays at its node (each of them, when it starts) until this is
   * turned off: a run as long as a test needs, ended when the test says so. An interrupt or a
   * restart still ends it.
   */
  holdExecution(on: boolean): void;
  /**
   * Another client opens a socket with this clientId, then closes it (transcript 09): the
   * server forgets the id, so the original socket stays open but hears nothing again.
   */
  takeOverClientId(clientId: string): Promise<void>;
}

export interface SimulatorHandle {
  url: string;
  port: number;
  outputDir: string;
  inputDir: string;
  faults: SimulatorFaults;
  stats(): SimulatorStats;
  /** Like a ComfyUI restart: queue, history, caches and `number` lost; sockets dropped without a
   *  close frame; output/ and input/ files kept; the same port serves again when it resolves. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The mutable fault switches, read by the HTTP layer, the socket hub and the executor. */
export interface FaultState {
  refuseConnections: boolean;
  failHttpStatus: number | null;
  failHttpPaths: string[] | null;
  slowHttpMs: number;
  slowHttpPaths: string[] | null;
  succeedWithoutOutputs: boolean;
  failNodeClass: string | null;
  executionDelayMs: number;
  holdExecution: boolean;
}

export function initialFaultState(): FaultState {
  return {
    refuseConnections: false,
    failHttpStatus: null,
    failHttpPaths: null,
    slowHttpMs: 0,
    slowHttpPaths: null,
    succeedWithoutOutputs: false,
    failNodeClass: null,
    executionDelayMs: 0,
    holdExecution: false,
  };
}

export interface SimulatorTiming {
  stepDelayMs: number;
  nodeDelayMs: number;
  defaultSteps: number;
  previews: boolean;
  modelLoadMs: Record<string, number>;
}
