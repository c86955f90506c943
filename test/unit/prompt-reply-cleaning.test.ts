import { describe, expect, it } from 'vitest';
import { characterSchema } from '../../src/characters/index.js';
import { buildPromptMessages, buildTemplatePrompt, cleanLlmReply } from '../../src/prompts/index.js';

const opts = { maxChars: 200, triggerWords: ['nova_character'] };

describe('cleanLlmReply', () => {
  it('leaves a clean reply alone', () => {
    expect(cleanLlmReply('nova_character, reading, lamp light', opts)).toEqual({
      prompt: 'nova_character, reading, lamp light',
      negative: null,
      reasoning: null,
      cleaning: [],
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

  it('respects the cap without dropping the trigger words', () => {
    const { prompt } = buildTemplatePrompt({ userRequest: 'x'.repeat(50), character: nova }, 30);
    expect(prompt).toBe('nova_character');
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
