import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { characterSchema } from '../../src/characters/index.js';
import { serviceConfigSchema } from '../../src/config/index.js';
import { VisualPromptComposer, type LlmConfig } from '../../src/prompts/index.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';

const nova = characterSchema.parse({
  id: 'nova',
  name: 'Nova',
  visual_identity: {
    default_workflow: 'nova_portrait',
    prompt_context: 'silver-streaked dark hair, hazel eyes, blue knit sweater',
    trigger_words: ['nova_character'],
    negative_prompt: 'blurry, lowres',
  },
});

let server: FakeOpenAiServer;
const llmConfig = (overrides: Partial<LlmConfig> = {}): LlmConfig =>
  ({ ...serviceConfigSchema.parse({}).llm, base_url: server.baseUrl, model: 'test-model', timeout_ms: 2000, retries: 1, ...overrides }) as LlmConfig;

beforeAll(async () => {
  server = await startFakeOpenAiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

describe('VisualPromptComposer against an OpenAI-compatible server', () => {
  it('uses a normal reply and records model, messages, raw reply and cleaning', async () => {
    server.script({ content: 'Prompt: "nova_character, reading under a lamp, warm light"', model: 'llama-x' });
    const composer = new VisualPromptComposer(llmConfig({ api_key: 'sk-test' }));
    const result = await composer.compose({ userRequest: 'reading a book', activity: 'relaxing at home', character: nova });

    expect(result.source).toBe('llm');
    expect(result.prompt).toBe('nova_character, reading under a lamp, warm light');
    expect(result.model).toBe('llama-x');
    expect(result.rawReply).toContain('Prompt:');
    expect(result.cleaning).toEqual(expect.arrayContaining(['removed "Prompt:" prefix', 'removed wrapping quotes']));
    expect(result.negative).toBe('blurry, lowres'); // the character's, since the model gave none
    expect(result.components).toEqual({ user: 'reading a book', character_triggers: ['nova_character'], activity: 'relaxing at home' });

    const sent = server.requests[0]!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    expect(sent.body.model).toBe('test-model');
    expect(sent.body.messages).toEqual(result.messages);
    expect(sent.body.messages[1].content).toContain('relaxing at home');
    expect(sent.body.messages[1].content).toContain('silver-streaked dark hair');
  });

  it('reads a JSON reply with prompt, negative and reasoning', async () => {
    server.script({ content: '```json\n{"prompt": "nova_character on a rooftop at night", "negative": "daylight", "reasoning": "she said stars"}\n```' });
    const result = await new VisualPromptComposer(llmConfig()).compose({ userRequest: 'stargazing', character: nova });
    expect(result).toMatchObject({ source: 'llm', prompt: 'nova_character on a rooftop at night', negative: 'daylight', reasoning: 'she said stars' });
    expect(result.cleaning).toEqual(expect.arrayContaining(['removed code fence', 'read JSON reply']));
  });

  it('adds the trigger words when the model forgot them', async () => {
    server.script({ content: 'a woman with silver hair in a library' });
    const result = await new VisualPromptComposer(llmConfig()).compose({ userRequest: 'library', character: nova });
    expect(result.source).toBe('llm');
    expect(result.prompt).toBe('nova_character, a woman with silver hair in a library');
    expect(result.cleaning).toContain('added trigger words: nova_character');
  });

  it('falls back to the template when the reply is slow (timeout), after retrying', async () => {
    server.script({ hang: true });
    const started = Date.now();
    const result = await new VisualPromptComposer(llmConfig({ timeout_ms: 150, retries: 1 })).compose({ userRequest: 'at the beach', character: nova });
    expect(result.source).toBe('template');
    expect(result.fallbackReason).toMatch(/timed out after 150 ms/);
    expect(result.attempts).toBe(2);
    expect(server.requests).toHaveLength(2);
    expect(result.prompt.startsWith('nova_character, at the beach')).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('falls back to the template on a garbage reply, and fails when strict', async () => {
    server.script({ content: '{"choices": "nope"}' });
    const composer = new VisualPromptComposer(llmConfig({ retries: 0 }));
    const result = await composer.compose({ userRequest: 'cooking', character: nova });
    expect(result.source).toBe('template');
    expect(result.rawReply).toBe('{"choices": "nope"}');
    expect(result.fallbackReason).toMatch(/no usable prompt/);

    server.script({ status: 200, body: '<html>not an API</html>' });
    await expect(composer.compose({ userRequest: 'cooking', character: nova, strict: true })).rejects.toMatchObject({ code: 'PROMPT_GENERATION_FAILED' });
  });

  it('recovers on the retry when the first answer is an HTTP error', async () => {
    server.script({ status: 500, body: 'model loading' }, { content: 'nova_character cooking pasta' });
    const result = await new VisualPromptComposer(llmConfig({ retries: 1 })).compose({ userRequest: 'cooking', character: nova });
    expect(result).toMatchObject({ source: 'llm', prompt: 'nova_character cooking pasta', attempts: 2 });
  });

  it('cuts an over-long reply to llm.max_prompt_chars, keeping the trigger words it put at the end, and records the cut', async () => {
    const reply = `${'a woman reading in a quiet library, '.repeat(10)}nova_character`;
    server.script({ content: reply });
    const result = await new VisualPromptComposer(llmConfig({ max_prompt_chars: 120 })).compose({ userRequest: 'library', character: nova });
    expect(result.source).toBe('llm');
    expect(result.prompt.length).toBeLessThanOrEqual(120);
    expect(result.prompt).toMatch(/^nova_character, a woman reading in a quiet library/);
    expect(result.truncation).toMatchObject({ max_chars: 120, full_chars: reply.length });
  });

  it('caps the template at llm.max_prompt_chars even with no base_url', async () => {
    const result = await new VisualPromptComposer({ ...serviceConfigSchema.parse({}).llm, max_prompt_chars: 150 }).compose({
      userRequest: 'please draw '.repeat(50),
      character: nova,
    });
    expect(result.source).toBe('template');
    expect(result.prompt.length).toBeLessThanOrEqual(150);
    expect(result.prompt).toContain('nova_character');
    expect(result.truncation?.max_chars).toBe(150);
  });

  it('uses the caller prompt as it is, without asking the LLM', async () => {
    const result = await new VisualPromptComposer(llmConfig()).compose({
      userRequest: 'x',
      character: nova,
      prompt: 'exactly "this"\nprompt',
      negative: 'nothing',
    });
    expect(result).toMatchObject({ source: 'caller', prompt: 'exactly "this"\nprompt', negative: 'nothing' });
    expect(server.requests).toHaveLength(0);
  });

  it('uses the template without an LLM, and refuses strict requests then', async () => {
    const composer = new VisualPromptComposer(serviceConfigSchema.parse({}).llm);
    const result = await composer.compose({ userRequest: 'a selfie', character: nova });
    expect(result.source).toBe('template');
    expect(result.fallbackReason).toMatch(/no LLM configured/);
    await expect(composer.compose({ userRequest: 'a selfie', character: nova, strict: true })).rejects.toMatchObject({ code: 'PROMPT_GENERATION_FAILED' });
  });
});
