/** A tiny PNG of one grey shade written into a ComfyUI output folder, and the ref ComfyUI's history would give for it. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';

/** A 4×4 PNG of one shade: different shades make different bytes (and checksums). */
export function shadedPng(shade: number): Buffer {
  const image = new PNG({ width: 4, height: 4 });
  image.data.fill(shade);
  return PNG.sync.write(image);
}

export async function writeShadedOutput(outputDir: string, filename: string, shade: number): Promise<OutputFileRef> {
  await writeFile(path.join(outputDir, filename), shadedPng(shade));
  return { nodeId: '2', key: 'images', filename, subfolder: '', type: 'output' };
}
