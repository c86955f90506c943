/**
 * Types of the job machine: its input, context, events and the inputs/outputs of the
 * actors `src/jobs/` provides. Types only — the machine stays importable anywhere.
 */
import type { ApiPrompt, ErrorData, ExecutionFailure, JobProgress, JobResult, OutputFileRef } from '../src/contracts/index.js';

export type { JobProgress };

/** What the caller asked for, as admitted (already validated). */
export interface JobRequest {
  conversationId: string;
  workflow: string;
  character: string | null;
  userRequest: string | null;
  activity: string | null;
  /** A finished visual prompt from the caller (used as is). */
  prompt: string | null;
  negativePrompt: string | null;
  seed: number | null;
  priority: number;
  strictLlm: boolean;
  parameters: { steps?: number; cfg?: number; width?: number; height?: number };
}

/** Limits from config, frozen into the job at admission so a restore keeps its rules. */
export interface JobLimits {
  generationTimeoutMs: number;
  /** When set, the generation timeout only marks the job overdue; this one fails it. */
  hardTimeoutMs: number | null;
  queueWaitTimeoutMs: number;
  /** Total submission tries on COMFY_UNAVAILABLE (`connection_retry_attempts`). */
  submitAttempts: number;
  /** Seconds base of the backoff: `backoff ^ failures` seconds (`connection_retry_backoff`). */
  submitBackoff: number;
  maxResubmits: number;
  /** How long to wait for ComfyUI to confirm an interrupt before giving up on it. */
  cancelConfirmMs: number;
}

export interface JobMachineInput {
  jobId: string;
  /** Chosen by us and stored before anything is sent (crash-safety rule 1). */
  promptId: string;
  /** Admission time, ms since epoch (our clock). */
  createdAt: number;
  request: JobRequest;
  limits: JobLimits;
}

/** The visual prompt and the ComfyUI graph it was injected into. */
export interface ComposedJobPrompt {
  prompt: string;
  negative: string | null;
  seed: number | null;
  source: string;
  apiPrompt: ApiPrompt;
  /** Debug facts (prompt components, injected parameters, LoRAs, LLM exchange…). */
  debug: Record<string, unknown>;
  /** Model files the graph loads (checkpoint, UNet, CLIP, VAE, LoRAs): the scheduler's affinity key. */
  models?: string[];
}

/** Which GPU handoff steps the granted backend asks for (absent or null: handoff off). */
export interface GpuHandoffPlan {
  freeLlm: boolean;
  freeComfy: boolean;
}

/**
 * One GPU handoff step as it happened. A failed unload is a warning, never the job's error:
 * `detail` says why (or why it was skipped: freed already for this burst, backend still busy).
 */
export interface GpuHandoffStep {
  step: 'llm_unload' | 'comfy_free';
  outcome: 'done' | 'skipped' | 'joined' | 'failed';
  backend: string;
  /** When the step started (ms since epoch, our clock) and how long it took. */
  at: number;
  ms: number;
  detail: string | null;
}

export interface JobContext extends JobMachineInput {
  composed: ComposedJobPrompt | null;
  backend: string | null;
  /** Submissions tried (every POST /prompt, including retries and resubmits). */
  attempts: number;
  /** Consecutive COMFY_UNAVAILABLE failures of the current submission. */
  submitFailures: number;
  resubmits: number;
  queuePosition: number | null;
  /** Absolute deadline (ms) for our queue + ComfyUI's queue. */
  queueWaitDeadline: number;
  startedAt: number | null;
  /** Absolute deadlines counted from ComfyUI's execution start. */
  generationDeadline: number | null;
  hardDeadline: number | null;
  progress: JobProgress | null;
  outputs: OutputFileRef[];
  result: JobResult | null;
  error: ErrorData | null;
  /** A cancel that arrived while the outcome of an I/O step was unknown. */
  cancelRequested: boolean;
  /** GPU handoff asked for by the granted backend, and the steps taken (debug document). */
  handoff?: GpuHandoffPlan | null;
  handoffSteps?: GpuHandoffStep[];
  affinity?: SlotAffinity | null;
  /**
   * Every submission ComfyUI accepted, oldest first: the timing breakdown counts from the
   * first and explains the others. Absent in snapshots stored before it existed.
   */
  runs?: ComfyRun[];
}

/** How a run ended for the job; null while it is ComfyUI's (or when the job left it otherwise). */
export type ComfyRunOutcome = 'succeeded' | 'failed' | 'interrupted' | 'lost';

/** One prompt ComfyUI accepted for the job. Times are ms since epoch, our clock. */
export interface ComfyRun {
  promptId: string;
  backend: string;
  submittedAt: number;
  /** First seen executing; null: never seen running (all cached, lost first, or started while the service was down). */
  startedAt: number | null;
  /** When its outcome (or its loss) reached the job. */
  endedAt: number | null;
  outcome: ComfyRunOutcome | null;
  /** ComfyUI's own execution time (execution_start → execution_success on its clock), when it said. */
  ranMs: number | null;
  /** The outcome was found in ComfyUI's history by a restarted service, not seen as it happened. */
  foundLate: boolean;
}

/** Events from ComfyUI (via watchPrompt) and from callers. `at` is our clock. */
export type JobEvent =
  | { type: 'job.cancel' }
  | { type: 'comfy.queued'; position: number }
  | { type: 'comfy.started'; at: number }
  | { type: 'comfy.progress'; at: number; value: number; max: number; node: string | null }
  /** `ranMs`: ComfyUI's own execution time; `foundLate`: read from its history by a restarted service. */
  | { type: 'comfy.succeeded'; at: number; files: OutputFileRef[]; ranMs?: number | null; foundLate?: boolean }
  | { type: 'comfy.failed'; at: number; failure: ExecutionFailure }
  | { type: 'comfy.interrupted'; at: number; nodeId: string | null }
  /** ComfyUI forgot the prompt; the watcher picks the id a resubmission will use. */
  | { type: 'comfy.lost'; at: number; nextPromptId: string };

export interface ComposePromptInput {
  jobId: string;
  request: JobRequest;
}
export interface AcquireSlotInput {
  jobId: string;
  priority: number;
  /** The job's model files, so a backend that holds them may take it first (affinity). */
  models: string[];
}
export interface AcquireSlotOutput {
  backend: string;
  handoff?: GpuHandoffPlan | null;
  affinity?: SlotAffinity | null;
}
/** How model affinity granted the slot (debug document). */
export interface SlotAffinity {
  /** The backend's last prompt used the same model files: no model swap. */
  matched: boolean;
  /** Older waiters this job went ahead of. */
  wentAhead: number;
  /** Times younger waiters went ahead of this job (at most `affinity_max_skip`). */
  passedOver: number;
}
export interface GpuHandoffInput {
  jobId: string;
  backend: string;
}
export interface SubmitPromptInput {
  jobId: string;
  promptId: string;
  backend: string;
  prompt: ApiPrompt;
}
export interface SubmitPromptOutput {
  /** The id ComfyUI runs it under (older servers choose their own). */
  promptId: string;
  number: number;
  /** When ComfyUI accepted it (or it was found there after a restart), our clock. */
  at: number;
}
export interface PromptRef {
  jobId: string;
  promptId: string;
  backend: string;
}
export interface CollectOutputsInput extends PromptRef {
  conversationId: string;
  files: OutputFileRef[];
  /** What the metadata sidecar records of the composition (not the graph: inputs are stored with every snapshot). */
  composed: Pick<ComposedJobPrompt, 'prompt' | 'negative' | 'seed' | 'source'> | null;
  workflow: string;
}
export interface WaitUntilInput {
  /** Absolute time (ms since epoch, our clock). */
  at: number;
}
export interface WaitForInput {
  ms: number;
}
