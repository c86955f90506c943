import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UploadedImage } from '../../src/comfy/backend-port.js';
import { ReferenceImageUploader } from '../../src/workflows/index.js';

function fakeBackend(name: string, fail = false) {
  const uploads: { bytes: Uint8Array; filename: string }[] = [];
  return {
    name,
    uploads,
    async uploadImage(bytes: Uint8Array, filename: string): Promise<UploadedImage> {
      uploads.push({ bytes, filename });
      if (fail && uploads.length === 1) throw new Error('connection refused');
      return { name: filename, subfolder: '', type: 'input' };
    },
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chorus-ref-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ReferenceImageUploader', () => {
  it('uploads once per backend and content, and again when the content changes', async () => {
    const path = join(dir, 'face.png');
    await writeFile(path, 'image-one');
    const uploader = new ReferenceImageUploader();
    const a = fakeBackend('gpu0');
    const b = fakeBackend('gpu1');
    const first = await uploader.nameOn(a, path);
    expect(first).toMatch(/^chorus_[0-9a-f]{12}_face\.png$/);
    expect(await uploader.nameOn(a, path)).toBe(first);
    expect(a.uploads).toHaveLength(1);
    await uploader.nameOn(b, path);
    expect(b.uploads).toHaveLength(1);
    await writeFile(path, 'image-two');
    expect(await uploader.nameOn(a, path)).not.toBe(first);
    expect(a.uploads).toHaveLength(2);
  });

  it('forgets a failed upload so the next job tries again', async () => {
    const path = join(dir, 'face.png');
    await writeFile(path, 'x');
    const uploader = new ReferenceImageUploader();
    const backend = fakeBackend('gpu0', true);
    await expect(uploader.nameOn(backend, path)).rejects.toThrow('connection refused');
    await expect(uploader.nameOn(backend, path)).resolves.toMatch(/face\.png$/);
    expect(backend.uploads).toHaveLength(2);
  });
});
