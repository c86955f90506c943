import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { NodeCatalog } from '../../src/simulator/node-catalog.js';
import { PromptValidator, UnhandledValidationCrash } from '../../src/simulator/prompt-validator.js';

const inputDir = mkdtempSync(join(tmpdir(), 'sim-validator-'));
writeFileSync(join(inputDir, 'there.png'), 'x');
afterAll(() => rmSync(inputDir, { recursive: true, force: true }));
const validator = new PromptValidator(new NodeCatalog(inputDir), inputDir);

const empty = (inputs: Record<string, unknown> = {}) => ({ class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0, ...inputs } });
const save = (from = '1', slot: unknown = 0) => ({ class_type: 'SaveImage', inputs: { images: [from, slot], filename_prefix: 'x' } });

describe('PromptValidator (validate_prompt of 0.3.64)', () => {
  it('accepts a valid prompt and coerces "8" to 8 in place', () => {
    const prompt = { '1': empty({ width: '8' }), '2': save() };
    const result = validator.validate(prompt, null);
    expect(result).toEqual({ ok: true, outputs: ['2'], nodeErrors: {} });
    expect(prompt['1'].inputs.width).toBe(8);
  });

  it('reports prompt-level errors first, in key order', () => {
    expect(validator.validate({ '1': { inputs: {} } }, null)).toMatchObject({ ok: false, error: { type: 'invalid_prompt', details: "Node ID '#1'" } });
    expect(validator.validate({ '1': { class_type: 'Nope', inputs: {} }, '2': save() }, null)).toMatchObject({
      ok: false,
      error: { message: 'Cannot execute because node Nope does not exist.' },
    });
    expect(validator.validate({ '1': empty() }, null)).toMatchObject({ ok: false, error: { type: 'prompt_no_outputs', details: '' } });
    expect(() => validator.validate([1, 2], null)).toThrow(UnhandledValidationCrash);
  });

  it('collects all errors of a node, keyed by the faulty node with every dependent output', () => {
    const result = validator.validate(
      { '1': empty({ width: 99999, height: 'abc' }), '2': save(), '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } },
      null,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toEqual({ type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} });
    const node = result.nodeErrors['1']!;
    expect(node.dependent_outputs).toEqual(['2', '3']);
    expect(node.errors.map((e) => [e.type, e.message, e.details])).toEqual([
      ['value_bigger_than_max', 'Value 99999 bigger than max of 16384', 'width'],
      ['invalid_input_type', 'Failed to convert an input value to a INT value', "height, abc, invalid literal for int() with base 10: 'abc'"],
    ]);
  });

  it('reproduces the link quirks: KeyError, IndexError, bad link, return type mismatch', () => {
    const keyError = validator.validate({ '2': save('99') }, null);
    expect(keyError).toMatchObject({
      ok: false,
      error: { details: "Exception when validating node: '99'" },
      nodeErrors: { '2': { errors: [{ type: 'exception_during_validation', details: "'99'", extra_info: { exception_type: 'KeyError' } }] } },
    });
    const indexError = validator.validate({ '1': empty(), '2': save('1', 5) }, null);
    expect(indexError).toMatchObject({
      ok: false,
      nodeErrors: { '2': { errors: [{ details: 'tuple index out of range', extra_info: { exception_type: 'IndexError' } }] } },
    });
    const badLink = validator.validate({ '1': empty(), '2': { class_type: 'SaveImage', inputs: { images: ['1'], filename_prefix: 'x' } } }, null);
    expect(badLink).toMatchObject({ ok: false, nodeErrors: { '2': { errors: [{ type: 'bad_linked_input', details: 'images' }] } } });
    const mismatch = validator.validate({ '1': empty(), '2': { class_type: 'GetImageSize', inputs: { image: ['1', 0] } }, '3': save('2') }, null);
    expect(mismatch).toMatchObject({
      ok: false,
      nodeErrors: { '3': { errors: [{ type: 'return_type_mismatch', details: 'images, received_type(INT) mismatch input_type(IMAGE)' }] } },
    });
  });

  it('checks combo lists (with the simulated models), min, and LoadImage files', () => {
    const scale = { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'bogus', width: 4, height: 4, crop: 'disabled' } };
    const notInList = validator.validate({ '1': empty(), '2': scale, '3': save('2') }, null);
    expect(notInList).toMatchObject({
      ok: false,
      nodeErrors: {
        '2': { errors: [{ type: 'value_not_in_list', details: "upscale_method: 'bogus' not in ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']" }] },
      },
    });
    const ckpt = (name: string) => ({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: name } },
      '2': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['1', 2] } },
      '3': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
      '4': save('2'),
    });
    expect(validator.validate(ckpt('sd_xl_base_1.0.safetensors'), null).ok).toBe(true);
    expect(validator.validate(ckpt('missing.safetensors'), null)).toMatchObject({
      ok: false,
      nodeErrors: { '1': { errors: [{ type: 'value_not_in_list' }] } },
    });
    expect(validator.validate({ '1': empty({ width: 0 }), '2': save() }, null)).toMatchObject({
      ok: false,
      nodeErrors: { '1': { errors: [{ type: 'value_smaller_than_min', message: 'Value 0 smaller than min of 1' }] } },
    });
    const load = (image: string) => ({ '1': { class_type: 'LoadImage', inputs: { image } }, '2': save() });
    expect(validator.validate(load('there.png'), null).ok).toBe(true);
    expect(validator.validate(load('gone.png'), null)).toMatchObject({
      ok: false,
      nodeErrors: { '1': { errors: [{ type: 'custom_validation_failed', details: 'image - Invalid image file: gone.png' }] } },
    });
  });

  it('accepts a partially valid prompt with node_errors for the dropped output', () => {
    const result = validator.validate({ '1': empty(), '2': save(), '3': { class_type: 'PreviewImage', inputs: { images: ['1', 7] } } }, null);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.outputs).toEqual(['2']);
    expect(Object.keys(result.nodeErrors)).toEqual(['3']);
  });

  it('limits outputs to partial_execution_targets', () => {
    const result = validator.validate({ '1': empty(), '2': save(), '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } }, ['3']);
    expect(result).toMatchObject({ ok: true, outputs: ['3'] });
  });
});
