/**
 * The shapes of a loaded workflow and of a validation report. A definition is read-only:
 * injection always works on a copy of `graph`.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import type { InjectionKey } from './placeholder-tokens.js';

export type WorkflowType = 'image' | 'video' | 'audio';

/**
 * One place a value is injected. `exact`: the input is exactly the token (a numeric one
 * becomes a number); `embedded`: the token sits inside longer text; `metadata`: no token,
 * the node was named by Chorus Engine's older `metadata` block.
 */
export interface PlaceholderUse {
  token: string | null;
  key: InjectionKey;
  nodeId: string;
  input: string;
  kind: 'exact' | 'embedded' | 'metadata';
}

export interface LoraFact {
  name: string;
  strength: number | null;
  nodeId: string;
}

/** What the debug view shows about a workflow, read from its graph. */
export interface WorkflowFacts {
  checkpoints: string[];
  loras: LoraFact[];
  sampler: { name: unknown; scheduler: unknown; steps: unknown; cfg: unknown; guidance?: unknown } | null;
  size: { width: unknown; height: unknown } | null;
}

/** Chorus Engine's older per-workflow block, kept so its files load unchanged. */
export interface WorkflowMetadata {
  type?: WorkflowType;
  description?: string;
  prompt_node_id?: string;
  negative_prompt_node_id?: string;
  seed_node_id?: string;
  [extra: string]: unknown;
}

export interface WorkflowDefinition {
  name: string;
  path: string;
  type: WorkflowType;
  /** Parsed API-format graph; never mutated. */
  graph: ApiPrompt;
  placeholders: PlaceholderUse[];
  facts: WorkflowFacts;
  metadata?: WorkflowMetadata;
  /** Set when the file was saved in UI format and converted with a backend's /object_info. */
  convertedFromUi?: boolean;
}

export interface ValidationIssue {
  rule: string;
  nodeId: string | null;
  classType?: string;
  input?: string;
  message: string;
  suggestion?: string;
}

export interface ValidationReport {
  ok: boolean;
  errors: ValidationIssue[];
  warnings: ValidationIssue[];
  placeholders: PlaceholderUse[];
}

export function makeReport(errors: ValidationIssue[], warnings: ValidationIssue[], placeholders: PlaceholderUse[]): ValidationReport {
  return { ok: errors.length === 0, errors, warnings, placeholders };
}

/** ComfyUI links are `[sourceNodeId, outputIndex]`. */
export function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && (typeof value[0] === 'string' || typeof value[0] === 'number') && typeof value[1] === 'number';
}
