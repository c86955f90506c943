/**
 * Which nodes run and in what order (comfy_execution/graph.py ExecutionList): the output nodes
 * and their uncached ancestors, in dependency order, preferring a ready output node, then a node
 * feeding an output, then one two steps away — so a PreviewImage branch finishes early (T03, T06).
 */
import type { ApiPromptGraph } from './prompt-validator.js';

export class ExecutionPlan {
  private readonly pending = new Map<string, Set<string>>(); // node -> unfinished upstream nodes
  private readonly blocking = new Map<string, Set<string>>(); // node -> staged nodes waiting on it

  constructor(
    private readonly graph: ApiPromptGraph,
    outputs: string[],
    private readonly isCached: (id: string) => boolean,
    private readonly isOutput: (id: string) => boolean,
  ) {
    for (const id of outputs) this.add(id);
  }

  private add(id: string): void {
    if (this.pending.has(id)) return;
    const waitsOn = new Set<string>();
    this.pending.set(id, waitsOn);
    if (!this.blocking.has(id)) this.blocking.set(id, new Set());
    for (const value of Object.values(this.graph[id]?.inputs ?? {})) {
      if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string') continue;
      const upstream = value[0];
      if (this.isCached(upstream)) continue;
      this.add(upstream);
      waitsOn.add(upstream);
      this.blocking.get(upstream)!.add(id);
    }
  }

  isEmpty(): boolean {
    return this.pending.size === 0;
  }

  next(): string | null {
    const ready = [...this.pending].filter(([, waits]) => waits.size === 0).map(([id]) => id);
    if (ready.length === 0) return null;
    const blocks = (id: string) => [...(this.blocking.get(id) ?? [])];
    return (
      ready.find((id) => this.isOutput(id)) ??
      ready.find((id) => blocks(id).some((b) => this.isOutput(b))) ??
      ready.find((id) => blocks(id).some((b) => blocks(b).some((c) => this.isOutput(c)))) ??
      ready[0]!
    );
  }

  complete(id: string): void {
    this.pending.delete(id);
    for (const waiter of this.blocking.get(id) ?? []) this.pending.get(waiter)?.delete(id);
  }
}
