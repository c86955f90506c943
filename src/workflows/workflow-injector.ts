/**
 * Fills a workflow's placeholders on a copy of its parsed graph. Walking the JSON (never
 * replacing text in the file) keeps any prompt text intact, and each template string is
 * rewritten in one pass, so a prompt that itself contains "PROMPT_PLACEHOLDER" is not
 * injected again, nor mistaken for a leftover token.
 */
import { randomBytes } from 'node:crypto';
import type { ApiPrompt } from '../comfy/backend-port.js';
import { ChorusError } from '../errors/index.js';
import { insertCharacterLoras, type LoraSpec } from './character-lora-chain.js';
import { knownTokenPattern, placeholderTokens, tokenLikePattern, valueKindOf, type InjectionKey } from './placeholder-tokens.js';
import type { PlaceholderUse, WorkflowDefinition } from './workflow-definition.js';

export interface InjectionValues {
  prompt?: string;
  negative?: string;
  seed?: number;
  steps?: number;
  cfg?: number;
  width?: number;
  height?: number;
  text?: string;
  voiceSample?: string;
  voiceTranscript?: string;
  /** The image's name in the backend's ComfyUI input folder (after /upload/image). */
  referenceImage?: string;
}

export interface InjectionOptions {
  characterLoras?: LoraSpec[];
  /** Used when the workflow has a steps/cfg/width/height placeholder and no override came (config comfyui.defaults). */
  defaults?: { steps?: number; cfg?: number; width?: number; height?: number };
  /** The character's negative prompt, used when the request has none. */
  defaultNegative?: string;
}

export interface AppliedLora {
  name: string;
  strength: number | null;
  source: 'workflow' | 'character';
}

export interface InjectionResult {
  prompt: ApiPrompt;
  /** The value used for each placeholder key the workflow has. */
  injected: Partial<Record<InjectionKey, unknown>>;
  /** Overrides given for values this workflow has no placeholder for. */
  ignored: string[];
  /** The seed used (random when none was given); null when the workflow's seed is fixed. */
  seed: number | null;
  lorasApplied: AppliedLora[];
}

/** ComfyUI takes seeds up to 2^64-1; we stay within what JSON numbers carry exactly. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

export function randomSeed(): number {
  return Number(randomBytes(8).readBigUInt64BE() & BigInt(MAX_SEED));
}

function badValue(key: string, value: unknown, why: string): ChorusError {
  return new ChorusError('INVALID_COMMAND', `${key} ${JSON.stringify(value)} ${why}`, { details: { field: key, value } });
}

function coerce(key: InjectionKey, value: unknown): string | number {
  const kind = valueKindOf[key];
  if (kind === 'text' || kind === 'image') {
    if (typeof value !== 'string') throw badValue(key, value, 'must be a string');
    return value;
  }
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw badValue(key, value, 'is not a number');
  if (kind === 'int' && !Number.isInteger(n)) throw badValue(key, value, 'must be a whole number');
  if (key === 'seed' && (n < 0 || n > MAX_SEED)) throw badValue(key, value, `must be between 0 and ${MAX_SEED}`);
  return n;
}

function resolveValue(key: InjectionKey, values: InjectionValues, options: InjectionOptions, use: PlaceholderUse): unknown {
  const given = values[key];
  if (given !== undefined && given !== null) return given;
  switch (key) {
    case 'negative':
      return options.defaultNegative ?? '';
    case 'seed':
      return randomSeed();
    case 'steps':
    case 'cfg':
    case 'width':
    case 'height':
      if (options.defaults?.[key] !== undefined) return options.defaults[key];
      break;
  }
  throw new ChorusError('WORKFLOW_INVALID', `No value for ${use.token ?? key} in node ${use.nodeId}, input "${use.input}"; it would reach ComfyUI unfilled.`, {
    details: { nodeId: use.nodeId, input: use.input, placeholder: use.token ?? key },
    recoverable: false,
  });
}

export function injectWorkflow(def: WorkflowDefinition, values: InjectionValues, options: InjectionOptions = {}): InjectionResult {
  const prompt = structuredClone(def.graph) as ApiPrompt;
  const injected: Partial<Record<InjectionKey, unknown>> = {};
  const resolved = new Map<InjectionKey, string | number>();
  for (const use of def.placeholders) {
    if (!resolved.has(use.key)) resolved.set(use.key, coerce(use.key, resolveValue(use.key, values, options, use)));
    injected[use.key] = resolved.get(use.key);
  }

  const touched = new Set<string>();
  for (const use of def.placeholders) {
    const where = `${use.nodeId}\u0000${use.input}`;
    if (touched.has(where)) continue;
    touched.add(where);
    const node = prompt[use.nodeId];
    if (!node) continue;
    const template = def.graph[use.nodeId]?.inputs[use.input];
    if (use.kind === 'embedded' && typeof template === 'string') {
      // One pass over the file's text: replacements are never scanned again.
      node.inputs[use.input] = template.replace(knownTokenPattern, (token) => {
        const key = placeholderTokens.get(token)?.key;
        return key !== undefined && resolved.has(key) ? String(resolved.get(key)) : token;
      });
    } else {
      node.inputs[use.input] = resolved.get(use.key);
    }
  }
  refuseLeftoverTokens(def.graph, touched);

  const ignored = (Object.keys(values) as InjectionKey[]).filter((k) => values[k] !== undefined && !resolved.has(k));
  const workflowLoras: AppliedLora[] = def.facts.loras.map((l) => ({ name: l.name, strength: l.strength, source: 'workflow' }));
  const wanted = (options.characterLoras ?? []).filter((l) => !workflowLoras.some((w) => w.name === l.name));
  const characterLoras = insertCharacterLoras(prompt, wanted).map((l): AppliedLora => ({ name: l.name, strength: l.strength, source: 'character' }));
  const seed = resolved.get('seed');
  return { prompt, injected, ignored, seed: typeof seed === 'number' ? seed : null, lorasApplied: [...workflowLoras, ...characterLoras] };
}

/**
 * Checked on the file's graph, not the result: the result may rightly hold token text that
 * came from a prompt. A token is left over when injection did not write its input, or
 * when it is not one we fill (a misspelling) — either would reach ComfyUI as text.
 */
function refuseLeftoverTokens(template: ApiPrompt, touched: Set<string>): void {
  for (const [nodeId, node] of Object.entries(template)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (typeof value !== 'string') continue;
      const written = touched.has(`${nodeId}\u0000${input}`);
      for (const match of value.matchAll(tokenLikePattern)) {
        if (written && placeholderTokens.has(match[0])) continue;
        throw new ChorusError(
          'WORKFLOW_INVALID',
          `Node ${nodeId} (${node.class_type}), input "${input}" still holds ${match[0]}; chorus-visual does not fill it.`,
          {
            details: { nodeId, input, placeholder: match[0] },
          },
        );
      }
    }
  }
}
