import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../../src/comfy/backend-port.js';
import {
  injectWorkflow,
  objectInfoSchema,
  suggestNames,
  validateAgainstObjectInfo,
  validateStructure,
  WorkflowLibrary,
  type ObjectInfo,
} from '../../src/workflows/index.js';

/** The recorded 0.3.64 object_info with the model names the simulator serves filled in. */
function filledObjectInfo(): ObjectInfo {
  const info = JSON.parse(readFileSync(new URL('../../src/simulator/data/object_info-0.3.64.json', import.meta.url), 'utf8'));
  const fill = (cls: string, input: string, names: string[]) => (info[cls].input.required[input][0] = names);
  const clips = ['clip_l.safetensors', 't5xxl_fp8_e4m3fn.safetensors', 'clip_g.safetensors'];
  fill('CheckpointLoaderSimple', 'ckpt_name', ['sd_xl_base_1.0.safetensors', 'flux1-dev-fp8.safetensors', 'v1-5-pruned-emaonly.safetensors']);
  fill('UNETLoader', 'unet_name', ['flux1-dev.safetensors']);
  fill('DualCLIPLoader', 'clip_name1', clips);
  fill('DualCLIPLoader', 'clip_name2', clips);
  fill('VAELoader', 'vae_name', ['ae.safetensors', 'sdxl_vae.safetensors']);
  fill('LoraLoader', 'lora_name', [
    'nova_style_flux.safetensors',
    'nova_style_sdxl.safetensors',
    'alex_style_sdxl.safetensors',
    'detail_tweaker_xl.safetensors',
  ]);
  return objectInfoSchema.parse(info);
}

const objectInfo = filledObjectInfo();

function goodGraph(): ApiPrompt {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
    '2': {
      class_type: 'LoraLoader',
      inputs: { model: ['1', 0], clip: ['1', 1], lora_name: 'alex_style_sdxl.safetensors', strength_model: 0.7, strength_clip: 0.7 },
    },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: ['2', 1] } },
    '4': { class_type: 'EmptyLatentImage', inputs: { width: 'WIDTH_PLACEHOLDER', height: 1024, batch_size: 1 } },
    '5': {
      class_type: 'KSampler',
      inputs: {
        model: ['2', 0],
        seed: 'SEED_PLACEHOLDER',
        steps: 20,
        cfg: 'CFG_PLACEHOLDER',
        sampler_name: 'euler',
        scheduler: 'normal',
        positive: ['3', 0],
        negative: ['3', 0],
        latent_image: ['4', 0],
        denoise: 1,
      },
    },
    '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
    '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'chorus/x_SEED_PLACEHOLDER' } },
  };
}

const check = (g: ApiPrompt) => validateAgainstObjectInfo(g, objectInfo);

describe('validateAgainstObjectInfo', () => {
  it('accepts a graph the server can run, placeholders included', () => {
    const report = check(goodGraph());
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('rule unknown_class, with the closest class suggested', () => {
    const g = goodGraph();
    g['6']!.class_type = 'VAEDecod';
    const [error] = check(g).errors;
    expect(error).toMatchObject({ rule: 'unknown_class', nodeId: '6', classType: 'VAEDecod' });
    expect(error!.suggestion).toContain('"VAEDecode"');
  });

  it('rule required_input_missing', () => {
    const g = goodGraph();
    delete g['5']!.inputs.steps;
    expect(check(g).errors).toEqual([expect.objectContaining({ rule: 'required_input_missing', nodeId: '5', input: 'steps' })]);
  });

  it('rule value_not_in_list: an unknown LoRA, with the closest name suggested', () => {
    const g = goodGraph();
    g['2']!.inputs.lora_name = 'alex_style_sdxl_v2.safetensors';
    const [error] = check(g).errors;
    expect(error).toMatchObject({ rule: 'value_not_in_list', nodeId: '2', classType: 'LoraLoader', input: 'lora_name' });
    expect(error!.suggestion).toBe('did you mean "alex_style_sdxl.safetensors"?');
  });

  it('rule value_not_in_list: a sampler name in the V1 combo form and a checkpoint', () => {
    const g = goodGraph();
    g['5']!.inputs.sampler_name = 'eulr';
    g['1']!.inputs.ckpt_name = 'sdxl_base.safetensors';
    const errors = check(g).errors;
    expect(errors.map((e) => [e.nodeId, e.input])).toEqual([
      ['1', 'ckpt_name'],
      ['5', 'sampler_name'],
    ]);
    expect(errors[1]!.suggestion).toContain('"euler"');
  });

  it('reads V3 combos ("COMBO" with options)', () => {
    const g: ApiPrompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveWEBM', inputs: { images: ['1', 0], filename_prefix: 'PROMPT_PLACEHOLDER', codec: 'h264', fps: 24, crf: 32 } },
    };
    expect(check(g).errors).toEqual([expect.objectContaining({ rule: 'value_not_in_list', input: 'codec' })]);
  });

  it('rules value_smaller_than_min / value_bigger_than_max / invalid_input_type', () => {
    const g = goodGraph();
    g['4']!.inputs.height = 99999;
    g['4']!.inputs.batch_size = 0;
    g['5']!.inputs.steps = 'many';
    expect(check(g).errors.map((e) => e.rule)).toEqual(['value_bigger_than_max', 'value_smaller_than_min', 'invalid_input_type']);
  });

  it('rule link_output_invalid: an output index the source does not have', () => {
    const g = goodGraph();
    g['6']!.inputs.vae = ['1', 3];
    expect(check(g).errors).toEqual([expect.objectContaining({ rule: 'link_output_invalid', nodeId: '6', input: 'vae' })]);
  });

  it('rule return_type_mismatch: a link of the wrong type', () => {
    const g = goodGraph();
    g['6']!.inputs.vae = ['1', 1]; // CLIP into a VAE input
    expect(check(g).errors).toEqual([expect.objectContaining({ rule: 'return_type_mismatch', message: expect.stringContaining('receives CLIP') })]);
  });

  it('rule placeholder_type_mismatch: a seed placeholder must feed an INT', () => {
    const g = goodGraph();
    g['3']!.inputs.text = 'SEED_PLACEHOLDER';
    g['5']!.inputs.seed = 1;
    g['7']!.inputs.filename_prefix = 'PROMPT_PLACEHOLDER';
    expect(check(g).errors).toEqual([expect.objectContaining({ rule: 'placeholder_type_mismatch', nodeId: '3', input: 'text' })]);
  });

  it("rule no_output_node (by the server's output_node flag)", () => {
    const g = goodGraph();
    g['7']!.class_type = 'ImageInvert';
    g['7']!.inputs = { image: ['6', 0] };
    expect(check(g).errors.map((e) => e.rule)).toEqual(['no_output_node']);
  });

  it('checks character LoRAs against the server too', () => {
    const report = validateAgainstObjectInfo(goodGraph(), objectInfo, { characterLoras: [{ name: 'nova_style_flx.safetensors', strength: 1 }] });
    expect(report.errors).toEqual([expect.objectContaining({ rule: 'value_not_in_list', suggestion: 'did you mean "nova_style_flux.safetensors"?' })]);
  });

  it('suggests nothing when no name is close', () => {
    expect(suggestNames('completely_different_model.ckpt', ['ae.safetensors'])).toEqual([]);
  });
});

describe('shipped workflows', () => {
  it('all load, pass structure and object_info checks, and inject cleanly', async () => {
    const library = await WorkflowLibrary.load(new URL('../../workflows', import.meta.url).pathname);
    expect(library.problems()).toEqual([]);
    const names = library.list().map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['nova_portrait', 'alex_portrait', 'generic_portrait', 'no_model_test']));
    for (const def of library.list()) {
      expect({ name: def.name, errors: validateStructure(def).errors }).toEqual({ name: def.name, errors: [] });
      expect({ name: def.name, errors: validateAgainstObjectInfo(def.graph, objectInfo, { placeholders: def.placeholders }).errors }).toEqual({
        name: def.name,
        errors: [],
      });
      const injected = injectWorkflow(def, { prompt: 'a portrait', text: 'hello there' });
      expect({ name: def.name, errors: validateAgainstObjectInfo(injected.prompt, objectInfo).errors }).toEqual({ name: def.name, errors: [] });
    }
    expect(library.get('nova_portrait').facts.loras).toEqual([{ name: 'nova_style_flux.safetensors', strength: 0.8, nodeId: '4' }]);
    expect(library.get('no_model_tts_test').type).toBe('audio');
    expect(library.get('no_model_video_test').type).toBe('video');
  });

  it('no_model_test uses only classes whose model lists are irrelevant (runs on an empty server)', async () => {
    const library = await WorkflowLibrary.load(new URL('../../workflows', import.meta.url).pathname);
    const raw = objectInfoSchema.parse(JSON.parse(readFileSync(new URL('../../src/simulator/data/object_info-0.3.64.json', import.meta.url), 'utf8')));
    for (const name of ['no_model_test', 'no_model_video_test', 'no_model_tts_test']) {
      const def = library.get(name);
      expect(validateAgainstObjectInfo(def.graph, raw, { placeholders: def.placeholders }).errors).toEqual([]);
    }
  });
});
