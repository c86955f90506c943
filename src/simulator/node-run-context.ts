/**
 * What a simulated node gets from the executor, and what it gives back. Nodes do not see
 * sockets: they report progress through `tick`, which is also where interrupts land.
 */
import type { OutputFileNamer } from './output-file-namer.js';

export interface NodeRunContext {
  nodeId: string;
  classType: string;
  /** Inputs with links resolved to upstream values. */
  inputs: Record<string, unknown>;
  /** Cache signature of this node (class + inputs + upstream), stable across runs. */
  signature: string;
  dirs: { output: string; input: string; temp: string };
  namer: OutputFileNamer;
  defaultSteps: number;
  /** Random 5-letter suffix of this run's PreviewImage files (ComfyUI_temp_xxxxx_). */
  tempSuffix: string;
  /** One progress step: checks the interrupt flag, sends progress/progress_state/preview. */
  tick(value: number, max: number, withPreview?: boolean): Promise<void>;
  /** Binary progress-text frame (event 3), broadcast like the real server does. */
  sendText(text: string): void;
}

export interface NodeResult {
  outputs: unknown[];
  /** The node's UI dict (sent in `executed`, kept in history); null = none. */
  ui: Record<string, unknown> | null;
}

export type NodeHandler = (ctx: NodeRunContext) => Promise<NodeResult>;

/** A failure inside a node, reported as execution_error with these fields. */
export class NodeExecutionError extends Error {
  constructor(
    readonly exceptionType: string,
    readonly exceptionMessage: string,
    readonly traceback: string[] = [],
  ) {
    super(exceptionMessage);
  }
}

export function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

export function str(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
