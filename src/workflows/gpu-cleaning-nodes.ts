/**
 * Custom nodes that exist only to free GPU memory from inside a graph (ComfyUI-Easy-Use's
 * `easy cleanGpuUsed`, LayerStyle's `PurgeVRAM`, the Ollama / LM Studio unloaders, …).
 * A stock ComfyUI lacks them, so such a workflow fails validation there — truly — and
 * chorus-visual can do their job around the graph instead: GPU handoff (docs/gpu-sharing.md).
 */
const knownClasses = new Set([
  'easy cleanGpuUsed',
  'easy clearCacheAll',
  'easy clearCacheKey',
  'LayerUtility: PurgeVRAM',
  'LayerUtility: PurgeVRAM V2',
  'PurgeVRAM',
  'PurgeVRAM_V2',
  'DisTorchPurgeVRAMV2',
  'FL_UnloadAllModels',
  'UnloadAllModels',
  'UnloadModel',
  'VRAMCleanup',
]);

/** Names that say "free memory" (purge/clean/clear/free/unload + vram/gpu/memory/model) or "unload the LLM". */
const cleaningName = /(purge|clean|clear|free|unload)[\s_:-]*(all[\s_-]*)?(vram|gpu|memory|models?|cache)/i;
const llmUnloadName = /(ollama|lm[\s_-]?studio|llm).*unload|unload.*(ollama|lm[\s_-]?studio|llm)/i;

export function isGpuCleaningNode(classType: string): boolean {
  return knownClasses.has(classType) || cleaningName.test(classType) || llmUnloadName.test(classType);
}

export const gpuCleaningSuggestion =
  'This node only frees GPU memory. Remove it from the workflow (connect what it passes through directly) and turn on gpu_handoff for this backend ' +
  '(docs/gpu-sharing.md): chorus-visual unloads the LLM before each prompt and asks ComfyUI to POST /free after it, ' +
  'so the workflow runs on any ComfyUI.';
