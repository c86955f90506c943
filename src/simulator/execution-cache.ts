/**
 * ComfyUI's "classic" cache: a node's outputs are reused when its signature (class, widget
 * values, and its upstream signatures) matches a node of the most recent prompt. After each
 * prompt, entries the prompt did not use are dropped; POST /free {free_memory} clears it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeCatalog } from './node-catalog.js';
import type { ApiPromptGraph } from './prompt-validator.js';

export interface CachedNode {
  outputs: unknown[];
  ui: Record<string, unknown> | null;
}

export class ExecutionCache {
  private entries = new Map<string, CachedNode>();

  get(signature: string | null): CachedNode | undefined {
    return signature === null ? undefined : this.entries.get(signature);
  }

  set(signature: string | null, value: CachedNode): void {
    if (signature !== null) this.entries.set(signature, value);
  }

  /** Keep only what the prompt just run can still use (clean_unused). */
  retainOnly(signatures: Iterable<string | null>): void {
    const keep = new Set(signatures);
    for (const key of this.entries.keys()) if (!keep.has(key)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Signatures for every node of a prompt; null where a link is broken (never cached). */
export function computeSignatures(graph: ApiPromptGraph, catalog: NodeCatalog, inputDir: string): Map<string, string | null> {
  const result = new Map<string, string | null>();
  const visiting = new Set<string>();
  const signatureOf = (id: string): string | null => {
    if (result.has(id)) return result.get(id) ?? null;
    const node = graph[id];
    if (!node || visiting.has(id)) return null;
    visiting.add(id);
    const classType = String(node.class_type);
    const parts: unknown[] = [classType];
    const inputs = node.inputs ?? {};
    let broken = false;
    for (const name of Object.keys(inputs).sort()) {
      const value = inputs[name];
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
        const upstream = signatureOf(value[0]);
        if (upstream === null) broken = true;
        parts.push([name, upstream, value[1]]);
      } else {
        parts.push([name, value]);
      }
    }
    // IS_CHANGED of LoadImage hashes the file; mtime+size stands in for the hash.
    if (classType === 'LoadImage' && typeof inputs['image'] === 'string') {
      try {
        const stat = statSync(join(inputDir, inputs['image']));
        parts.push(['file', stat.mtimeMs, stat.size]);
      } catch {
        parts.push(['file', null]);
      }
    }
    if (catalog.get(classType)?.input.hidden && JSON.stringify(catalog.get(classType)?.input.hidden).includes('UNIQUE_ID')) parts.push(['id', id]);
    visiting.delete(id);
    const signature = broken ? null : JSON.stringify(parts);
    result.set(id, signature);
    return signature;
  };
  for (const id of Object.keys(graph)) signatureOf(id);
  return result;
}
