import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../../src/comfy/backend-port.js';
import { injectWorkflow, MAX_SEED, parseWorkflowJson, type WorkflowDefinition } from '../../src/workflows/index.js';

function sdxl(tokens: { prompt: string; negative: string; seed: string }): ApiPrompt {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
    '2': {
      class_type: 'LoraLoader',
      inputs: { model: ['1', 0], clip: ['1', 1], lora_name: 'alex_style_sdxl.safetensors', strength_model: 0.7, strength_clip: 0.7 },
    },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: tokens.prompt, clip: ['2', 1] } },
    '4': { class_type: 'CLIPTextEncode', inputs: { text: tokens.negative, clip: ['2', 1] } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 'WIDTH_PLACEHOLDER', height: 'HEIGHT_PLACEHOLDER', batch_size: 1 } },
    '6': {
      class_type: 'KSampler',
      inputs: {
        model: ['2', 0],
        seed: tokens.seed,
        steps: 'STEPS_PLACEHOLDER',
        cfg: 'CFG_PLACEHOLDER',
        sampler_name: 'euler',
        scheduler: 'normal',
        positive: ['3', 0],
        negative: ['4', 0],
        latent_image: ['5', 0],
        denoise: 1,
      },
    },
    '7': { class_type: 'VAEDecode', inputs: { samples: ['6', 0], vae: ['1', 2] } },
    '8': { class_type: 'SaveImage', inputs: { images: ['7', 0], filename_prefix: 'chorus/img_SEED_PLACEHOLDER' } },
  };
}

const ours = parseWorkflowJson('ours', '/w/ours.json', sdxl({ prompt: 'PROMPT_PLACEHOLDER', negative: 'NEGATIVE_PLACEHOLDER', seed: 'SEED_PLACEHOLDER' }));
const chorus = parseWorkflowJson('chorus', '/w/chorus.json', sdxl({ prompt: '__CHORUS_PROMPT__', negative: '__CHORUS_NEGATIVE__', seed: '__CHORUS_SEED__' }));
const sizes = { steps: 25, cfg: 5.5, width: 832, height: 1216 };
const inputs = (result: { prompt: ApiPrompt }, node: string) => result.prompt[node]!.inputs;

describe('injectWorkflow', () => {
  it.each([
    ['our spelling', ours],
    ['Chorus Engine spelling', chorus],
  ])('fills every placeholder (%s), numbers as numbers', (_, def: WorkflowDefinition) => {
    const result = injectWorkflow(def, { prompt: 'a cat', negative: 'dogs', seed: 123, ...sizes });
    expect(inputs(result, '3').text).toBe('a cat');
    expect(inputs(result, '4').text).toBe('dogs');
    expect(inputs(result, '6')).toMatchObject({ seed: 123, steps: 25, cfg: 5.5 });
    expect(inputs(result, '5')).toMatchObject({ width: 832, height: 1216 });
    expect(result.seed).toBe(123);
    expect(result.injected).toMatchObject({ prompt: 'a cat', negative: 'dogs', seed: 123, steps: 25 });
    expect(result.ignored).toEqual([]);
  });

  it('coerces numeric strings for numeric placeholders and rejects non-numbers', () => {
    const result = injectWorkflow(ours, { prompt: 'x', seed: '42' as unknown as number, cfg: '7.5' as unknown as number, steps: 30, width: 512, height: 512 });
    expect(inputs(result, '6').seed).toBe(42);
    expect(inputs(result, '6').cfg).toBe(7.5);
    // The seed also sits inside a filename: there it is text.
    expect(inputs(result, '8').filename_prefix).toBe('chorus/img_42');
    expect(() => injectWorkflow(ours, { prompt: 'x', steps: 2.5 }, { defaults: sizes })).toThrow(expect.objectContaining({ code: 'INVALID_COMMAND' }));
    expect(() => injectWorkflow(ours, { prompt: 'x', seed: -1 }, { defaults: sizes })).toThrow(/between 0 and/);
    expect(() => injectWorkflow(ours, { prompt: 'x', cfg: 'lots' as unknown as number }, { defaults: sizes })).toThrow(/not a number/);
  });

  it('keeps hostile prompt text intact: quotes, backslashes, newlines, unicode', () => {
    const hostile = 'she said "hi" \\ C:\\path\\n\nnew line\t{"json": [1,2]} ünïcødé 🌸 日本語 \u0000 </script>';
    const result = injectWorkflow(ours, { prompt: hostile, negative: 'it\'s "fine"', seed: 1 }, { defaults: sizes });
    expect(inputs(result, '3').text).toBe(hostile);
    expect(inputs(result, '4').text).toBe('it\'s "fine"');
    expect(JSON.parse(JSON.stringify(result.prompt))['3'].inputs.text).toBe(hostile);
  });

  it('does not re-inject or refuse a prompt that itself contains placeholder text', () => {
    const sneaky = 'a sign reading PROMPT_PLACEHOLDER and __CHORUS_SEED__ and NEGATIVE_PLACEHOLDER';
    const embedded = parseWorkflowJson('e', '/e.json', {
      ...sdxl({ prompt: 'masterpiece, PROMPT_PLACEHOLDER, NEGATIVE_PLACEHOLDER', negative: 'NEGATIVE_PLACEHOLDER', seed: 'SEED_PLACEHOLDER' }),
    });
    const result = injectWorkflow(embedded, { prompt: sneaky, negative: 'blur', seed: 5 }, { defaults: sizes });
    expect(inputs(result, '3').text).toBe(`masterpiece, ${sneaky}, blur`);
    const exact = injectWorkflow(ours, { prompt: sneaky, seed: 5 }, { defaults: sizes });
    expect(inputs(exact, '3').text).toBe(sneaky);
  });

  it('gives a missing seed a random one in range and records it', () => {
    const a = injectWorkflow(ours, { prompt: 'x' }, { defaults: sizes });
    const b = injectWorkflow(ours, { prompt: 'x' }, { defaults: sizes });
    for (const r of [a, b]) {
      expect(Number.isSafeInteger(r.seed)).toBe(true);
      expect(r.seed).toBeGreaterThanOrEqual(0);
      expect(r.seed).toBeLessThanOrEqual(MAX_SEED);
      expect(inputs(r, '6').seed).toBe(r.seed);
    }
    expect(a.seed).not.toBe(b.seed);
  });

  it('fills a missing negative with the character default, else empty', () => {
    expect(inputs(injectWorkflow(ours, { prompt: 'x' }, { defaults: sizes, defaultNegative: 'lowres' }), '4').text).toBe('lowres');
    expect(inputs(injectWorkflow(ours, { prompt: 'x' }, { defaults: sizes }), '4').text).toBe('');
  });

  it('refuses with WORKFLOW_INVALID naming node and input when a value is missing', () => {
    expect(() => injectWorkflow(ours, { seed: 1 }, { defaults: sizes })).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID', details: { nodeId: '3', input: 'text', placeholder: 'PROMPT_PLACEHOLDER' } }),
    );
    expect(() => injectWorkflow(ours, { prompt: 'x' })).toThrow(/WIDTH_PLACEHOLDER in node 5, input "width"/);
  });

  it('refuses a graph still holding a token nobody fills', () => {
    const odd = parseWorkflowJson('odd', '/odd.json', { ...sdxl({ prompt: 'PROMPT_PLACEHOLDER', negative: 'NEG_PLACEHOLDER', seed: '1' }) });
    expect(() => injectWorkflow(odd, { prompt: 'x' }, { defaults: sizes })).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID', details: expect.objectContaining({ nodeId: '4', input: 'text' }) }),
    );
  });

  it('refuses a misspelt token even inside text it fills', () => {
    const odd = parseWorkflowJson('odd2', '/odd2.json', { ...sdxl({ prompt: 'PROMPT_PLACEHOLDER, STYLE_PLACEHOLDER', negative: 'x', seed: '1' }) });
    expect(() => injectWorkflow(odd, { prompt: 'x' }, { defaults: sizes })).toThrow(
      expect.objectContaining({ details: { nodeId: '3', input: 'text', placeholder: 'STYLE_PLACEHOLDER' } }),
    );
  });

  it('reports overrides the workflow has no placeholder for, and never mutates the library graph', () => {
    const before = JSON.stringify(ours.graph);
    const result = injectWorkflow(ours, { prompt: 'x', text: 'speak', voiceSample: 'v.wav' }, { defaults: sizes });
    expect(result.ignored).toEqual(['text', 'voiceSample']);
    expect(JSON.stringify(ours.graph)).toBe(before);
  });

  it('fills the Chorus Engine metadata-block nodes when there are no tokens', () => {
    const legacy = parseWorkflowJson('legacy', '/l.json', {
      ...sdxl({ prompt: 'old', negative: 'old neg', seed: '1' }),
      '6': {
        class_type: 'KSampler',
        inputs: {
          model: ['2', 0],
          seed: 9,
          steps: 20,
          cfg: 7,
          sampler_name: 'euler',
          scheduler: 'normal',
          positive: ['3', 0],
          negative: ['4', 0],
          latent_image: ['5', 0],
          denoise: 1,
        },
      },
      '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
      '8': { class_type: 'SaveImage', inputs: { images: ['7', 0], filename_prefix: 'x' } },
      metadata: { prompt_node_id: '3', negative_prompt_node_id: '4', seed_node_id: '6' },
    });
    const result = injectWorkflow(legacy, { prompt: 'new', negative: 'neg', seed: 77 });
    expect([inputs(result, '3').text, inputs(result, '4').text, inputs(result, '6').seed]).toEqual(['new', 'neg', 77]);
  });

  it('fills the audio tokens', () => {
    const tts = parseWorkflowJson('tts', '/t.json', {
      '1': { class_type: 'TTSNode', inputs: { text: '__CHORUS_TEXT__', voice: '__CHORUS_VOICE_SAMPLE__', transcript: '__CHORUS_VOICE_TRANSCRIPT__' } },
      '2': { class_type: 'SaveAudio', inputs: { audio: ['1', 0], filename_prefix: 'audio/x' } },
    });
    expect(tts.type).toBe('audio');
    const result = injectWorkflow(tts, { text: 'Hello, "world"', voiceSample: 'nova.wav', voiceTranscript: 'hi' });
    expect(inputs(result, '1')).toEqual({ text: 'Hello, "world"', voice: 'nova.wav', transcript: 'hi' });
    expect(result.seed).toBeNull();
  });

  it('inserts character LoRAs after the checkpoint and rewires every MODEL/CLIP consumer', () => {
    const result = injectWorkflow(
      ours,
      { prompt: 'x', seed: 1 },
      {
        defaults: sizes,
        characterLoras: [
          { name: 'detail_tweaker_xl.safetensors', strength: 0.4 },
          { name: 'alex_style_sdxl.safetensors', strength: 1 },
        ],
      },
    );
    const chain = inputs(result, 'chorus_lora_1');
    expect(chain).toMatchObject({ model: ['1', 0], clip: ['1', 1], lora_name: 'detail_tweaker_xl.safetensors', strength_model: 0.4 });
    // The workflow's own LoRA now reads from the chain; the checkpoint's VAE output is untouched.
    expect(inputs(result, '2')).toMatchObject({ model: ['chorus_lora_1', 0], clip: ['chorus_lora_1', 1] });
    expect(inputs(result, '7').vae).toEqual(['1', 2]);
    expect(result.prompt).not.toHaveProperty('chorus_lora_2'); // already in the workflow
    expect(result.lorasApplied).toEqual([
      { name: 'alex_style_sdxl.safetensors', strength: 0.7, source: 'workflow' },
      { name: 'detail_tweaker_xl.safetensors', strength: 0.4, source: 'character' },
    ]);
  });

  it('uses LoraLoader on FLUX graphs, taking CLIP from the DualCLIPLoader', () => {
    const flux = parseWorkflowJson('flux', '/f.json', {
      '1': { class_type: 'UNETLoader', inputs: { unet_name: 'flux1-dev.safetensors', weight_dtype: 'default' } },
      '2': { class_type: 'DualCLIPLoader', inputs: { clip_name1: 'clip_l.safetensors', clip_name2: 't5xxl_fp8_e4m3fn.safetensors', type: 'flux' } },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: ['2', 0] } },
      '4': { class_type: 'KSampler', inputs: { model: ['1', 0], positive: ['3', 0], seed: 1 } },
      '5': { class_type: 'SaveImage', inputs: { images: ['4', 0] } },
    });
    const result = injectWorkflow(flux, { prompt: 'x' }, { characterLoras: [{ name: 'nova_style_flux.safetensors', strength: 0.8 }] });
    expect(inputs(result, 'chorus_lora_1')).toMatchObject({ model: ['1', 0], clip: ['2', 0] });
    expect(inputs(result, '3').clip).toEqual(['chorus_lora_1', 1]);
    expect(inputs(result, '4').model).toEqual(['chorus_lora_1', 0]);
  });
});
