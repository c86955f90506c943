/**
 * Turns what a chat model said into a prompt ComfyUI can take: JSON replies
 * (`{"prompt","negative","reasoning"}`, as Chorus Engine asks for) or plain text, with code
 * fences, "Prompt:" prefixes, wrapping quotes and line breaks removed, trigger words
 * ensured and the length capped (the trigger words survive the cut). Every change is listed,
 * for the debug view.
 */
import { z } from 'zod';
import { shortenAtWordBoundary, type PromptTruncation } from './prompt-truncation.js';

export interface CleanedReply {
  prompt: string;
  negative: string | null;
  reasoning: string | null;
  cleaning: string[];
  /** Null when the reply fitted under the cap. */
  truncation: PromptTruncation | null;
}

const jsonReplySchema = z.looseObject({
  prompt: z.string(),
  negative: z.string().nullish(),
  negative_prompt: z.string().nullish(),
  reasoning: z.string().nullish(),
});

const fencePattern = /^```[a-zA-Z]*\s*\n?([\s\S]*?)\n?```$/;
const prefixPattern = /^(?:here(?:'s| is) (?:the|your|an?) [\w -]*prompt\s*:|(?:final |image |visual |positive )?prompt\s*:)\s*/i;

function tryJson(text: string): z.infer<typeof jsonReplySchema> | null {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return null;
  try {
    const parsed = jsonReplySchema.safeParse(JSON.parse(text.slice(start, end + 1)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function tidy(text: string, cleaning: string[]): string {
  let out = text.trim();
  const unquoted = out.replace(/^["'“”‘’`]+|["'“”‘’`]+$/g, '').trim();
  if (unquoted !== out) cleaning.push('removed wrapping quotes');
  out = unquoted;
  if (/[\r\n]/.test(out)) {
    out = out
      .split(/\r?\n+/)
      .map((l) => l.trim())
      .filter(Boolean)
      .join(', ')
      .replace(/,\s*,/g, ',');
    cleaning.push('joined line breaks');
  }
  const squeezed = out.replace(/\s{2,}/g, ' ');
  if (squeezed !== out) cleaning.push('collapsed whitespace');
  return squeezed;
}

/**
 * Cuts to the cap at a word boundary, as the template does. The trigger words must survive
 * the cut (they call up the character's LoRA): when the model put one past the cut point,
 * it is moved to the front, and so is any the shorter cut after them then loses; trigger
 * words longer than the cap alone are kept whole.
 */
function cap(text: string, max: number, triggerWords: string[], cleaning: string[]): { prompt: string; truncation: PromptTruncation | null } {
  if (text.length <= max) return { prompt: text, truncation: null };
  const cut: string[] = [];
  // Moving a word to the front shortens the rest, which can lose another trigger word the
  // earlier cut kept: grow the front until the cut loses none (at most one round per word).
  let moved = new Set<string>();
  let front = '';
  let prompt = shortenAtWordBoundary(text, max);
  for (let lost = missingFrom(prompt, triggerWords); lost.length; lost = missingFrom(prompt, triggerWords)) {
    moved = new Set([...moved, ...lost]);
    front = triggerWords.filter((w) => moved.has(w)).join(', ');
    const rest = shortenAtWordBoundary(text, max - front.length - 2);
    prompt = rest ? `${front}, ${rest}` : front;
  }
  if (front) {
    cut.push(`trigger words the cut would have lost moved to the front: ${front}`);
    if (front.length > max) cut.push(`the trigger words alone take ${front.length} characters: kept whole, over the cap`);
  }
  cut.unshift(`LLM prompt shortened from ${text.length} to ${prompt.length} characters`);
  cleaning.push(`cut to ${max} characters`);
  return { prompt, truncation: { max_chars: max, full_chars: text.length, cut } };
}

function missingFrom(prompt: string, triggerWords: string[]): string[] {
  const lower = prompt.toLowerCase();
  return triggerWords.filter((w) => !lower.includes(w.toLowerCase()));
}

/** Returns null when nothing usable is left (the composer then retries or falls back). */
export function cleanLlmReply(raw: string, options: { maxChars: number; triggerWords: string[] }): CleanedReply | null {
  const cleaning: string[] = [];
  let text = raw.trim();
  const fenced = fencePattern.exec(text);
  if (fenced) {
    text = (fenced[1] ?? '').trim();
    cleaning.push('removed code fence');
  }
  let negative: string | null = null;
  let reasoning: string | null = null;
  const json = tryJson(text);
  if (json) {
    text = json.prompt;
    negative = json.negative ?? json.negative_prompt ?? null;
    reasoning = json.reasoning ?? null;
    cleaning.push('read JSON reply');
  } else if (/^\s*[[{]/.test(text)) {
    return null; // JSON-looking but without a prompt: garbage, not a prompt.
  }
  const withoutPrefix = text.replace(prefixPattern, '');
  if (withoutPrefix !== text) cleaning.push('removed "Prompt:" prefix');
  let prompt = tidy(withoutPrefix, cleaning);
  if (!/[\p{L}\p{N}]{2,}/u.test(prompt)) return null;

  const missing = missingFrom(prompt, options.triggerWords);
  if (missing.length) {
    prompt = `${missing.join(', ')}, ${prompt}`;
    cleaning.push(`added trigger words: ${missing.join(', ')}`);
  }
  const capped = cap(prompt, options.maxChars, options.triggerWords, cleaning);
  if (negative !== null) negative = tidy(negative, []) || null;
  return { prompt: capped.prompt, negative, reasoning, cleaning, truncation: capped.truncation };
}
