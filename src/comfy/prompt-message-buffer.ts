import type { ComfyWsMessage } from './protocol/ws-message-schemas.js';

export interface PromptMessageBufferOptions {
  /** Messages older than this are forgotten. */
  maxAgeMs?: number;
  /** Prompts remembered at once; the least recently touched goes first. */
  maxPrompts?: number;
  /** Per prompt; progress ticks are dropped first so terminal messages always fit. */
  maxMessagesPerPrompt?: number;
}

interface Entry {
  messages: { at: number; message: ComfyWsMessage }[];
  touchedAt: number;
}

const dispensable = new Set(['progress', 'progress_state']);

/**
 * Recent WebSocket messages per prompt id. The socket can deliver `execution_start` or even
 * `execution_success` before POST /prompt has answered (§3.1), so a watch that starts after
 * submit replays what it missed from here. Bounded in age, prompts and messages.
 */
export class PromptMessageBuffer {
  private readonly entries = new Map<string, Entry>();
  private readonly maxAgeMs: number;
  private readonly maxPrompts: number;
  private readonly maxMessagesPerPrompt: number;

  constructor(
    options: PromptMessageBufferOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 120_000;
    this.maxPrompts = options.maxPrompts ?? 256;
    this.maxMessagesPerPrompt = options.maxMessagesPerPrompt ?? 200;
  }

  add(promptId: string, message: ComfyWsMessage): void {
    const at = this.now();
    let entry = this.entries.get(promptId);
    if (entry) this.entries.delete(promptId);
    else entry = { messages: [], touchedAt: at };
    entry.touchedAt = at;
    entry.messages.push({ at, message });
    if (entry.messages.length > this.maxMessagesPerPrompt) {
      const index = entry.messages.findIndex((item) => dispensable.has(item.message.type));
      entry.messages.splice(Math.max(index, 0), 1);
    }
    // Re-inserting keeps the Map in least-recently-touched order for eviction.
    this.entries.set(promptId, entry);
    this.evict(at);
  }

  messagesFor(promptId: string): ComfyWsMessage[] {
    const cutoff = this.now() - this.maxAgeMs;
    return (this.entries.get(promptId)?.messages ?? []).filter((item) => item.at >= cutoff).map((item) => item.message);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  private evict(now: number): void {
    for (const [promptId, entry] of this.entries) {
      const tooMany = this.entries.size > this.maxPrompts;
      if (!tooMany && entry.touchedAt >= now - this.maxAgeMs) break;
      this.entries.delete(promptId);
    }
  }
}
