/**
 * The simulator's model-load delay: paid when a prompt's model files differ from the previous
 * prompt's on that server (per file, `*` for the rest), not when they match, and again after
 * `POST /free {unload_models}`. This is what the affinity benchmark measures.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

let sim: SimulatorHandle;
let socket: RecordingSocket;

beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 0, nodeDelayMs: 0, previews: false, modelLoadMs: { 'sd_xl_base_1.0.safetensors': 150, '*': 10 } });
  socket = await RecordingSocket.open(sim.url, 'client-m');
});
afterEach(async () => {
  await socket.close();
  await sim.close();
});

const graph = (ckpt: string, seed: number) => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
  '2': { class_type: 'CLIPTextEncode', inputs: { text: 'x', clip: ['1', 1] } },
  '3': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
  '4': {
    class_type: 'KSampler',
    inputs: {
      model: ['1', 0],
      seed,
      steps: 1,
      cfg: 1,
      sampler_name: 'euler',
      scheduler: 'normal',
      positive: ['2', 0],
      negative: ['2', 0],
      latent_image: ['3', 0],
      denoise: 1,
    },
  },
  '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
  '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'm' } },
});

/** Runs a prompt to its end; returns how long execution took (execution_start → end). */
async function run(ckpt: string, seed: number): Promise<number> {
  const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: graph(ckpt, seed), client_id: 'client-m' }) });
  const { prompt_id: promptId } = (await res.json()) as { prompt_id: string };
  await socket.waitForEnd(promptId);
  const history = (await (await fetch(`${sim.url}/history/${promptId}`)).json()) as Record<
    string,
    { status: { messages: Array<[string, { timestamp: number }]> } }
  >;
  const messages = history[promptId]!.status.messages;
  const started = messages.find(([type]) => type === 'execution_start')![1].timestamp;
  const ended = messages.find(([type]) => type === 'execution_success')![1].timestamp;
  return ended - started;
}

describe('simulator model-load delay', () => {
  it('loads when the models differ from the previous prompt, not when they match, and after /free', async () => {
    expect(await run('sd_xl_base_1.0.safetensors', 1)).toBeGreaterThanOrEqual(150);
    expect(sim.stats()).toMatchObject({ modelLoads: 1, modelLoadMs: 150 });
    await run('sd_xl_base_1.0.safetensors', 2);
    expect(sim.stats()).toMatchObject({ modelLoads: 1, modelLoadMs: 150 });
    await run('v1-5-pruned-emaonly.safetensors', 3);
    expect(sim.stats()).toMatchObject({ modelLoads: 2, modelLoadMs: 160 });

    const free = await fetch(`${sim.url}/free`, { method: 'POST', body: JSON.stringify({ unload_models: true, free_memory: true }) });
    expect(free.status).toBe(200);
    expect(await free.text()).toBe('');
    await run('v1-5-pruned-emaonly.safetensors', 4);
    expect(sim.stats()).toMatchObject({ modelLoads: 3, modelLoadMs: 170, frees: 1 });
  });
});
