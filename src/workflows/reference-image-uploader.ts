/**
 * Uploads a character's reference image to a backend once, keyed by content hash, and
 * gives back the name ComfyUI knows it by (for REFERENCE_IMAGE_PLACEHOLDER). ComfyUI
 * itself answers identical bytes under an existing name with that name, so a repeat after
 * a restart is harmless; the cache only saves the round trip.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ComfyBackend } from '../comfy/backend-port.js';

export class ReferenceImageUploader {
  private readonly uploaded = new Map<string, Promise<string>>();

  async nameOn(backend: Pick<ComfyBackend, 'name' | 'uploadImage'>, imagePath: string): Promise<string> {
    const bytes = await readFile(imagePath);
    const hash = createHash('sha256').update(bytes).digest('hex');
    const key = `${backend.name}\u0000${hash}`;
    let pending = this.uploaded.get(key);
    if (!pending) {
      // The hash in the name keeps two different images called face.png apart.
      const name = `chorus_${hash.slice(0, 12)}_${basename(imagePath)}`;
      pending = backend.uploadImage(bytes, name).then((image) => (image.subfolder ? `${image.subfolder}/${image.name}` : image.name));
      this.uploaded.set(key, pending);
      pending.catch(() => this.uploaded.delete(key));
    }
    return pending;
  }
}
