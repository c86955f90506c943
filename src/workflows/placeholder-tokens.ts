/**
 * The closed list of placeholder tokens a workflow may carry, in both spellings: ours
 * (`PROMPT_PLACEHOLDER`, …) and Chorus Engine's (`__CHORUS_PROMPT__`, …), so its workflow
 * files work unchanged. Each token names the injection value that replaces it.
 */

export type InjectionKey =
  | 'prompt'
  | 'negative'
  | 'seed'
  | 'steps'
  | 'cfg'
  | 'width'
  | 'height'
  | 'text'
  | 'voiceSample'
  | 'voiceTranscript'
  | 'referenceImage';

/** What ComfyUI type the target input should have (checked against /object_info). */
export type PlaceholderValueKind = 'text' | 'int' | 'float' | 'image';

export interface PlaceholderToken {
  token: string;
  key: InjectionKey;
  valueKind: PlaceholderValueKind;
}

const tokenList: PlaceholderToken[] = [
  { token: 'PROMPT_PLACEHOLDER', key: 'prompt', valueKind: 'text' },
  { token: '__CHORUS_PROMPT__', key: 'prompt', valueKind: 'text' },
  { token: 'NEGATIVE_PLACEHOLDER', key: 'negative', valueKind: 'text' },
  { token: '__CHORUS_NEGATIVE__', key: 'negative', valueKind: 'text' },
  { token: 'SEED_PLACEHOLDER', key: 'seed', valueKind: 'int' },
  { token: '__CHORUS_SEED__', key: 'seed', valueKind: 'int' },
  { token: 'STEPS_PLACEHOLDER', key: 'steps', valueKind: 'int' },
  { token: 'CFG_PLACEHOLDER', key: 'cfg', valueKind: 'float' },
  { token: 'WIDTH_PLACEHOLDER', key: 'width', valueKind: 'int' },
  { token: 'HEIGHT_PLACEHOLDER', key: 'height', valueKind: 'int' },
  { token: '__CHORUS_TEXT__', key: 'text', valueKind: 'text' },
  { token: '__CHORUS_VOICE_SAMPLE__', key: 'voiceSample', valueKind: 'text' },
  { token: '__CHORUS_VOICE_TRANSCRIPT__', key: 'voiceTranscript', valueKind: 'text' },
  { token: 'REFERENCE_IMAGE_PLACEHOLDER', key: 'referenceImage', valueKind: 'image' },
  { token: '__CHORUS_REFERENCE_IMAGE__', key: 'referenceImage', valueKind: 'image' },
];

export const placeholderTokens: ReadonlyMap<string, PlaceholderToken> = new Map(tokenList.map((t) => [t.token, t]));

export const valueKindOf: Record<InjectionKey, PlaceholderValueKind> = {
  prompt: 'text',
  negative: 'text',
  seed: 'int',
  steps: 'int',
  cfg: 'float',
  width: 'int',
  height: 'int',
  text: 'text',
  voiceSample: 'text',
  voiceTranscript: 'text',
  referenceImage: 'image',
};

/** Longest first, so no token can match inside a longer one. */
const alternation = [...placeholderTokens.keys()]
  .sort((a, b) => b.length - a.length)
  .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  .join('|');

/** Matches every known token inside a string (global: reset lastIndex or use matchAll). */
export const knownTokenPattern = new RegExp(alternation, 'g');

/** Anything that looks like a placeholder; used to catch misspelt tokens before ComfyUI sees them. */
export const tokenLikePattern = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_PLACEHOLDER\b|__CHORUS_[A-Z0-9_]+?__/g;
