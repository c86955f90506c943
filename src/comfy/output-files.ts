import type { OutputFileRef, PromptOutputs } from './backend-port.js';
import { outputFileSchema } from './protocol/http-schemas.js';

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
        const file = outputFileSchema.safeParse(item);
        if (!file.success) continue;
        const ref: OutputFileRef = { nodeId, key, filename: file.data.filename, subfolder: file.data.subfolder, type: file.data.type };
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
