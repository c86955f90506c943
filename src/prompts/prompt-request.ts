/** What a visual prompt is made from, and the record of how it was made. */
import type { Character } from '../characters/index.js';
import type { PromptTruncation } from './prompt-truncation.js';

export interface PromptRequest {
  /** What the conversation asked for ("a selfie at the beach"). */
  userRequest: string;
  /** What the character is doing right now, when the conversation says so. */
  activity?: string | null;
  character: Character;
  /** A finished prompt from the caller: used as it is, no LLM, no template. */
  prompt?: string | null;
  negative?: string | null;
  /** Fail with PROMPT_GENERATION_FAILED instead of falling back to the template. */
  strict?: boolean;
}

export interface ComposedPrompt {
  prompt: string;
  negative: string | null;
  source: 'llm' | 'template' | 'caller';
  model?: string;
  /** The exact messages sent to the LLM. */
  messages?: unknown[];
  rawReply?: string;
  reasoning?: string;
  /** What cleaning changed in the reply. */
  cleaning?: string[];
  components: { user: string; character_triggers: string[]; activity: string | null };
  /** Why the template was used (LLM not configured, or its last error). */
  fallbackReason?: string;
  attempts?: number;
  /** Set when the written prompt was cut to the cap (never for a caller's prompt). */
  truncation?: PromptTruncation;
}
