/**
 * Errors are data in the machine: whatever an actor threw becomes an ErrorData value.
 * Pure (duck-typed on ChorusError's shape) so the machine imports no runtime code.
 */
import type { ErrorCode, ErrorData, ExecutionFailure } from '../src/contracts/index.js';

function hasErrorShape(value: unknown): value is { code: ErrorCode; message: string; recoverable: boolean; details?: unknown; suggestion?: string } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['code'] === 'string' && typeof v['message'] === 'string' && typeof v['recoverable'] === 'boolean';
}

export function errorDataOf(error: unknown, fallback: ErrorCode): ErrorData {
  if (hasErrorShape(error)) {
    const data: ErrorData = { code: error.code, message: error.message, recoverable: error.recoverable };
    if (error.details !== undefined) data.details = error.details;
    if (error.suggestion !== undefined) data.suggestion = error.suggestion;
    return data;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: fallback, message, recoverable: false };
}

export function executionErrorData(failure: ExecutionFailure): ErrorData {
  const where = failure.nodeId === null ? '' : ` in node ${failure.nodeId}${failure.nodeType ? ` (${failure.nodeType})` : ''}`;
  return {
    code: 'EXECUTION_ERROR',
    message: `ComfyUI failed${where}: ${failure.exceptionMessage}`,
    recoverable: true,
    details: failure,
    suggestion: "Read the node's exception in details; the ComfyUI console has the full traceback.",
  };
}

export function interruptedElsewhereData(nodeId: string | null): ErrorData {
  return {
    code: 'EXECUTION_ERROR',
    message: 'ComfyUI interrupted the prompt (not at our request)',
    recoverable: true,
    details: { nodeId },
    suggestion: 'Someone interrupted it in ComfyUI; submit the job again.',
  };
}

/** `0.5 s`, `300 s`: the configured limit as written, not rounded to a misleading whole. */
function secondsText(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

export function generationTimeoutData(timeoutMs: number, hard: boolean): ErrorData {
  return {
    code: 'GENERATION_TIMEOUT',
    message: `generation took longer than ${secondsText(timeoutMs)}${hard ? ' (hard limit)' : ''}; the prompt was interrupted`,
    recoverable: true,
    details: { timeoutMs },
    suggestion: 'Try reducing steps or using a faster model, or raise comfyui.timeout_seconds.',
  };
}

export function queueWaitTimeoutData(timeoutMs: number): ErrorData {
  return {
    code: 'QUEUE_WAIT_TIMEOUT',
    message: `the job waited more than ${secondsText(timeoutMs)} for ComfyUI to start it`,
    recoverable: true,
    details: { timeoutMs },
    suggestion: 'The job waited too long for a free ComfyUI slot; add backends or raise comfyui.queue_wait_timeout_seconds.',
  };
}

export function comfyLostData(resubmits: number): ErrorData {
  return {
    code: 'COMFY_LOST',
    message: `ComfyUI forgot the prompt and it was already submitted again ${resubmits} time(s)`,
    recoverable: true,
    details: { resubmits },
    suggestion: 'ComfyUI restarted and forgot the prompt; submit the job again.',
  };
}
