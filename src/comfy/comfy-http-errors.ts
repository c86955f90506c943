import { ChorusError, ErrorCode } from '../errors/index.js';
import { nodeErrorsSchema, type PromptRejection } from './protocol/http-schemas.js';

export interface RequestContext {
  backend: string;
  url: string;
  path: string;
  status?: number;
  /** false: the request failed before any of it was written (ComfyUI got nothing); absent: it may have arrived. */
  sent?: false;
}

/** Network failures before a request is written: no connection was ever made. */
const failedBeforeSending = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Connection refused/reset, timeouts and 5xx: ComfyUI is not there right now (recoverable). */
export function unavailableError(context: RequestContext, reason: string, cause?: unknown, recoverable = true): ChorusError {
  const status = context.status === undefined ? '' : ` (HTTP ${context.status})`;
  const code = context.status === undefined ? networkCodeOf(cause) : undefined;
  return new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `ComfyUI ${context.backend} at ${context.url}: ${context.path}${status}: ${reason}`, {
    details: code !== undefined && failedBeforeSending.has(code) ? { ...context, sent: false } : context,
    cause,
    recoverable,
  });
}

/**
 * Whether a POST /prompt that failed (the error thrown, or its stored ErrorData) is known to
 * have sent ComfyUI nothing: the connection was refused (or never made). Any other
 * COMFY_UNAVAILABLE — a timeout or reset after the request was written, a 5xx from a proxy, an
 * answer that could not be read — may have queued the prompt all the same.
 */
export function promptNotSent(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { code, details } = error as { code?: unknown; details?: unknown };
  if (code !== ErrorCode.COMFY_UNAVAILABLE || details === null || typeof details !== 'object') return false;
  const context = details as Partial<RequestContext>;
  return context.path === '/prompt' && context.sent === false;
}

/** Why a network call failed, in words, from undici/Node error codes. */
export function describeNetworkFailure(error: unknown): string {
  const code = networkCodeOf(error);
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'request timed out';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code?.startsWith('UND_ERR_') && code.endsWith('TIMEOUT')) return 'request timed out';
  return error instanceof Error ? error.message : String(error);
}

function networkCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth += 1) {
    if ('code' in current && typeof current.code === 'string') return current.code;
    current = 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

export interface NodeErrorSummary {
  node_id: string;
  class_type: string | null;
  errors: { type: string; message: string; details: string; input_name: string | null }[];
}

/** `ckpt_name: 'x' not in [...]` → `'x' not in [...]` when the input name is already shown. */
function detailsWithoutInputName(details: string, inputName: string | null): string {
  if (!inputName) return details;
  if (details === inputName) return '';
  for (const separator of [': ', ', ']) {
    if (details.startsWith(inputName + separator)) return details.slice(inputName.length + separator.length);
  }
  return details;
}

export function summariseNodeErrors(rejection: Pick<PromptRejection, 'node_errors'>): NodeErrorSummary[] {
  return Object.entries(rejection.node_errors).map(([nodeId, nodeError]) => ({
    node_id: nodeId,
    class_type: nodeError.class_type ?? null,
    errors: nodeError.errors.map((item) => {
      const inputName = item.extra_info?.['input_name'];
      return {
        type: item.type,
        message: item.message,
        details: typeof item.details === 'string' ? item.details : item.details === undefined ? '' : JSON.stringify(item.details),
        input_name: typeof inputName === 'string' ? inputName : null,
      };
    }),
  }));
}

/** e.g. `node 4 (CheckpointLoaderSimple): ckpt_name: Value not in list: 'x.safetensors' not in []`. */
export function describeNode(node: NodeErrorSummary): string {
  const label = node.class_type ? `node ${node.node_id} (${node.class_type})` : `node ${node.node_id}`;
  const reasons = node.errors.map((item) => {
    const details = detailsWithoutInputName(item.details, item.input_name);
    const head = item.input_name ? `${item.input_name}: ${item.message}` : item.message;
    return details ? `${head}: ${details}` : head;
  });
  return `${label}: ${reasons.join('; ') || 'invalid'}`;
}

/** POST /prompt answered 400: the workflow does not validate on this server. */
export function promptRejectedError(rejection: PromptRejection, context: RequestContext): ChorusError {
  const nodes = summariseNodeErrors(rejection);
  const reason =
    nodes.length > 0
      ? nodes.map(describeNode).join('; ')
      : [rejection.error.message, typeof rejection.error.details === 'string' ? rejection.error.details : ''].filter(Boolean).join(': ');
  return new ChorusError(ErrorCode.WORKFLOW_NODE_ERROR, `ComfyUI ${context.backend} rejected the prompt: ${reason}`, {
    details: {
      error: {
        type: rejection.error.type,
        message: rejection.error.message,
        details: rejection.error.details ?? '',
        extra_info: rejection.error.extra_info ?? {},
      },
      node_errors: rejection.node_errors,
      nodes,
    },
  });
}

/**
 * POST /prompt answered 200 with `node_errors`: ComfyUI dropped the outputs that depend on
 * those nodes and runs the others (shared/comfyui-protocol.md §3, transcript 05's last case).
 * The workflow is broken all the same, so the caller withdraws the prompt and fails as for a
 * 400 — not later as NO_OUTPUT (or with fewer files) once the rest has run.
 */
export function partialAcceptanceError(nodeErrors: Record<string, unknown>, context: { backend: string; promptId: string; withdrawn: boolean }): ChorusError {
  const parsed = nodeErrorsSchema.safeParse(nodeErrors);
  const nodes = parsed.success ? summariseNodeErrors({ node_errors: parsed.data }) : [];
  const dropped = parsed.success ? [...new Set(Object.values(parsed.data).flatMap((node) => node.dependent_outputs ?? []))].sort() : [];
  const which = dropped.length > 0 ? `output node${dropped.length === 1 ? '' : 's'} ${dropped.join(', ')}` : 'some outputs';
  const reason = nodes.map(describeNode).join('; ') || JSON.stringify(nodeErrors).slice(0, 500);
  const { backend, promptId, withdrawn } = context;
  return new ChorusError(
    ErrorCode.WORKFLOW_NODE_ERROR,
    `ComfyUI ${backend} dropped ${which} of the prompt as invalid${withdrawn ? ' (the rest was withdrawn)' : ''}: ${reason}`,
    { details: { prompt_id: promptId, withdrawn, dropped_outputs: dropped, node_errors: nodeErrors, nodes } },
  );
}
