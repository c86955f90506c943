/**
 * Checks a workflow needs no server for: links point at nodes that exist, there is an
 * output node, the required placeholders are there, no unknown token would reach ComfyUI,
 * no cycle. One rule name per problem so callers and tests can tell them apart.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import { placeholderTokens, tokenLikePattern } from './placeholder-tokens.js';
import { scanPlaceholders } from './placeholder-scanner.js';
import { findMisspeltPlaceholders } from './placeholder-spelling.js';
import { isLink, makeReport, type ValidationIssue, type ValidationReport, type WorkflowDefinition } from './workflow-definition.js';
import { inferWorkflowType, isLikelyOutputNode } from './workflow-type-inference.js';

function asDefinition(input: WorkflowDefinition | ApiPrompt): Pick<WorkflowDefinition, 'graph' | 'type' | 'placeholders' | 'metadata'> {
  if ('graph' in input && 'placeholders' in input && typeof (input as WorkflowDefinition).name === 'string') return input as WorkflowDefinition;
  const graph = input as ApiPrompt;
  return { graph, type: inferWorkflowType(graph), placeholders: scanPlaceholders(graph) };
}

export function validateStructure(input: WorkflowDefinition | ApiPrompt): ValidationReport {
  const def = asDefinition(input);
  const errors: ValidationIssue[] = [];
  const warnings: ValidationIssue[] = [];
  const graph = def.graph;

  for (const [nodeId, node] of Object.entries(graph)) {
    for (const [inputName, value] of Object.entries(node.inputs)) {
      if (isLink(value)) {
        const [source, index] = value;
        if (!(String(source) in graph)) {
          errors.push({
            rule: 'link_target_missing',
            nodeId,
            classType: node.class_type,
            input: inputName,
            message: `links to node "${source}", which does not exist`,
          });
        } else if (!Number.isInteger(index) || index < 0) {
          errors.push({
            rule: 'link_output_invalid',
            nodeId,
            classType: node.class_type,
            input: inputName,
            message: `links to output ${index} of node "${source}"; an output index is a whole number from 0`,
          });
        }
      } else if (typeof value === 'string') {
        const misspelt = findMisspeltPlaceholders(value);
        for (const { found, intended } of misspelt) {
          errors.push({
            rule: 'misspelt_placeholder',
            nodeId,
            classType: node.class_type,
            input: inputName,
            message: `"${found}" looks like a misspelling of ${intended}; as written it would reach ComfyUI as text`,
            suggestion: `did you mean "${intended}"?`,
          });
        }
        for (const match of value.matchAll(tokenLikePattern)) {
          if (!placeholderTokens.has(match[0]) && !misspelt.some((m) => m.found === match[0])) {
            errors.push({
              rule: 'unknown_placeholder',
              nodeId,
              classType: node.class_type,
              input: inputName,
              message: `"${match[0]}" looks like a placeholder but is not one chorus-visual fills; it would reach ComfyUI as text`,
              suggestion: `Known placeholders: ${[...placeholderTokens.keys()].join(', ')}`,
            });
          }
        }
      }
    }
  }

  if (!Object.values(graph).some((n) => isLikelyOutputNode(n.class_type))) {
    errors.push({
      rule: 'no_output_node',
      nodeId: null,
      message: 'the workflow has no output node (SaveImage, SaveAnimatedWEBP, SaveAudio, PreviewAny…)',
      suggestion: 'Connect a SaveImage (or another save node) at the end of the graph.',
    });
  }

  const keys = new Set(def.placeholders.map((p) => p.key));
  if (def.type === 'audio') {
    if (!keys.has('text'))
      errors.push({ rule: 'text_placeholder_missing', nodeId: null, message: 'an audio workflow needs __CHORUS_TEXT__ where the text to speak goes' });
  } else if (!keys.has('prompt')) {
    errors.push({
      rule: 'prompt_placeholder_missing',
      nodeId: null,
      message: `an ${def.type} workflow needs PROMPT_PLACEHOLDER (or __CHORUS_PROMPT__) in its positive prompt`,
      suggestion: 'Put PROMPT_PLACEHOLDER as the text of the positive CLIPTextEncode.',
    });
  }
  if (def.type !== 'audio' && !keys.has('seed')) {
    warnings.push({ rule: 'seed_fixed', nodeId: null, message: 'no seed placeholder: every run uses the seed saved in the file' });
  }

  const meta = def.metadata;
  if (meta) {
    const fields = [
      ['prompt_node_id', 'prompt'],
      ['negative_prompt_node_id', 'negative'],
      ['seed_node_id', 'seed'],
    ] as const;
    for (const [field, key] of fields) {
      const id = meta[field];
      if (id === undefined) continue;
      if (!(String(id) in graph)) {
        errors.push({ rule: 'metadata_node_missing', nodeId: String(id), message: `metadata.${field} names node "${id}", which does not exist` });
      } else if (!def.placeholders.some((p) => p.key === key)) {
        errors.push({
          rule: 'metadata_node_unusable',
          nodeId: String(id),
          message: `metadata.${field} names node "${id}", which has no plain ${key} input to fill`,
        });
      }
    }
  }

  const cycle = findCycle(graph);
  if (cycle) errors.push({ rule: 'cycle', nodeId: cycle[0] ?? null, message: `the graph has a cycle: ${cycle.join(' → ')}` });

  return makeReport(errors, warnings, def.placeholders);
}

/**
 * Depth-first search for a cycle with an explicit stack: a long chain (100,000 nodes) must
 * not overflow the call stack of the process that validates it.
 */
function findCycle(graph: ApiPrompt): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const linksOf = (id: string): string[] =>
    Object.values(graph[id]?.inputs ?? {}).flatMap((value) => (isLink(value) && String(value[0]) in graph ? [String(value[0])] : []));
  for (const root of Object.keys(graph)) {
    if (state.has(root)) continue;
    // Each frame: a node on the current path and the links of it not yet followed.
    const path: Array<{ id: string; next: string[] }> = [{ id: root, next: linksOf(root) }];
    state.set(root, 'visiting');
    while (path.length > 0) {
      const frame = path[path.length - 1]!;
      const target = frame.next.pop();
      if (target === undefined) {
        state.set(frame.id, 'done');
        path.pop();
        continue;
      }
      const seen = state.get(target);
      if (seen === 'done') continue;
      if (seen === 'visiting') {
        const ids = path.map((f) => f.id);
        return [...ids.slice(ids.indexOf(target)), target];
      }
      state.set(target, 'visiting');
      path.push({ id: target, next: linksOf(target) });
    }
  }
  return null;
}
