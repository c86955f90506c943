/**
 * The prompt used when no LLM is configured or it failed: the same parts in a fixed order
 * (trigger words, what is asked, what the character is doing, how they look, quality
 * tags), deduplicated. Deterministic, so the same request always gives the same prompt.
 *
 * Over the cap, what stays is chosen by importance, not by position: the trigger words and
 * the character's look (`prompt_context`) are always kept whole, because they are what
 * calls up the character's LoRA; then the quality tags; then the user's request, shortened
 * at a word boundary to the room left; then the activity phrases that still fit. Each
 * phrase is tried on its own, so one that does not fit never costs the ones after it.
 */
import type { PromptRequest } from './prompt-request.js';
import { shortenAtWordBoundary, type PromptTruncation } from './prompt-truncation.js';

const qualityTags = 'high quality, detailed, sharp focus';

type Role = 'trigger' | 'request' | 'activity' | 'look' | 'quality';
interface Part {
  role: Role;
  text: string;
}

export interface TemplatePrompt {
  prompt: string;
  negative: string | null;
  /** Null when everything fitted under the cap. */
  truncation: PromptTruncation | null;
}

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

function partsOf(req: PromptRequest): Part[] {
  const identity = req.character.visual_identity;
  const tagged = (role: Role, texts: string[]) => texts.map((text) => ({ role, text }));
  const seen = new Set<string>();
  return [
    ...tagged('trigger', identity.trigger_words.map((w) => w.trim()).filter(Boolean)),
    ...tagged('request', phrases(req.userRequest)),
    ...tagged('activity', phrases(req.activity)),
    ...tagged('look', phrases(identity.prompt_context)),
    ...tagged('quality', phrases(qualityTags)),
  ].filter((part) => {
    const key = part.text.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const joined = (texts: string[]) => texts.join(', ');

export function buildTemplatePrompt(req: PromptRequest, maxChars: number): TemplatePrompt {
  const negative = req.character.visual_identity.negative_prompt?.trim() || null;
  const parts = partsOf(req);
  const full = joined(parts.map((p) => p.text));
  if (full.length <= maxChars) return { prompt: full, negative, truncation: null };

  const kept = new Map<Part, string>();
  const used = () => joined([...kept.values()]).length;
  // Room for one more part, its ", " separator included.
  const room = () => maxChars - used() - (kept.size > 0 ? 2 : 0);
  const of = (role: Role) => parts.filter((p) => p.role === role);
  const cut: string[] = [];

  for (const part of parts) if (part.role === 'trigger' || part.role === 'look') kept.set(part, part.text);
  if (used() > maxChars) cut.push(`the trigger words and look alone take ${used()} characters: kept whole, over the cap`);
  keepWhatFits(of('quality'), kept, room, 'quality tags', cut);
  shortenRequest(of('request'), kept, room, cut);
  keepWhatFits(of('activity'), kept, room, 'activity', cut);

  const prompt = joined(parts.filter((p) => kept.has(p)).map((p) => kept.get(p) as string));
  return { prompt, negative, truncation: { max_chars: maxChars, full_chars: full.length, cut } };
}

function keepWhatFits(parts: Part[], kept: Map<Part, string>, room: () => number, label: string, cut: string[]): void {
  const left = parts.filter((part) => {
    if (part.text.length > room()) return true;
    kept.set(part, part.text);
    return false;
  });
  if (left.length > 0) cut.push(`${label}: ${left.map((p) => JSON.stringify(p.text)).join(', ')} left out`);
}

/** Each request phrase kept whole if it fits, else cut at a word boundary to the room left. */
function shortenRequest(parts: Part[], kept: Map<Part, string>, room: () => number, cut: string[]): void {
  if (parts.length === 0) return;
  for (const part of parts) {
    const text = shortenAtWordBoundary(part.text, room());
    if (text) kept.set(part, text);
  }
  const before = joined(parts.map((p) => p.text)).length;
  const after = joined(parts.filter((p) => kept.has(p)).map((p) => kept.get(p) as string)).length;
  if (after === 0) cut.push(`user request (${before} characters) left out: no room after the trigger words and look`);
  else if (after < before) cut.push(`user request shortened from ${before} to ${after} characters`);
}
