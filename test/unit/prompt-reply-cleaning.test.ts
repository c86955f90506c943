import { describe, expect, it } from 'vitest';
import { characterSchema } from '../../src/characters/index.js';
import { buildPromptMessages, buildTemplatePrompt, cleanLlmReply, shortenAtWordBoundary } from '../../src/prompts/index.js';

const opts = { maxChars: 200, triggerWords: ['nova_character'] };

describe('cleanLlmReply', () => {
  it('leaves a clean reply alone', () => {
    expect(cleanLlmReply('nova_character, reading, lamp light', opts)).toEqual({
      prompt: 'nova_character, reading, lamp light',
      negative: null,
      reasoning: null,
      cleaning: [],
      truncation: null,
    });
  });

  it('removes fences, prefixes, quotes and line breaks, and says so', () => {
    const result = cleanLlmReply('```\nImage prompt: "nova_character,\nsitting by a window\n\nrainy day"\n```', opts)!;
    expect(result.prompt).toBe('nova_character, sitting by a window, rainy day');
    expect(result.cleaning).toEqual(['removed code fence', 'removed "Prompt:" prefix', 'removed wrapping quotes', 'joined line breaks']);
  });

  it('reads JSON with prose around it, and negative_prompt as a spelling of negative', () => {
    const result = cleanLlmReply('Sure! {"prompt": "nova_character at sea", "negative_prompt": "land", "reasoning": "boat"} Hope it helps', opts)!;
    expect(result).toMatchObject({ prompt: 'nova_character at sea', negative: 'land', reasoning: 'boat' });
  });

  it('adds missing trigger words at the front, matching case-insensitively', () => {
    expect(cleanLlmReply('NOVA_CHARACTER dancing', opts)!.cleaning).toEqual([]);
    const result = cleanLlmReply('a woman dancing', { maxChars: 200, triggerWords: ['nova_character', 'nvstyle'] })!;
    expect(result.prompt).toBe('nova_character, nvstyle, a woman dancing');
  });

  it('caps the length at a phrase boundary, keeping the trigger words', () => {
    const result = cleanLlmReply(`a woman, ${'very long description, '.repeat(20)}end`, { maxChars: 80, triggerWords: ['nova_character'] })!;
    expect(result.prompt.length).toBeLessThanOrEqual(80);
    expect(result.prompt.startsWith('nova_character, a woman')).toBe(true);
    expect(result.prompt).not.toMatch(/[ ,]$/);
    expect(result.cleaning).toContain('cut to 80 characters');
    expect(result.truncation).toMatchObject({ max_chars: 80, full_chars: 488 }); // with the trigger words added
  });

  it('cuts at a word boundary, never mid-word', () => {
    // The last space is well before the cap: the old cut fell mid-word here.
    const result = cleanLlmReply(`nova_character, ${'a'.repeat(30)} ${'b'.repeat(100)}`, { maxChars: 80, triggerWords: ['nova_character'] })!;
    expect(result.prompt).toBe(`nova_character, ${'a'.repeat(30)}`);
  });

  it('keeps the trigger words when the model put them past the cut point', () => {
    const reply = `${'a woman reading in a quiet library, '.repeat(4)}nova_character, soft light`;
    const result = cleanLlmReply(reply, { maxChars: 100, triggerWords: ['nova_character'] })!;
    expect(result.prompt.length).toBeLessThanOrEqual(100);
    expect(result.prompt).toMatch(/^nova_character, a woman reading in a quiet library/);
    expect(result.truncation!.cut).toEqual([
      `LLM prompt shortened from ${reply.length} to ${result.prompt.length} characters`,
      'trigger words the cut would have lost moved to the front: nova_character',
    ]);
  });

  it('keeps a trigger word the first cut kept when moving another to the front shortens the rest', () => {
    // The cut at 100 keeps nova_character (it ends at 86) and loses nvstyle_lora_v2; with
    // nvstyle_lora_v2 in front the rest gets 83 characters, which would lose nova_character.
    const reply = `${'a woman reading in a quiet library, '.repeat(2)}nova_character, soft light, lamp, nvstyle_lora_v2`;
    const result = cleanLlmReply(reply, { maxChars: 100, triggerWords: ['nova_character', 'nvstyle_lora_v2'] })!;
    expect(result.prompt.length).toBeLessThanOrEqual(100);
    expect(result.prompt).toBe(`nova_character, nvstyle_lora_v2, ${shortenAtWordBoundary(reply, 100 - 31 - 2)}`);
    expect(result.truncation!.cut).toEqual([
      `LLM prompt shortened from ${reply.length} to ${result.prompt.length} characters`,
      'trigger words the cut would have lost moved to the front: nova_character, nvstyle_lora_v2',
    ]);
  });

  it('returns null for garbage: empty, punctuation, JSON without a prompt', () => {
    expect(cleanLlmReply('', opts)).toBeNull();
    expect(cleanLlmReply('  "" ... ', opts)).toBeNull();
    expect(cleanLlmReply('{"answer": 42}', opts)).toBeNull();
    expect(cleanLlmReply('[1, 2, 3]', opts)).toBeNull();
  });
});

const nova = characterSchema.parse({
  id: 'nova',
  name: 'Nova',
  visual_identity: {
    default_workflow: 'nova_portrait',
    prompt_context: 'silver hair, hazel eyes.\nBlue sweater',
    trigger_words: ['nova_character'],
    negative_prompt: 'blurry',
  },
});

describe('template prompt', () => {
  it('is deterministic, ordered, deduplicated and starts with the trigger words', () => {
    const req = { userRequest: 'at the beach, Silver hair', activity: 'building a sandcastle', character: nova };
    const a = buildTemplatePrompt(req, 1200);
    expect(a).toEqual(buildTemplatePrompt(req, 1200));
    expect(a.prompt).toBe('nova_character, at the beach, Silver hair, building a sandcastle, hazel eyes, Blue sweater, high quality, detailed, sharp focus');
    expect(a.negative).toBe('blurry');
  });

  it('keeps the trigger words and look whole over a cap too small for them, and says so', () => {
    const { prompt, truncation } = buildTemplatePrompt({ userRequest: 'x'.repeat(50), character: nova }, 30);
    expect(prompt).toBe('nova_character, silver hair, hazel eyes, Blue sweater');
    expect(truncation!.cut).toEqual([
      'the trigger words and look alone take 53 characters: kept whole, over the cap',
      'quality tags: "high quality", "detailed", "sharp focus" left out',
      'user request (50 characters) left out: no room after the trigger words and look',
    ]);
  });

  it('shortens a long request at a word boundary, keeping the trigger words, look and quality tags', () => {
    const userRequest = 'please draw '.repeat(120).trim(); // 1439 characters, no commas
    const { prompt, truncation } = buildTemplatePrompt({ userRequest, character: nova }, 1200);
    expect(prompt.length).toBeLessThanOrEqual(1200);
    expect(prompt).toMatch(/^nova_character, please draw please draw /);
    expect(prompt).toMatch(/(please|draw), silver hair, hazel eyes, Blue sweater, high quality, detailed, sharp focus$/);
    const request = prompt.slice('nova_character, '.length, prompt.indexOf(', silver hair'));
    expect(userRequest.startsWith(request)).toBe(true);
    expect(userRequest[request.length]).toBe(' '); // cut between words
    expect(request.length).toBeGreaterThan(1100);
    expect(truncation).toEqual({
      max_chars: 1200,
      full_chars: 'nova_character, '.length + userRequest.length + ', silver hair, hazel eyes, Blue sweater, high quality, detailed, sharp focus'.length,
      cut: [`user request shortened from ${userRequest.length} to ${request.length} characters`],
    });
  });

  it('leaves out a phrase that cannot fit without losing the ones after it', () => {
    const req = { userRequest: 'at the beach', activity: `${'y'.repeat(80)}, reading`, character: nova };
    const { prompt, truncation } = buildTemplatePrompt(req, 120);
    expect(prompt).toBe('nova_character, at the beach, reading, silver hair, hazel eyes, Blue sweater, high quality, detailed, sharp focus');
    expect(truncation!.cut).toEqual([`activity: "${'y'.repeat(80)}" left out`]);
  });

  it('cuts a request with no spaces (CJK) where it must, rather than dropping it', () => {
    const { prompt } = buildTemplatePrompt({ userRequest: '海辺で自撮り'.repeat(40), character: nova }, 120);
    expect(prompt).toMatch(/^nova_character, 海辺で自撮り/);
    expect(prompt.length).toBe(120);
  });

  it('is not marked as cut when everything fits', () => {
    expect(buildTemplatePrompt({ userRequest: 'at the beach', character: nova }, 1200).truncation).toBeNull();
  });
});

describe('shortenAtWordBoundary', () => {
  it('keeps a boundary that falls exactly at the cap, and never splits a surrogate pair', () => {
    expect(shortenAtWordBoundary('red fox jumps', 7)).toBe('red fox');
    expect(shortenAtWordBoundary('red fox jumps', 6)).toBe('red');
    expect(shortenAtWordBoundary('red, fox', 5)).toBe('red');
    expect(shortenAtWordBoundary('ab😀cd', 3)).toBe('ab');
    expect(shortenAtWordBoundary('abc', 0)).toBe('');
  });
});

describe('LLM messages', () => {
  it('carry the request, activity, appearance and trigger words', () => {
    const [system, user] = buildPromptMessages({ userRequest: 'a selfie', activity: 'hiking', character: nova });
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('"prompt"');
    expect(user!.content).toBe(
      'Character: Nova\nAppearance: silver hair, hazel eyes.\nBlue sweater\nTrigger words (must appear): nova_character\nCurrent activity: hiking\nRequest: a selfie',
    );
  });
});
