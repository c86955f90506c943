/**
 * The ComfyUI facts a job carries through its life (the graph it sends, the files it gets
 * back, the failure it may report). Here rather than in src/comfy so that the machine and
 * the collector can name them without depending on the ComfyUI client.
 */

/** A ComfyUI API-format graph: `{ nodeId: { class_type, inputs, _meta? } }`. */
export type ApiPrompt = Record<string, ApiNode>;
export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** One file ComfyUI reported in a node's UI output (`images`, `gifs`, `audio`, …). */
export interface OutputFileRef {
  nodeId: string;
  /** The output key it was listed under; informative only — classify by file type. */
  key: string;
  filename: string;
  subfolder: string;
  /** `output`, `temp` (previews) or `input`. */
  type: string;
  /** `animated: [true]` beside the list (video and animated images). */
  animated?: boolean;
}

export interface ExecutionFailure {
  nodeId: string | null;
  nodeType: string | null;
  exceptionType: string | null;
  exceptionMessage: string;
  traceback?: string[];
}
