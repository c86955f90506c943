import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { startSimulator, simulatedModels, type SimulatorHandle } from '../../src/simulator/index.js';
import { encodePng } from '../../src/simulator/sim-image.js';

let sim: SimulatorHandle;
beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 0, nodeDelayMs: 0 });
});
afterEach(async () => {
  await sim.close();
});

function upload(name: string, bytes: Buffer, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.append('image', new Blob([bytes]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return fetch(`${sim.url}/upload/image`, { method: 'POST', body: form });
}

const red = encodePng(2, 2, Buffer.from([255, 0, 0, 128, 255, 0, 0, 128, 255, 0, 0, 128, 255, 0, 0, 128]));

describe('simulator HTTP files and info routes', () => {
  it('uploads, detects identical bytes, renames different bytes, and overwrites on request', async () => {
    const first = await upload('pic.png', red);
    expect(await first.json()).toEqual({ name: 'pic.png', subfolder: '', type: 'input' });
    expect(await (await upload('pic.png', red)).json()).toEqual({ name: 'pic.png', subfolder: '', type: 'input' });
    expect(((await (await upload('pic.png', Buffer.from('other'))).json()) as { name: string }).name).toBe('pic (1).png');
    expect(((await (await upload('pic.png', Buffer.from('third'), { overwrite: 'true' })).json()) as { name: string }).name).toBe('pic.png');
    expect((await readFile(join(sim.inputDir, 'pic.png'))).toString()).toBe('third');
    expect((await fetch(`${sim.url}/upload/image`, { method: 'POST', body: new FormData() })).status).toBe(400);
  });

  it('serves /view with media types, channels and the recorded error statuses', async () => {
    await upload('pic.png', red);
    const ok = await fetch(`${sim.url}/api/view?filename=pic.png&type=input`);
    expect([ok.status, ok.headers.get('content-type'), ok.headers.get('content-disposition')]).toEqual([200, 'image/png', 'filename="pic.png"']);
    expect(Buffer.from(await ok.arrayBuffer()).equals(red)).toBe(true);
    const alpha = PNG.sync.read(Buffer.from(await (await fetch(`${sim.url}/view?filename=pic.png&type=input&channel=a`)).arrayBuffer()));
    expect([...alpha.data.subarray(0, 4)]).toEqual([0, 0, 0, 128]);
    const status = async (q: string) => (await fetch(`${sim.url}/view${q}`)).status;
    expect(await status('')).toBe(404);
    expect(await status('?filename=missing.png')).toBe(404);
    expect(await status('?filename=../secret.png')).toBe(400);
    expect(await status('?filename=pic.png&type=bogus')).toBe(400);
    expect(await status('?filename=pic.png&type=input&subfolder=../../etc')).toBe(403);
    expect(await status('?filename=pic.png [input]')).toBe(200);
  });

  it('fills model lists into /object_info and answers {} for unknown classes', async () => {
    const ckpt = (await (await fetch(`${sim.url}/object_info/CheckpointLoaderSimple`)).json()) as any;
    expect(ckpt.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(simulatedModels.checkpoints);
    const full = (await (await fetch(`${sim.url}/object_info`)).json()) as any;
    expect(full.LoraLoader.input.required.lora_name[0]).toEqual(simulatedModels.loras);
    expect(full.DualCLIPLoader.input.required.clip_name2[0]).toEqual(simulatedModels.text_encoders);
    expect(full.VAELoader.input.required.vae_name[0]).toEqual([...simulatedModels.vae, 'pixel_space']);
    await upload('loadme.png', red);
    expect(((await (await fetch(`${sim.url}/object_info/LoadImage`)).json()) as any).LoadImage.input.required.image[0]).toEqual(['loadme.png']);
    expect(await (await fetch(`${sim.url}/object_info/NoSuchNode`)).json()).toEqual({});
  });

  it('serves system_stats, features, models, empty-bodied POSTs and the origin check', async () => {
    expect(((await (await fetch(`${sim.url}/system_stats`)).json()) as any).system.comfyui_version).toBe('0.3.64');
    expect(await (await fetch(`${sim.url}/features`)).json()).toEqual({ supports_preview_metadata: true, max_upload_size: 104857600 });
    expect(await (await fetch(`${sim.url}/models/loras`)).json()).toEqual(simulatedModels.loras);
    expect((await fetch(`${sim.url}/models/nope`)).status).toBe(404);
    for (const path of ['/queue', '/interrupt', '/free', '/history']) {
      const res = await fetch(sim.url + path, { method: 'POST', body: '{}' });
      expect([path, res.status, res.headers.get('content-type'), await res.text()]).toEqual([path, 200, 'application/octet-stream', '']);
    }
    expect((await fetch(`${sim.url}/interrupt`, { method: 'POST', body: 'null' })).status).toBe(500);
    expect((await fetch(`${sim.url}/queue`, { headers: { Origin: 'http://evil.example' } })).status).toBe(403);
  });
});
