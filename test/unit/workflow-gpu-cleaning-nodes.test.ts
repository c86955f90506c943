/**
 * A workflow that frees the GPU from inside the graph (custom nodes a stock ComfyUI lacks)
 * still fails validation there — that is true — and the report says to remove those nodes
 * and turn on gpu_handoff instead.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ApiPrompt } from '../../src/comfy/backend-port.js';
import { objectInfoSchema, validateAgainstObjectInfo } from '../../src/workflows/index.js';
import { isGpuCleaningNode } from '../../src/workflows/gpu-cleaning-nodes.js';

const objectInfo = objectInfoSchema.parse(JSON.parse(readFileSync(new URL('../../src/simulator/data/object_info-0.3.64.json', import.meta.url), 'utf8')));

function graphWith(...extra: string[]): ApiPrompt {
  const graph: ApiPrompt = {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
    '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
  };
  for (const [i, classType] of extra.entries()) graph[`c${i}`] = { class_type: classType, inputs: { anything: ['1', 0] } };
  return graph;
}

describe('GPU-cleaning custom nodes in validation', () => {
  it('knows the common ones and leaves ordinary classes alone', () => {
    for (const name of ['easy cleanGpuUsed', 'easy clearCacheAll', 'LayerUtility: PurgeVRAM', 'Unload Ollama Model', 'FL_UnloadAllModels'])
      expect(isGpuCleaningNode(name)).toBe(true);
    for (const name of ['KSampler', 'CLIPTextEncode', 'LoraLoader', 'ImageBlur', 'easy showAnything']) expect(isGpuCleaningNode(name)).toBe(false);
  });

  it('fails, suggests gpu_handoff per node, and says once that these are the only missing classes', () => {
    const report = validateAgainstObjectInfo(graphWith('easy cleanGpuUsed', 'easy clearCacheAll'), objectInfo);
    expect(report.ok).toBe(false);
    const unknown = report.errors.filter((e) => e.rule === 'unknown_class');
    expect(unknown.map((e) => e.classType)).toEqual(['easy cleanGpuUsed', 'easy clearCacheAll']);
    for (const e of unknown) expect(e.suggestion).toMatch(/Remove it from the workflow.*gpu_handoff/);
    const note = report.warnings.find((w) => w.rule === 'gpu_cleaning_nodes');
    expect(note?.message).toContain('"easy cleanGpuUsed", "easy clearCacheAll"');
    expect(note?.suggestion).toContain('gpu_handoff');
  });

  it('gives no such note when another unknown class is missing too', () => {
    const report = validateAgainstObjectInfo(graphWith('easy cleanGpuUsed', 'SomeUpscalerPack'), objectInfo);
    expect(report.warnings.some((w) => w.rule === 'gpu_cleaning_nodes')).toBe(false);
    expect(report.errors.find((e) => e.classType === 'SomeUpscalerPack')?.suggestion).not.toContain('gpu_handoff');
  });
});
