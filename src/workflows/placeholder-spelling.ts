/**
 * Near-miss placeholder spellings (`PROMPT_PLACEHOLDR`, `__CHORUS_PROMT__`): not tokens, so
 * nothing would fill them and they would reach ComfyUI as text. Only upper-case words with
 * an underscore are considered, so ordinary prompt text is never taken for a token.
 */
import { distance } from 'fastest-levenshtein';
import { placeholderTokens } from './placeholder-tokens.js';

export interface MisspeltPlaceholder {
  found: string;
  intended: string;
}

const candidateWord = /[A-Z0-9_]*_[A-Z0-9_]*/g;
const knownTokens = [...placeholderTokens.keys()];

/**
 * The token a word was probably meant to be: one edit away, two for words of 16 characters
 * or more (`NEG_PLACEHOLDER` is not a misspelt `CFG_PLACEHOLDER`); never a known token itself.
 */
export function intendedToken(word: string): string | undefined {
  if (word.length < 8 || placeholderTokens.has(word)) return undefined;
  // A known token with extra characters around it is still filled (embedded use).
  if (knownTokens.some((token) => word.includes(token))) return undefined;
  const limit = word.length >= 16 ? 2 : 1;
  let best: { token: string; d: number } | undefined;
  for (const token of knownTokens) {
    const d = distance(word, token);
    if (d <= limit && (best === undefined || d < best.d)) best = { token, d };
  }
  return best?.token;
}

export function findMisspeltPlaceholders(text: string): MisspeltPlaceholder[] {
  const found: MisspeltPlaceholder[] = [];
  for (const match of text.matchAll(candidateWord)) {
    const intended = intendedToken(match[0]);
    if (intended) found.push({ found: match[0], intended });
  }
  return found;
}
