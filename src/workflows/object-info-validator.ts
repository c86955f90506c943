/**
 * Checks a graph against one server's `/object_info`: classes exist, required inputs are
 * present, links feed the right types from real outputs, widget values are allowed (model
 * and LoRA names above all, with the closest names suggested), placeholders sit on inputs
 * of a type their value can fill (a seed must feed an INT).
 */
import { distance } from 'fastest-levenshtein';
import type { ApiPrompt } from '../comfy/backend-port.js';
import { valueKindOf, type PlaceholderValueKind } from './placeholder-tokens.js';
import { scanPlaceholders } from './placeholder-scanner.js';
import { inputSpecs, outputTypes, typesCompatible, type InputSpec, type ObjectInfo } from './object-info-spec.js';
import { gpuCleaningSuggestion, isGpuCleaningNode } from './gpu-cleaning-nodes.js';
import { isLink, makeReport, type PlaceholderUse, type ValidationIssue, type ValidationReport } from './workflow-definition.js';

export interface ObjectInfoValidationOptions {
  placeholders?: PlaceholderUse[];
  /** Character LoRAs that injection would add; their names must exist on the server too. */
  characterLoras?: { name: string; strength: number }[];
}

/** The few closest names, best first; only ones that are plausibly a typo. */
export function suggestNames(wanted: string, options: string[], max = 3): string[] {
  const limit = Math.max(3, Math.ceil(wanted.length * 0.5));
  const ranked = options
    .map((option) => ({ option, d: distance(wanted.toLowerCase(), option.toLowerCase()) }))
    .filter((r) => r.d <= limit)
    .sort((a, b) => a.d - b.d);
  // Only names about as close as the best one: a list of far guesses hides the right one.
  const best = ranked[0]?.d ?? 0;
  return ranked
    .filter((r) => r.d <= best + 1)
    .slice(0, max)
    .map((r) => r.option);
}

function suggestionText(names: string[]): string | undefined {
  return names.length ? `did you mean ${names.map((n) => `"${n}"`).join(' or ')}?` : undefined;
}

const kindAccepts: Record<PlaceholderValueKind, (spec: InputSpec) => boolean> = {
  text: (s) => s.type === 'STRING' || s.type === '*' || s.type === 'COMBO',
  int: (s) => s.type === 'INT' || s.type === '*',
  float: (s) => s.type === 'FLOAT' || s.type === 'INT' || s.type === '*',
  image: (s) => s.type === 'COMBO' || s.type === 'STRING',
};

export function validateAgainstObjectInfo(graph: ApiPrompt, objectInfo: ObjectInfo, options: ObjectInfoValidationOptions = {}): ValidationReport {
  const errors: ValidationIssue[] = [];
  const warnings: ValidationIssue[] = [];
  const placeholders = options.placeholders ?? scanPlaceholders(graph);
  const placeholderAt = new Map(placeholders.map((p) => [`${p.nodeId}\u0000${p.input}`, p]));
  const classNames = Object.keys(objectInfo);
  let hasOutput = false;

  for (const [nodeId, node] of Object.entries(graph)) {
    const info = objectInfo[node.class_type];
    const at = { nodeId, classType: node.class_type };
    if (!info) {
      const suggestion = isGpuCleaningNode(node.class_type)
        ? gpuCleaningSuggestion
        : (suggestionText(suggestNames(node.class_type, classNames)) ?? 'Install the custom node that provides it.');
      errors.push({ ...at, rule: 'unknown_class', message: `class "${node.class_type}" does not exist on this server`, suggestion });
      continue;
    }
    if (info.output_node) hasOutput = true;
    for (const spec of inputSpecs(info)) {
      const value = node.inputs[spec.name];
      if (value === undefined) {
        if (spec.required) errors.push({ ...at, rule: 'required_input_missing', input: spec.name, message: `required input "${spec.name}" is missing` });
        continue;
      }
      const placeholder = placeholderAt.get(`${nodeId}\u0000${spec.name}`);
      if (placeholder) {
        // A token inside longer text stays text, whatever value fills it.
        const kind = placeholder.kind === 'embedded' ? 'text' : valueKindOf[placeholder.key];
        if (!kindAccepts[kind](spec)) {
          errors.push({
            ...at,
            rule: 'placeholder_type_mismatch',
            input: spec.name,
            message: `${placeholder.token ?? placeholder.key} fills a ${kind} value but "${spec.name}" takes ${spec.type}`,
          });
        }
        continue;
      }
      if (isLink(value)) {
        checkLink(graph, objectInfo, nodeId, node.class_type, spec, value, errors);
        continue;
      }
      checkWidgetValue(spec, value, at, errors);
    }
  }
  if (!hasOutput) errors.push({ rule: 'no_output_node', nodeId: null, message: 'no node of this graph is an output node on this server' });

  const loraOptions = inputSpecs(objectInfo.LoraLoader ?? {}).find((s) => s.name === 'lora_name')?.options;
  for (const lora of options.characterLoras ?? []) {
    if (loraOptions && !loraOptions.includes(lora.name)) {
      const names = loraOptions.filter((o): o is string => typeof o === 'string');
      errors.push({
        rule: 'value_not_in_list',
        nodeId: null,
        classType: 'LoraLoader',
        input: 'lora_name',
        message: `character LoRA "${lora.name}" is not on this server`,
        suggestion: suggestionText(suggestNames(lora.name, names)),
      });
    }
  }
  noteGpuCleaningOnly(errors, warnings);
  return makeReport(errors, warnings, placeholders);
}

/** When the only missing classes are GPU-cleaning nodes, say so once, with the way out. */
function noteGpuCleaningOnly(errors: ValidationIssue[], warnings: ValidationIssue[]): void {
  const unknown = errors.filter((e) => e.rule === 'unknown_class');
  if (unknown.length === 0 || !unknown.every((e) => e.classType !== undefined && isGpuCleaningNode(e.classType))) return;
  const names = [...new Set(unknown.map((e) => e.classType))].map((n) => `"${n}"`).join(', ');
  warnings.push({
    rule: 'gpu_cleaning_nodes',
    nodeId: null,
    message: `the only classes this server lacks are GPU-cleaning custom nodes (${names})`,
    suggestion: gpuCleaningSuggestion,
  });
}

function checkLink(
  graph: ApiPrompt,
  objectInfo: ObjectInfo,
  nodeId: string,
  classType: string,
  spec: InputSpec,
  link: [string, number],
  errors: ValidationIssue[],
): void {
  const source = graph[String(link[0])];
  const sourceInfo = source && objectInfo[source.class_type];
  if (!source || !sourceInfo) return; // reported by the structural check / unknown_class
  const outputs = outputTypes(sourceInfo);
  const received = outputs[link[1]];
  if (received === undefined) {
    errors.push({
      nodeId,
      classType,
      rule: 'link_output_invalid',
      input: spec.name,
      message: `links to output ${link[1]} of node "${link[0]}" (${source.class_type}), which has ${outputs.length} output(s)`,
    });
  } else if (!typesCompatible(received, spec.type)) {
    errors.push({
      nodeId,
      classType,
      rule: 'return_type_mismatch',
      input: spec.name,
      message: `receives ${received} from node "${link[0]}" but takes ${spec.type}`,
    });
  }
}

function checkWidgetValue(spec: InputSpec, value: unknown, at: { nodeId: string; classType: string }, errors: ValidationIssue[]): void {
  if (spec.type === 'COMBO' && spec.options) {
    if (!spec.options.includes(value)) {
      const names = spec.options.filter((o): o is string => typeof o === 'string');
      const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')}, … (${names.length})` : names.join(', ') || 'none installed';
      errors.push({
        ...at,
        rule: 'value_not_in_list',
        input: spec.name,
        message: `"${String(value)}" is not available (server has: ${shown})`,
        suggestion: suggestionText(suggestNames(String(value), names)),
      });
    }
    return;
  }
  if (spec.type === 'INT' || spec.type === 'FLOAT') {
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n) || (spec.type === 'INT' && !Number.isInteger(n))) {
      errors.push({ ...at, rule: 'invalid_input_type', input: spec.name, message: `${JSON.stringify(value)} is not a valid ${spec.type}` });
      return;
    }
    const { min, max } = spec.config as { min?: number; max?: number };
    if (typeof min === 'number' && n < min)
      errors.push({ ...at, rule: 'value_smaller_than_min', input: spec.name, message: `${n} is smaller than the minimum ${min}` });
    if (typeof max === 'number' && n > max)
      errors.push({ ...at, rule: 'value_bigger_than_max', input: spec.name, message: `${n} is bigger than the maximum ${max}` });
  }
}
