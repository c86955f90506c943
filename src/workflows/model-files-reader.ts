/**
 * The model files a graph makes ComfyUI load: checkpoint, UNet, CLIP, VAE and LoRA names, read
 * from the loader nodes' inputs. Two prompts with the same set run back to back without a
 * model swap, which is what the scheduler's model affinity looks for.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';

const modelInputs = new Set(['ckpt_name', 'unet_name', 'model_name', 'clip_name', 'clip_name1', 'clip_name2', 'clip_name3', 'vae_name', 'lora_name']);

/** Sorted and without repeats, so equal sets compare equal. */
export function modelFilesOf(graph: ApiPrompt): string[] {
  const files = new Set<string>();
  for (const node of Object.values(graph)) {
    for (const [name, value] of Object.entries(node.inputs ?? {})) {
      if (modelInputs.has(name) && typeof value === 'string' && value !== '') files.add(value);
    }
  }
  return [...files].sort();
}
