/**
 * Turns what a chat model said into a prompt ComfyUI can take: JSON replies
 * (`{"prompt","negative","reasoning"}`, as Chorus Engine asks for) or plain text, with code
 * fences, "Prompt:" prefixes, wrapping quotes and line breaks removed, trigger words
 * ensured and the length capped. Every change is listed, for the debug view.
 */
import { z } from 'zod';

export interface CleanedReply {
  prompt: string;
  negative: string | null;
  reasoning: string | null;
  cleaning: string[];
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

function cap(text: string, max: number, cleaning: string[]): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const at = Math.max(cut.lastIndexOf(','), cut.lastIndexOf(' '));
  cleaning.push(`cut to ${max} characters`);
  return (at > max * 0.6 ? cut.slice(0, at) : cut).replace(/[\s,]+$/, '');
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

  const missing = options.triggerWords.filter((w) => !prompt.toLowerCase().includes(w.toLowerCase()));
  if (missing.length) {
    prompt = `${missing.join(', ')}, ${prompt}`;
    cleaning.push(`added trigger words: ${missing.join(', ')}`);
  }
  prompt = cap(prompt, options.maxChars, cleaning);
  if (negative !== null) negative = tidy(negative, []) || null;
  return { prompt, negative, reasoning, cleaning };
}
