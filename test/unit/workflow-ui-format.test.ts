import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { convertUiToApi, isUiFormat, objectInfoSchema, validateAgainstObjectInfo, WorkflowLibrary } from '../../src/workflows/index.js';

const objectInfo = (() => {
  const info = JSON.parse(readFileSync(new URL('../../src/simulator/data/object_info-0.3.64.json', import.meta.url), 'utf8'));
  info.CheckpointLoaderSimple.input.required.ckpt_name[0] = ['sd_xl_base_1.0.safetensors'];
  return objectInfoSchema.parse(info);
})();

/** What ComfyUI's "Save" writes: nodes with positional widget values, links as arrays. */
const uiWorkflow = {
  last_node_id: 12,
  last_link_id: 11,
  nodes: [
    {
      id: 4,
      type: 'CheckpointLoaderSimple',
      mode: 0,
      inputs: [],
      outputs: [
        { name: 'MODEL', type: 'MODEL', links: [1] },
        { name: 'CLIP', type: 'CLIP', links: [2, 3] },
        { name: 'VAE', type: 'VAE', links: [8] },
      ],
      widgets_values: ['sd_xl_base_1.0.safetensors'],
    },
    { id: 6, type: 'CLIPTextEncode', mode: 0, title: 'Positive', inputs: [{ name: 'clip', type: 'CLIP', link: 2 }], widgets_values: ['PROMPT_PLACEHOLDER'] },
    { id: 7, type: 'CLIPTextEncode', mode: 0, inputs: [{ name: 'clip', type: 'CLIP', link: 3 }], widgets_values: ['NEGATIVE_PLACEHOLDER'] },
    { id: 5, type: 'EmptyLatentImage', mode: 0, inputs: [], widgets_values: [768, 1024, 1] },
    {
      id: 3,
      type: 'KSampler',
      mode: 0,
      inputs: [
        { name: 'model', type: 'MODEL', link: 1 },
        { name: 'positive', type: 'CONDITIONING', link: 4 },
        { name: 'negative', type: 'CONDITIONING', link: 5 },
        { name: 'latent_image', type: 'LATENT', link: 6 },
      ],
      // seed, its "control after generate" value, steps, cfg, sampler, scheduler, denoise
      widgets_values: [156680208700286, 'randomize', 20, 8, 'euler', 'normal', 1],
    },
    {
      id: 8,
      type: 'VAEDecode',
      mode: 0,
      inputs: [
        { name: 'samples', type: 'LATENT', link: 7 },
        { name: 'vae', type: 'VAE', link: 8 },
      ],
    },
    { id: 10, type: 'Reroute', mode: 0, inputs: [{ name: '', type: '*', link: 9 }] },
    { id: 11, type: 'ImageInvert', mode: 4, inputs: [{ name: 'image', type: 'IMAGE', link: 10 }] },
    { id: 9, type: 'SaveImage', mode: 0, inputs: [{ name: 'images', type: 'IMAGE', link: 11 }], widgets_values: ['ComfyUI'] },
    { id: 12, type: 'Note', mode: 0, inputs: [], widgets_values: ['remember the LoRA'] },
  ],
  links: [
    [1, 4, 0, 3, 0, 'MODEL'],
    [2, 4, 1, 6, 0, 'CLIP'],
    [3, 4, 1, 7, 0, 'CLIP'],
    [4, 6, 0, 3, 1, 'CONDITIONING'],
    [5, 7, 0, 3, 2, 'CONDITIONING'],
    [6, 5, 0, 3, 3, 'LATENT'],
    [7, 3, 0, 8, 0, 'LATENT'],
    [8, 4, 2, 8, 1, 'VAE'],
    [9, 8, 0, 10, 0, 'IMAGE'],
    [10, 10, 0, 11, 0, 'IMAGE'],
    [11, 11, 0, 9, 0, 'IMAGE'],
  ],
  groups: [],
  config: {},
  version: 0.4,
};

describe('UI-format workflows', () => {
  it('detects the UI format and not the API format', () => {
    expect(isUiFormat(uiWorkflow)).toBe(true);
    expect(isUiFormat({ '1': { class_type: 'SaveImage', inputs: {} } })).toBe(false);
    expect(isUiFormat(null)).toBe(false);
    expect(isUiFormat({ nodes: {} })).toBe(false);
  });

  it('converts to API format: widgets by position (skipping the seed control), links through Reroute and bypassed nodes, notes dropped', () => {
    const api = convertUiToApi(uiWorkflow, objectInfo);
    expect(Object.keys(api).sort()).toEqual(['3', '4', '5', '6', '7', '8', '9']);
    expect(api['3']).toEqual({
      class_type: 'KSampler',
      inputs: {
        model: ['4', 0],
        seed: 156680208700286,
        steps: 20,
        cfg: 8,
        sampler_name: 'euler',
        scheduler: 'normal',
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
        denoise: 1,
      },
    });
    expect(api['6']).toEqual({ class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: ['4', 1] }, _meta: { title: 'Positive' } });
    expect(api['5']!.inputs).toEqual({ width: 768, height: 1024, batch_size: 1 });
    expect(api['9']!.inputs).toEqual({ images: ['8', 0], filename_prefix: 'ComfyUI' });
    expect(validateAgainstObjectInfo(api, objectInfo).errors).toEqual([]);
  });

  it('refuses a class the server does not have', () => {
    const broken = { ...uiWorkflow, nodes: [...uiWorkflow.nodes, { id: 20, type: 'MysteryNode', mode: 0, inputs: [] }] };
    expect(() => convertUiToApi(broken, objectInfo)).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID', details: { nodeId: '20', classType: 'MysteryNode' } }),
    );
  });

  describe('in the library', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'chorus-ui-'));
      await writeFile(join(dir, 'from_ui.json'), JSON.stringify(uiWorkflow));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('is refused without a backend, with how to export the API format', async () => {
      const library = await WorkflowLibrary.load(dir);
      expect(library.list()).toEqual([]);
      expect(library.problems()).toEqual([{ file: join(dir, 'from_ui.json'), reason: expect.stringMatching(/UI format.*Export \(API\)/) }]);
      // Present but unusable: admission answers WORKFLOW_INVALID, not "not found".
      expect(() => library.get('from_ui')).toThrow(expect.objectContaining({ code: 'WORKFLOW_INVALID' }));
    });

    it('is converted when /object_info is at hand', async () => {
      const library = await WorkflowLibrary.load(dir, { objectInfo });
      const def = library.get('from_ui');
      expect(def.convertedFromUi).toBe(true);
      expect(def.placeholders.map((p) => p.token)).toEqual(['PROMPT_PLACEHOLDER', 'NEGATIVE_PLACEHOLDER']);
    });
  });
});
