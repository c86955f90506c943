import { describe, expect, it } from 'vitest';
import { fileOf, outputFilesOf } from '../../src/comfy/output-files.js';
import { outputFileSchema } from '../../src/comfy/protocol/http-schemas.js';

const values: unknown[] = [undefined, null, 0, 1.5, '', 'a.png', true, [], ['a.png'], {}, { x: 1 }];

describe('output file items, checked by hand', () => {
  it('accept and read exactly what outputFileSchema does, for every combination of field values', () => {
    let accepted = 0;
    const cases: unknown[] = [...values];
    for (const filename of values) {
      for (const subfolder of values) {
        for (const type of values) {
          const item: Record<string, unknown> = { extra: 'kept' };
          if (filename !== undefined) item['filename'] = filename;
          if (subfolder !== undefined) item['subfolder'] = subfolder;
          if (type !== undefined) item['type'] = type;
          cases.push(item);
        }
      }
    }
    for (const item of cases) {
      const zod = outputFileSchema.safeParse(item);
      const hand = fileOf(item);
      expect(hand === undefined, JSON.stringify(item)).toBe(!zod.success);
      if (zod.success && hand) {
        accepted++;
        expect(hand).toEqual({ filename: zod.data.filename, subfolder: zod.data.subfolder, type: zod.data.type });
      }
    }
    expect(accepted).toBe(32); // 2 string filenames × 4 accepted subfolders (absent, null, 2 strings) × 4 types
  });

  it('lists the files of every node and key, skipping text previews and odd items', () => {
    const files = outputFilesOf({
      '2': { text: ['a prompt'] },
      '4': { images: [{ filename: 'a.png', subfolder: 'chorus', type: 'output' }, { filename: 3 }, 'b.png'], animated: [true] },
      '5': null,
    } as unknown as Parameters<typeof outputFilesOf>[0]);
    expect(files).toEqual([{ nodeId: '4', key: 'images', filename: 'a.png', subfolder: 'chorus', type: 'output', animated: true }]);
  });
});
