/**
 * Which model files the simulated GPU holds. A prompt whose model files differ from the
 * previous prompt's loads the new ones, which costs the configured delay per file; `POST /free
 * {unload_models}` empties it (acted on between prompts, like the real worker). This is what
 * makes model swaps, and so the scheduler's model affinity, measurable without a GPU.
 */
import type { ApiPromptGraph } from './prompt-validator.js';

/** Inputs that name a model file (ComfyUI's loader nodes). */
const modelInputNames = new Set(['ckpt_name', 'unet_name', 'model_name', 'clip_name', 'clip_name1', 'clip_name2', 'clip_name3', 'vae_name', 'lora_name']);

export function modelFilesOfGraph(graph: ApiPromptGraph): string[] {
  const files = new Set<string>();
  for (const node of Object.values(graph)) {
    const inputs = (node as { inputs?: Record<string, unknown> }).inputs ?? {};
    for (const [name, value] of Object.entries(inputs)) if (modelInputNames.has(name) && typeof value === 'string') files.add(value);
  }
  return [...files].sort();
}

export interface ModelLoad {
  files: string[];
  ms: number;
}

export class ModelMemory {
  private loaded = new Set<string>();
  private unloadRequested = false;

  /** @param delays ms per model file; `*` for any file not named (absent: loading is free). */
  constructor(private readonly delays: Readonly<Record<string, number>>) {}

  requestUnload(): void {
    this.unloadRequested = true;
  }

  /** The files this prompt must load and how long that takes; they replace what was held. */
  load(files: string[]): ModelLoad {
    if (this.unloadRequested) {
      this.unloadRequested = false;
      this.loaded.clear();
    }
    const missing = files.filter((file) => !this.loaded.has(file));
    const ms = missing.reduce((sum, file) => sum + (this.delays[file] ?? this.delays['*'] ?? 0), 0);
    this.loaded = new Set(files);
    return { files: missing, ms };
  }
}
