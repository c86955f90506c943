import type { PromptEvent, PromptOutputs } from './backend-port.js';
import type { HistoryEntry } from './protocol/http-schemas.js';
import { executionErrorDataSchema, executionInterruptedDataSchema, type ExecutionErrorData } from './protocol/ws-message-schemas.js';
import { outputFilesOf } from './output-files.js';

export type TerminalEvent = Extract<PromptEvent, { type: 'succeeded' | 'failed' | 'interrupted' }>;

/** A history entry's outputs without the `null`s a node with no UI output may leave. */
export function outputsOf(entry: HistoryEntry): PromptOutputs {
  const outputs: PromptOutputs = {};
  for (const [nodeId, output] of Object.entries(entry.outputs)) if (output) outputs[nodeId] = output;
  return outputs;
}

function findMessage(entry: HistoryEntry, type: string): unknown {
  return entry.status?.messages.find((message) => message[0] === type)?.[1];
}

function timestampOf(data: unknown): number | undefined {
  if (data && typeof data === 'object' && 'timestamp' in data && typeof data.timestamp === 'number') return data.timestamp;
  return undefined;
}

export function failureOf(data: ExecutionErrorData): Extract<TerminalEvent, { type: 'failed' }>['failure'] {
  const failure: Extract<TerminalEvent, { type: 'failed' }>['failure'] = {
    nodeId: data.node_id ?? null,
    nodeType: data.node_type ?? null,
    exceptionType: data.exception_type ?? null,
    exceptionMessage: (data.exception_message ?? 'ComfyUI reported an execution error').trim(),
  };
  if (data.traceback) failure.traceback = data.traceback;
  return failure;
}

const notFound = { success: false } as const;

/**
 * How a finished prompt ended, read from its history entry. The status messages say why it
 * ended (error vs interrupt both have `status_str: "error"`); servers from before 2024 have
 * no `status` at all, and an entry there means the prompt completed.
 */
export function outcomeFromHistory(promptId: string, entry: HistoryEntry, now: number = Date.now()): TerminalEvent {
  const outputs = outputsOf(entry);
  // No such message (every successful prompt): nothing to parse (zod would only build an error to say so).
  const interruptData = findMessage(entry, 'execution_interrupted');
  const interrupted = interruptData === undefined ? notFound : executionInterruptedDataSchema.safeParse(interruptData);
  if (interrupted.success) {
    return { type: 'interrupted', promptId, nodeId: interrupted.data.node_id ?? null, at: interrupted.data.timestamp ?? now };
  }
  const errorData = findMessage(entry, 'execution_error');
  const failed = errorData === undefined ? notFound : executionErrorDataSchema.safeParse(errorData);
  if (failed.success) {
    return { type: 'failed', promptId, failure: failureOf(failed.data), outputs, at: failed.data.timestamp ?? now };
  }
  if (entry.status && entry.status.status_str === 'error') {
    const failure = { nodeId: null, nodeType: null, exceptionType: null, exceptionMessage: 'ComfyUI marked the prompt as failed without details' };
    return { type: 'failed', promptId, failure, outputs, at: now };
  }
  const at = timestampOf(findMessage(entry, 'execution_success'));
  const startedAt = timestampOf(findMessage(entry, 'execution_start'));
  // Both stamps are ComfyUI's clock: their difference is exact whatever its skew from ours.
  const ran = at !== undefined && startedAt !== undefined && at >= startedAt ? { ranMs: at - startedAt } : {};
  return { type: 'succeeded', promptId, outputs, files: outputFilesOf(outputs), at: at ?? now, ...ran };
}
