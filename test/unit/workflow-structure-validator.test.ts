import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../../src/comfy/backend-port.js';
import { parseWorkflowJson, validateStructure } from '../../src/workflows/index.js';

/** A small valid image graph; each test breaks one thing. */
function goodGraph(): ApiPrompt {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
    '2': { class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: ['1', 1] } },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: 'NEGATIVE_PLACEHOLDER', clip: ['1', 1] } },
    '4': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '5': {
      class_type: 'KSampler',
      inputs: {
        model: ['1', 0],
        seed: 'SEED_PLACEHOLDER',
        steps: 20,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        positive: ['2', 0],
        negative: ['3', 0],
        latent_image: ['4', 0],
        denoise: 1,
      },
    },
    '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
    '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'x' } },
  };
}

const rules = (graph: ApiPrompt) => validateStructure(graph).errors.map((e) => e.rule);

describe('validateStructure', () => {
  it('accepts a well-formed graph and lists its placeholders', () => {
    const report = validateStructure(goodGraph());
    expect(report.ok).toBe(true);
    expect(report.errors).toEqual([]);
    expect(report.placeholders.map((p) => [p.token, p.nodeId, p.input])).toEqual([
      ['PROMPT_PLACEHOLDER', '2', 'text'],
      ['NEGATIVE_PLACEHOLDER', '3', 'text'],
      ['SEED_PLACEHOLDER', '5', 'seed'],
    ]);
  });

  it('rule link_target_missing: a link to a node that does not exist', () => {
    const g = goodGraph();
    g['6']!.inputs.vae = ['99', 2];
    const report = validateStructure(g);
    expect(report.errors).toEqual([expect.objectContaining({ rule: 'link_target_missing', nodeId: '6', input: 'vae' })]);
  });

  it('rule link_output_invalid: a negative or fractional output index', () => {
    const g = goodGraph();
    g['6']!.inputs.vae = ['1', -1];
    expect(rules(g)).toEqual(['link_output_invalid']);
    g['6']!.inputs.vae = ['1', 1.5];
    expect(rules(g)).toEqual(['link_output_invalid']);
  });

  it('rule no_output_node: nothing saves or previews', () => {
    const g = goodGraph();
    delete g['7'];
    expect(rules(g)).toEqual(['no_output_node']);
  });

  it('rule prompt_placeholder_missing: an image workflow without a prompt placeholder', () => {
    const g = goodGraph();
    g['2']!.inputs.text = 'a fixed prompt';
    expect(rules(g)).toEqual(['prompt_placeholder_missing']);
  });

  it('rule text_placeholder_missing: an audio workflow without __CHORUS_TEXT__', () => {
    const g: ApiPrompt = {
      '1': { class_type: 'EmptyAudio', inputs: { duration: 1, sample_rate: 44100, channels: 1 } },
      '2': { class_type: 'SaveAudio', inputs: { audio: ['1', 0], filename_prefix: 'audio/x' } },
    };
    expect(rules(g)).toEqual(['text_placeholder_missing']);
  });

  it('rule misspelt_placeholder: a near-miss spelling is named with the token it was meant to be', () => {
    const g = goodGraph();
    g['3']!.inputs.text = 'NEGATIVE_PLACEHOLDR, __CHORUS_NEGATIV__';
    expect(validateStructure(g).errors.map((e) => [e.rule, e.suggestion])).toEqual([
      ['misspelt_placeholder', 'did you mean "NEGATIVE_PLACEHOLDER"?'],
      ['misspelt_placeholder', 'did you mean "__CHORUS_NEGATIVE__"?'],
    ]);
    g['3']!.inputs.text = 'PROMPT_PLACEHOLDR';
    expect(validateStructure(g).errors[0]).toMatchObject({ rule: 'misspelt_placeholder', nodeId: '3', message: expect.stringContaining('PROMPT_PLACEHOLDER') });
    // Ordinary prompt words and embedded known tokens are not mistaken for one.
    g['3']!.inputs.text = 'blurry, low_quality, EXTRA_FINGERS, xNEGATIVE_PLACEHOLDER';
    expect(rules(g)).toEqual([]);
  });

  it('rule unknown_placeholder: a token-shaped word far from every token would reach ComfyUI', () => {
    const g = goodGraph();
    g['3']!.inputs.text = 'NEG_PLACEHOLDER';
    expect(validateStructure(g).errors[0]).toMatchObject({ rule: 'unknown_placeholder', nodeId: '3', input: 'text' });
  });

  it('rule cycle: nodes feeding each other', () => {
    const g = goodGraph();
    g['4'] = { class_type: 'LatentUpscale', inputs: { samples: ['5', 0] } };
    expect(rules(g)).toContain('cycle');
  });

  it('rule metadata_node_missing: a Chorus Engine metadata block naming an absent node', () => {
    const g = goodGraph();
    g['2']!.inputs.text = 'fixed';
    const json = { ...g, metadata: { prompt_node_id: '42' } };
    const def = parseWorkflowJson('meta', '/x/meta.json', json);
    expect(validateStructure(def).errors.map((e) => e.rule)).toEqual(['prompt_placeholder_missing', 'metadata_node_missing']);
  });

  it('rule metadata_node_unusable: the named node has no input to fill', () => {
    const g = goodGraph();
    g['5']!.inputs.seed = 3;
    const def = parseWorkflowJson('meta2', '/x/meta2.json', { ...g, metadata: { seed_node_id: '7' } });
    expect(validateStructure(def).errors).toEqual([expect.objectContaining({ rule: 'metadata_node_unusable', nodeId: '7' })]);
  });

  it('warns when the seed is fixed', () => {
    const g = goodGraph();
    g['5']!.inputs.seed = 42;
    const report = validateStructure(g);
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.rule)).toEqual(['seed_fixed']);
  });

  it('uses the metadata block when a Chorus Engine workflow has no tokens', () => {
    const g = goodGraph();
    g['2']!.inputs.text = 'old prompt';
    g['3']!.inputs.text = 'old negative';
    g['5']!.inputs.seed = 7;
    const def = parseWorkflowJson('legacy', '/x/legacy.json', { ...g, metadata: { prompt_node_id: '2', negative_prompt_node_id: 3, seed_node_id: '5' } });
    expect(def.placeholders).toEqual([
      { token: null, key: 'prompt', nodeId: '2', input: 'text', kind: 'metadata' },
      { token: null, key: 'negative', nodeId: '3', input: 'text', kind: 'metadata' },
      { token: null, key: 'seed', nodeId: '5', input: 'seed', kind: 'metadata' },
    ]);
    expect(validateStructure(def).ok).toBe(true);
    expect(def.graph).not.toHaveProperty('metadata');
  });

  it('infers the type from the save nodes unless declared', () => {
    const video = parseWorkflowJson('v', '/v.json', { ...goodGraph(), '7': { class_type: 'SaveAnimatedWEBP', inputs: { images: ['6', 0] } } });
    expect(video.type).toBe('video');
    expect(parseWorkflowJson('i', '/i.json', goodGraph()).type).toBe('image');
    expect(parseWorkflowJson('d', '/d.json', { ...goodGraph(), metadata: { type: 'video' } }).type).toBe('video');
  });

  it('reads the debug facts: checkpoint, LoRAs, sampler, size', () => {
    const g = goodGraph();
    g['8'] = { class_type: 'LoraLoader', inputs: { model: ['1', 0], clip: ['1', 1], lora_name: 'x.safetensors', strength_model: 0.6, strength_clip: 1 } };
    const def = parseWorkflowJson('f', '/f.json', g);
    expect(def.facts).toEqual({
      checkpoints: ['sd_xl_base_1.0.safetensors'],
      loras: [{ name: 'x.safetensors', strength: 0.6, nodeId: '8' }],
      sampler: { name: 'euler', scheduler: 'normal', steps: 20, cfg: 7 },
      size: { width: 512, height: 512 },
    });
  });

  it('refuses files that are not a graph of nodes', () => {
    expect(() => parseWorkflowJson('a', '/a.json', [1, 2])).toThrow(expect.objectContaining({ code: 'WORKFLOW_INVALID' }));
    expect(() => parseWorkflowJson('b', '/b.json', { '1': { inputs: {} } })).toThrow(/"1" is not a node/);
    expect(() => parseWorkflowJson('c', '/c.json', {})).toThrow(/no nodes/);
  });

  it('freezes the parsed graph so no caller can change the library copy', () => {
    const def = parseWorkflowJson('g', '/g.json', goodGraph());
    expect(() => {
      (def.graph['2']!.inputs as Record<string, unknown>).text = 'changed';
    }).toThrow(TypeError);
  });
});
