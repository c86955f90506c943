/**
 * Cutting a prompt down to the cap (`llm.max_prompt_chars`), the same way on the template
 * and the LLM path: at a word boundary, never mid-word unless the text has no boundary to
 * use (CJK text, one huge token), and with a record of what was cut for the debug view.
 */

/** Recorded as the job's `prompt_truncated` debug fact when the prompt was cut to the cap. */
export interface PromptTruncation {
  /** The cap the prompt was cut to. */
  max_chars: number;
  /** How long the prompt would have been uncut. */
  full_chars: number;
  /** What was cut, in words ("user request shortened from 1320 to 1091 characters"). */
  cut: string[];
}

/**
 * The longest start of `text` of at most `max` characters that ends at a word boundary
 * (a space or comma), trailing separators removed; a hard cut when `text` has no boundary
 * within `max` (a surrogate pair is never split). '' when `max` < 1.
 */
export function shortenAtWordBoundary(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 1) return '';
  // text[max] is the first character left out: a boundary there keeps the whole window.
  const window = text.slice(0, max + 1);
  const at = Math.max(window.lastIndexOf(' '), window.lastIndexOf(','));
  const kept = at > 0 ? text.slice(0, at) : hardCut(text, max);
  return kept.replace(/[\s,;]+$/, '');
}

function hardCut(text: string, max: number): string {
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
