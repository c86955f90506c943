/**
 * The prompt used when no LLM is configured or it failed: the same parts in a fixed order
 * (trigger words, what is asked, what the character is doing, how they look, quality
 * tags), deduplicated. Deterministic, so the same request always gives the same prompt.
 */
import type { PromptRequest } from './prompt-request.js';

const qualityTags = 'high quality, detailed, sharp focus';

function phrases(text: string | null | undefined): string[] {
  return (text ?? '')
    .split(/[\n,;]+/)
    .map((p) =>
      p
        .replace(/\s+/g, ' ')
        .trim()
        .replace(/[.!?]+$/, ''),
    )
    .filter(Boolean);
}

export function buildTemplatePrompt(req: PromptRequest, maxChars: number): { prompt: string; negative: string | null } {
  const identity = req.character.visual_identity;
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const phrase of [
    ...identity.trigger_words,
    ...phrases(req.userRequest),
    ...phrases(req.activity),
    ...phrases(identity.prompt_context),
    ...phrases(qualityTags),
  ]) {
    const key = phrase.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    parts.push(phrase);
  }
  let prompt = '';
  for (const part of parts) {
    const next = prompt ? `${prompt}, ${part}` : part;
    // Trigger words come first, so a cap never drops them.
    if (next.length > maxChars && prompt) break;
    prompt = next;
  }
  return { prompt, negative: identity.negative_prompt?.trim() || null };
}
