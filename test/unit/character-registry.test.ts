import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CharacterRegistry, type CharacterChange } from '../../src/characters/index.js';
import { WorkflowLibrary } from '../../src/workflows/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chorus-chars-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const valid = `id: mira
name: Mira
personality: kept as it is
visual_identity:
  default_workflow: generic_portrait
  prompt_context: red hair, green coat
  reference_image: refs/mira.png
  loras:
    - name: detail_tweaker_xl.safetensors
      strength: 0.5
`;

describe('CharacterRegistry', () => {
  it('loads the shipped characters, whose workflows exist', async () => {
    const workflows = await WorkflowLibrary.load(new URL('../../workflows', import.meta.url).pathname);
    const registry = await CharacterRegistry.load(new URL('../../config/characters', import.meta.url).pathname, workflows);
    expect(registry.problems()).toEqual([]);
    expect(registry.list().map((c) => c.id)).toEqual(['alex', 'nova']);
    const nova = registry.get('nova');
    expect(nova.visual_identity).toMatchObject({ default_workflow: 'nova_portrait', trigger_words: ['nova_character'] });
    expect(nova.visual_identity.negative_prompt).toBeTruthy();
  });

  it('fills defaults, keeps unknown keys and resolves the reference image beside the file', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    const registry = await CharacterRegistry.load(dir);
    const mira = registry.get('mira');
    expect(mira.visual_identity.trigger_words).toEqual([]);
    expect(mira.visual_identity.loras).toEqual([{ name: 'detail_tweaker_xl.safetensors', strength: 0.5 }]);
    expect(mira.visual_identity.reference_image).toBe(join(dir, 'refs/mira.png'));
    expect((mira as Record<string, unknown>).personality).toBe('kept as it is');
  });

  it('takes the id from the file name when the file has none (Chorus Engine style)', async () => {
    await writeFile(join(dir, 'sam.yml'), 'name: Sam\nvisual_identity:\n  default_workflow: x\n  prompt_context: tall\n');
    expect((await CharacterRegistry.load(dir)).get('sam').name).toBe('Sam');
  });

  it('reports each broken file by name and reason, loading the rest', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    await writeFile(join(dir, 'bad_yaml.yaml'), 'id: [unclosed\n');
    await writeFile(join(dir, 'no_visual.yaml'), 'id: novis\nname: No Visual\n');
    await writeFile(
      join(dir, 'bad_fields.yaml'),
      'id: Bad Id\nname: ""\nvisual_identity:\n  default_workflow: x\n  prompt_context: y\n  trigger_words: nope\n',
    );
    await writeFile(join(dir, 'dup.yaml'), valid);
    const registry = await CharacterRegistry.load(dir);
    expect(registry.list().map((c) => c.id)).toEqual(['mira']);
    const reasons = Object.fromEntries(registry.problems().map((p) => [p.file.slice(dir.length + 1), p.reason]));
    expect(reasons['bad_yaml.yaml']).toMatch(/^not valid YAML/);
    expect(reasons['no_visual.yaml']).toMatch(/^visual_identity:/);
    expect(reasons['bad_fields.yaml']).toMatch(/id: .*lower-case/);
    expect(reasons['bad_fields.yaml']).toMatch(/name: /);
    expect(reasons['bad_fields.yaml']).toMatch(/visual_identity\.trigger_words: /);
    // Files load in name order, so dup.yaml comes before mira.yaml and keeps the id.
    expect(reasons['mira.yaml']).toMatch(/already used/);
  });

  it('reports a character naming a missing workflow, still loading it', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    const registry = await CharacterRegistry.load(dir, { has: (name: string) => name === 'other' });
    expect(registry.get('mira').name).toBe('Mira');
    expect(registry.problems()).toEqual([
      {
        file: join(dir, 'mira.yaml'),
        reason: 'visual_identity.default_workflow "generic_portrait" is not in the workflow library',
        missingWorkflow: 'generic_portrait',
      },
    ]);
  });

  it('throws CHARACTER_NOT_FOUND with the known ids', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    const registry = await CharacterRegistry.load(dir);
    expect(() => registry.get('zed')).toThrow(expect.objectContaining({ code: 'CHARACTER_NOT_FOUND', details: { character: 'zed', available: ['mira'] } }));
  });

  it('follows the folder: added, edited, broken (last good kept, reported) and removed files', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    const registry = await CharacterRegistry.load(dir);
    const changes: CharacterChange[] = [];
    let notify: () => void = () => undefined;
    await registry.watch((change) => {
      changes.push(change);
      notify();
    });
    const next = (match: (c: CharacterChange) => boolean) =>
      new Promise<CharacterChange>((resolve) => {
        notify = () => {
          const found = changes.find(match);
          if (found) resolve(found);
        };
      });
    try {
      let change = next((c) => c.kind === 'loaded' && c.id === 'sam');
      await writeFile(join(dir, 'sam.yaml'), valid.replace('id: mira', 'id: sam').replace('name: Mira', 'name: Sam'));
      await change;
      expect(registry.get('sam').name).toBe('Sam');

      change = next((c) => c.kind === 'failed');
      await writeFile(join(dir, 'mira.yaml'), 'id: [half saved\n');
      expect(await change).toMatchObject({ kind: 'failed', kept: true, reason: expect.stringMatching(/^not valid YAML/) });
      expect(registry.get('mira').name).toBe('Mira');
      expect(registry.problems()).toEqual([{ file: join(dir, 'mira.yaml'), reason: expect.stringMatching(/^not valid YAML/) }]);

      change = next((c) => c.kind === 'removed');
      await unlink(join(dir, 'sam.yaml'));
      await change;
      expect(() => registry.get('sam')).toThrow(expect.objectContaining({ code: 'CHARACTER_NOT_FOUND' }));
    } finally {
      registry.close();
    }
  });

  it('suggests the closest id for a typo', async () => {
    await writeFile(join(dir, 'mira.yaml'), valid);
    const registry = await CharacterRegistry.load(dir);
    expect(() => registry.get('mirra')).toThrow(expect.objectContaining({ code: 'CHARACTER_NOT_FOUND', suggestion: 'did you mean "mira"?' }));
  });
});
