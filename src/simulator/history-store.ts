/**
 * In-memory /history like ComfyUI's dict: insertion order, a re-run of the same prompt_id keeps
 * its first position, and at most 10,001 entries (the check runs before the insert).
 */
import type { QueueEntry } from './prompt-queue.js';

export const maximumHistorySize = 10000;

export type HistoryMessage = [string, Record<string, unknown>];
export interface HistoryEntry {
  prompt: QueueEntry;
  outputs: Record<string, Record<string, unknown>>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: HistoryMessage[] };
  meta: Record<string, { node_id: string; display_node: string; parent_node: null; real_node_id: string }>;
}

export class HistoryStore {
  private readonly entries = new Map<string, HistoryEntry>();

  put(promptId: string, entry: HistoryEntry): void {
    if (this.entries.size > maximumHistorySize) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(promptId, entry);
  }

  get(promptId: string): HistoryEntry | undefined {
    return this.entries.get(promptId);
  }

  /** get_history(max_items, offset) with the server's default offset of -1. */
  list(maxItems: number | null, offset: number): Record<string, HistoryEntry> {
    const out: Record<string, HistoryEntry> = {};
    let start = offset;
    if (start < 0 && maxItems !== null) start = this.entries.size - maxItems;
    let i = 0;
    let count = 0;
    for (const [id, entry] of this.entries) {
      if (i >= start) {
        out[id] = entry;
        count++;
        if (maxItems !== null && count >= maxItems) break;
      }
      i++;
    }
    return out;
  }

  delete(promptId: string): void {
    this.entries.delete(promptId);
  }

  clear(): void {
    this.entries.clear();
  }
}
