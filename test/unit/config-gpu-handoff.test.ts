/** The gpu_handoff and affinity keys: off by default, when_idle by default when on, checked. */
import { describe, expect, it } from 'vitest';
import { applyEnvOverrides, parseServiceConfig } from '../../src/config/index.js';
import { ollamaUrlOf } from '../../src/prompts/llm-unloader.js';

describe('config: gpu_handoff and model affinity', () => {
  it('is off by default; affinity defaults to 3 turns and 60 s', () => {
    const config = parseServiceConfig({});
    expect(config.resolvedBackends[0]?.gpu_handoff).toBeUndefined();
    expect(config.comfyui.affinity_max_skip).toBe(3);
    expect(config.comfyui.affinity_max_wait_seconds).toBe(60);
  });

  it('on a backend: free_comfyui defaults to when_idle, ollama to the configured model', () => {
    const config = parseServiceConfig({ comfyui: { backends: [{ name: 'gpu0', url: 'http://127.0.0.1:8188', gpu_handoff: { llm: 'ollama' } }] } });
    expect(config.resolvedBackends[0]?.gpu_handoff).toMatchObject({
      llm: 'ollama',
      free_comfyui: 'when_idle',
      ollama: { unload: 'configured' },
      timeout_ms: 10_000,
    });
  });

  it('the single-server form takes comfyui.gpu_handoff; with backends it is refused', () => {
    const single = parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'none', free_comfyui: 'after_each' } } });
    expect(single.resolvedBackends[0]?.gpu_handoff).toMatchObject({ llm: 'none', free_comfyui: 'after_each' });
    expect(() => parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'none' }, backends: [{ name: 'gpu0', url: 'http://127.0.0.1:8188' }] } })).toThrow(
      /set gpu_handoff on each backend/,
    );
  });

  it('llm: http needs its http block; unknown values and keys are named', () => {
    expect(() => parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'http' } } })).toThrow(/comfyui\.gpu_handoff\.http/);
    expect(() => parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'ollama', free_comfyui: 'sometimes' } } })).toThrow(/free_comfyui/);
    expect(() => parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'ollama', unlaod: true } } })).toThrow(/unlaod/);
  });

  it('is reachable through CHORUS_VISUAL_* variables', () => {
    const raw = applyEnvOverrides({}, { CHORUS_VISUAL_COMFYUI_GPU_HANDOFF_LLM: 'ollama', CHORUS_VISUAL_COMFYUI_AFFINITY_MAX_SKIP: '0' });
    const config = parseServiceConfig(raw);
    expect(config.resolvedBackends[0]?.gpu_handoff?.llm).toBe('ollama');
    expect(config.comfyui.affinity_max_skip).toBe(0);
  });

  it("Ollama's own URL comes from llm.base_url without /v1 unless set", () => {
    const handoff = parseServiceConfig({ comfyui: { gpu_handoff: { llm: 'ollama' } } }).resolvedBackends[0]!.gpu_handoff!;
    expect(ollamaUrlOf(handoff, { base_url: 'http://gpu-box:11434/v1/' })).toBe('http://gpu-box:11434');
    expect(ollamaUrlOf(handoff, {})).toBe('http://127.0.0.1:11434');
    expect(ollamaUrlOf({ ...handoff, ollama: { ...handoff.ollama, url: 'http://other:1/' } }, { base_url: 'http://x/v1' })).toBe('http://other:1');
  });
});
