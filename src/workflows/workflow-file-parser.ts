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

export function parseWorkflowJson(name: string, path: string, json: unknown, objectInfo?: ObjectInfo): WorkflowDefinition {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(`Workflow "${name}" is not a JSON object of nodes.`, { workflow: name });
  }
  let source = json as Record<string, unknown>;
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
      throw invalid(`Workflow "${name}": "${key}" is not a node with class_type and inputs.`, { workflow: name, nodeId: key, problem: z.prettifyError(node.error) });
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
