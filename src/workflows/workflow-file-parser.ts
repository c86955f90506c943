/**
 * Turns the JSON of one workflow file into a WorkflowDefinition. API format is read as it
 * is; UI format is converted when a backend's /object_info is at hand, refused otherwise.
 */
import { z } from 'zod';
import type { ApiPrompt } from '../comfy/backend-port.js';
import { ChorusError } from '../errors/index.js';
import type { ObjectInfo } from './object-info-spec.js';
import { scanPlaceholders } from './placeholder-scanner.js';
import { convertUiToApi, exportApiFormatHint, isUiFormat } from './ui-format-converter.js';
import type { WorkflowDefinition, WorkflowMetadata } from './workflow-definition.js';
import { readWorkflowFacts } from './workflow-facts-reader.js';
import { inferWorkflowType } from './workflow-type-inference.js';

const apiNodeSchema = z.looseObject({
  class_type: z.string().min(1),
  inputs: z.record(z.string(), z.unknown()),
  _meta: z.record(z.string(), z.unknown()).optional(),
});

const metadataSchema = z.looseObject({
  type: z.enum(['image', 'video', 'audio']).optional(),
  description: z.string().optional(),
  prompt_node_id: z.coerce.string().optional(),
  negative_prompt_node_id: z.coerce.string().optional(),
  seed_node_id: z.coerce.string().optional(),
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function invalid(message: string, details: Record<string, unknown>, suggestion?: string): ChorusError {
  return new ChorusError('WORKFLOW_INVALID', message, { details, ...(suggestion ? { suggestion } : {}) });
}

/** The other keys of ComfyUI's POST /prompt body; anything else means it is not one. */
const promptBodyKeys = new Set(['prompt', 'client_id', 'extra_data', 'prompt_id', 'number', 'front', 'partial_execution_targets']);

/**
 * Chorus Engine stores workflows as the `/prompt` body, `{"prompt": {…nodes…}, "client_id"?,
 * "extra_data"?}`, and unwraps them before sending; so do we. A graph with a node whose id
 * is "prompt" has `class_type` there and is left alone.
 */
function unwrapPromptBody(json: Record<string, unknown>): Record<string, unknown> {
  const inner = json['prompt'];
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner) || 'class_type' in inner) return json;
  if (!Object.keys(json).every((key) => promptBodyKeys.has(key))) return json;
  return inner as Record<string, unknown>;
}

export function parseWorkflowJson(name: string, path: string, json: unknown, objectInfo?: ObjectInfo): WorkflowDefinition {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(`Workflow "${name}" is not a JSON object of nodes.`, { workflow: name });
  }
  let source = unwrapPromptBody(json as Record<string, unknown>);
  let convertedFromUi = false;
  if (isUiFormat(json)) {
    if (!objectInfo) {
      throw invalid(`Workflow "${name}" is in ComfyUI's UI format; chorus-visual needs the API format.`, { workflow: name, format: 'ui' }, exportApiFormatHint);
    }
    source = convertUiToApi(json, objectInfo);
    convertedFromUi = true;
  }

  const graph: ApiPrompt = {};
  let metadata: WorkflowMetadata | undefined;
  for (const [key, value] of Object.entries(source)) {
    if (key === 'metadata' && !(value && typeof value === 'object' && 'class_type' in value)) {
      const parsed = metadataSchema.safeParse(value);
      if (!parsed.success) throw invalid(`Workflow "${name}": the metadata block is malformed: ${z.prettifyError(parsed.error)}`, { workflow: name, key });
      metadata = parsed.data as WorkflowMetadata;
      continue;
    }
    const node = apiNodeSchema.safeParse(value);
    if (!node.success) {
      throw invalid(`Workflow "${name}": "${key}" is not a node with class_type and inputs.`, {
        workflow: name,
        nodeId: key,
        problem: z.prettifyError(node.error),
      });
    }
    graph[key] = node.data;
  }
  if (Object.keys(graph).length === 0) throw invalid(`Workflow "${name}" has no nodes.`, { workflow: name });

  deepFreeze(graph);
  const definition: WorkflowDefinition = {
    name,
    path,
    type: metadata?.type ?? inferWorkflowType(graph),
    graph,
    placeholders: scanPlaceholders(graph, metadata),
    facts: readWorkflowFacts(graph),
  };
  if (metadata) definition.metadata = metadata;
  if (convertedFromUi) definition.convertedFromUi = true;
  return definition;
}
