/**
 * Finds where a graph takes injected values: token strings in node inputs, plus the nodes
 * a Chorus Engine `metadata` block names when the graph has no token for that value.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import { knownTokenPattern, placeholderTokens, type InjectionKey } from './placeholder-tokens.js';
import type { PlaceholderUse, WorkflowMetadata } from './workflow-definition.js';

export function scanPlaceholders(graph: ApiPrompt, metadata?: WorkflowMetadata): PlaceholderUse[] {
  const uses: PlaceholderUse[] = [];
  for (const [nodeId, node] of Object.entries(graph)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (typeof value !== 'string') continue;
      const exact = placeholderTokens.get(value);
      if (exact) {
        uses.push({ token: exact.token, key: exact.key, nodeId, input, kind: 'exact' });
        continue;
      }
      for (const match of value.matchAll(knownTokenPattern)) {
        const token = placeholderTokens.get(match[0]);
        if (token) uses.push({ token: token.token, key: token.key, nodeId, input, kind: 'embedded' });
      }
    }
  }
  if (metadata) uses.push(...metadataUses(graph, metadata, uses));
  return uses;
}

/** Input names that carry the value, most likely first. */
const metadataInputs: Partial<Record<InjectionKey, string[]>> = {
  prompt: ['text', 'prompt', 'value', 'text_g', 'positive'],
  negative: ['text', 'prompt', 'value', 'text_g', 'negative'],
  seed: ['seed', 'noise_seed', 'value'],
};

function metadataUses(graph: ApiPrompt, metadata: WorkflowMetadata, existing: PlaceholderUse[]): PlaceholderUse[] {
  const named: [InjectionKey, string | undefined][] = [
    ['prompt', metadata.prompt_node_id],
    ['negative', metadata.negative_prompt_node_id],
    ['seed', metadata.seed_node_id],
  ];
  const uses: PlaceholderUse[] = [];
  for (const [key, nodeId] of named) {
    // A token always wins over the older block: the file's author put it there on purpose.
    if (nodeId === undefined || existing.some((u) => u.key === key)) continue;
    const node = graph[String(nodeId)];
    const input = node && metadataInputs[key]?.find((name) => name in node.inputs && !Array.isArray(node.inputs[name]));
    // An unusable block entry is reported by validation (rule metadata_node), not here.
    if (input) uses.push({ token: null, key, nodeId: String(nodeId), input, kind: 'metadata' });
  }
  return uses;
}
