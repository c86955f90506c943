import type { OutputFileRef, PromptOutputs } from './backend-port.js';

/**
 * Every file a prompt produced: each entry with a `filename` under every key of every node's
 * UI output. Keys vary (`images`, `gifs`, `audio`, `video`, custom ones), and video shows up
 * under `images` with `animated: [true]` beside it (§6.8), so the key is informative only.
 */
export function outputFilesOf(outputs: PromptOutputs): OutputFileRef[] {
  const files: OutputFileRef[] = [];
  for (const [nodeId, nodeOutput] of Object.entries(outputs)) {
    if (nodeOutput === null || typeof nodeOutput !== 'object') continue;
    const animated = isAnimated(nodeOutput['animated']);
    for (const [key, value] of Object.entries(nodeOutput)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        const file = fileOf(item);
        if (!file) continue;
        const ref: OutputFileRef = { nodeId, key, filename: file.filename, subfolder: file.subfolder, type: file.type };
        if (animated) ref.animated = true;
        files.push(ref);
      }
    }
  }
  return files;
}

function isAnimated(value: unknown): boolean {
  return Array.isArray(value) ? value.some((flag) => flag === true) : value === true;
}

/**
 * `{filename, subfolder?, type?}` as `outputFileSchema` (protocol/http-schemas.ts) reads it,
 * checked by hand: it runs on every item of every output list (text previews included, where
 * zod built an error per item). Test: test/unit/comfy-output-files.test.ts holds it to the schema.
 */
export function fileOf(item: unknown): { filename: string; subfolder: string; type: string } | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
  const { filename, subfolder, type } = item as Record<string, unknown>;
  if (typeof filename !== 'string') return undefined;
  if (subfolder !== undefined && subfolder !== null && typeof subfolder !== 'string') return undefined;
  if (type !== undefined && type !== null && typeof type !== 'string') return undefined;
  return { filename, subfolder: subfolder ?? '', type: type ?? 'output' };
}
