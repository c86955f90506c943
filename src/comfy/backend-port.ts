/**
 * What the rest of chorus-visual needs from one ComfyUI server. `src/comfy/` implements it
 * over HTTP + WebSocket (+ /history polling as the fallback); tests may swap in fakes.
 * The job actors depend on this interface only, never on undici or ws.
 */
import type { Readable } from 'node:stream';
import type { ApiPrompt, ExecutionFailure, OutputFileRef } from '../contracts/comfy-prompt.js';

export type { ApiNode, ApiPrompt, ExecutionFailure, OutputFileRef } from '../contracts/comfy-prompt.js';

/** ComfyUI's raw UI outputs of a prompt, keyed by node id. */
export type PromptOutputs = Record<string, Record<string, unknown>>;

/** How the end of a prompt was learned: its socket messages, or the /queue + /history fallback. */
/** `restore`: a restarted service found the prompt already finished in /history. */
export type OutcomeSource = 'socket' | 'poll' | 'restore';

/** Typed events of one prompt, whether they came from the socket or from polling. */
export type PromptEvent =
  | { type: 'queued'; promptId: string; position: number }
  | { type: 'started'; promptId: string; at: number }
  | { type: 'cached'; promptId: string; nodes: string[] }
  | { type: 'executing'; promptId: string; node: string }
  | { type: 'progress'; promptId: string; node: string | null; value: number; max: number }
  | { type: 'executed'; promptId: string; node: string; output: Record<string, unknown> | null }
  | { type: 'preview'; promptId: string; node: string | null; mediaType: string; bytes: Buffer }
  /** `ranMs`: execution_start → execution_success in ComfyUI's history (its own clock), when both are there. */
  | { type: 'succeeded'; promptId: string; outputs: PromptOutputs; files: OutputFileRef[]; at: number; ranMs?: number; via?: OutcomeSource }
  | { type: 'failed'; promptId: string; failure: ExecutionFailure; outputs: PromptOutputs; at: number; via?: OutcomeSource }
  | { type: 'interrupted'; promptId: string; nodeId: string | null; at: number; via?: OutcomeSource }
  /** In neither /queue nor /history: the server restarted (or was cleared) and forgot it. */
  | { type: 'lost'; promptId: string };

export type PromptLocation =
  | { where: 'running' }
  | { where: 'pending'; position: number }
  | { where: 'history'; outcome: Extract<PromptEvent, { type: 'succeeded' | 'failed' | 'interrupted' }> }
  | { where: 'absent' };

export interface SubmitRequest {
  /** Chosen by us and stored before sending (crash-safety rule 1). */
  promptId: string;
  prompt: ApiPrompt;
  /** Rides in `extra_data.chorus_job_id`; /queue and /history echo it. */
  jobId: string;
  front?: boolean;
}

export interface SubmitResult {
  /** The id ComfyUI runs it under (older servers ignore ours and choose their own). */
  promptId: string;
  number: number;
}

export interface PromptWatch {
  stop(): void;
}

export interface BackendHealth {
  name: string;
  url: string;
  healthy: boolean;
  socket: 'open' | 'connecting' | 'closed';
  lastError?: string;
  comfyuiVersion?: string;
  queueRemaining?: number;
  checkedAt?: number;
  /** Times the socket was found deaf (open, but silent about our prompts) and reopened. */
  socketHeals?: number;
}

export interface UploadedImage {
  name: string;
  subfolder: string;
  type: string;
}

export interface ComfyBackend {
  readonly name: string;
  readonly url: string;
  readonly maxConcurrent: number;
  /**
   * Throws ChorusError COMFY_UNAVAILABLE (recoverable) or WORKFLOW_NODE_ERROR: refused (400),
   * or accepted with some outputs dropped as invalid (200 with node_errors), then withdrawn.
   * A COMFY_UNAVAILABLE may have queued the prompt unless `promptNotSent` says it sent nothing
   * (connection refused): a retry of the same prompt id looks it up first.
   */
  submit(request: SubmitRequest): Promise<SubmitResult>;
  /**
   * Streams the prompt's events to `onEvent` until a terminal one (succeeded, failed,
   * interrupted, lost). Safe to call before or after submit, and again after a restart:
   * events that arrived before the call are replayed, and a prompt that already finished
   * is reported from /history. Never ends silently: when the socket is down or quiet it
   * polls /history and /queue.
   */
  watch(promptId: string, onEvent: (event: PromptEvent) => void): PromptWatch;
  locate(promptId: string): Promise<PromptLocation>;
  /** Removes a pending prompt from ComfyUI's queue; a no-op for others. */
  deleteFromQueue(promptId: string): Promise<void>;
  /** Interrupts this prompt only if it is the running one (never a global interrupt). */
  interrupt(promptId: string): Promise<void>;
  /**
   * POST /free {unload_models, free_memory}: acted on by ComfyUI after its running prompt, so
   * another program (the chat LLM) may have the GPU. Optional: fakes without it are never freed.
   */
  freeMemory?(): Promise<void>;
  /** GET /view as a stream. Throws OUTPUT_FILE_NOT_FOUND on 404, COMFY_UNAVAILABLE otherwise. */
  download(file: Pick<OutputFileRef, 'filename' | 'subfolder' | 'type'>): Promise<Readable>;
  uploadImage(bytes: Uint8Array, filename: string, options?: { overwrite?: boolean }): Promise<UploadedImage>;
  objectInfo(): Promise<Record<string, unknown>>;
  health(): BackendHealth;
  /**
   * Optional: tells when `health()` changes (healthy flag or socket state), so a pool can react
   * at once. Returns the unsubscribe function. Backends without it are read through `health()`.
   */
  onHealthChange?(listener: (health: BackendHealth) => void): () => void;
  close(): Promise<void>;
}
