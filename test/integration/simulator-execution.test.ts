import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

let sim: SimulatorHandle;
let socket: RecordingSocket;

beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 0, nodeDelayMs: 0 });
  socket = await RecordingSocket.open(sim.url, 'client-x');
});
afterEach(async () => {
  await socket.close();
  await sim.close();
});

async function submit(prompt: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: 'client-x', ...extra }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function run(prompt: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { body } = await submit(prompt, extra);
  const promptId = String(body['prompt_id']);
  await socket.waitForEnd(promptId);
  const history = (await (await fetch(`${sim.url}/history/${promptId}`)).json()) as Record<string, any>;
  return { promptId, messages: socket.forPrompt(promptId), entry: history[promptId] };
}

const simple = (color: number, prefix = 'sim') => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 48, height: 32, batch_size: 1, color } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

describe('simulator execution', () => {
  it('sends the recorded success order and stores the history entry before the end marker', async () => {
    const { promptId, messages, entry } = await run(simple(0xff0000));
    expect(messages.map((m) => m.type)).toEqual([
      'execution_start',
      'execution_cached',
      'progress_state',
      'executing',
      'progress_state',
      'progress_state',
      'executing',
      'executed',
      'progress_state',
      'execution_success',
      'executing',
    ]);
    const kinds = socket.kinds();
    expect(kinds.slice(-3)).toEqual(['execution_success', 'status', 'executing']);
    expect(entry.status).toMatchObject({ status_str: 'success', completed: true });
    expect(entry.outputs['2'].images).toEqual([{ filename: 'sim_00001_.png', subfolder: '', type: 'output' }]);
    expect(entry.meta['2']).toEqual({ node_id: '2', display_node: '2', parent_node: null, real_node_id: '2' });
    expect(sim.stats().executions[promptId]).toBe(1);
  });

  it('writes a PNG of the requested size and colour', async () => {
    await run(simple(0x00ff00, 'green'));
    const png = PNG.sync.read(await readFile(join(sim.outputDir, 'green_00001_.png')));
    expect([png.width, png.height]).toEqual([48, 32]);
    expect([...png.data.subarray(0, 4)]).toEqual([0, 255, 0, 255]);
  });

  it('replays executed from cache for an identical prompt without writing a file', async () => {
    const first = await run(simple(0x123456, 'cached'));
    const second = await run(simple(0x123456, 'cached'));
    expect(second.messages.map((m) => m.type)).toEqual(['execution_start', 'execution_cached', 'executed', 'progress_state', 'execution_success', 'executing']);
    expect(second.messages[1]!.data['nodes']).toEqual(['1', '2']);
    expect(second.entry.outputs).toEqual(first.entry.outputs);
    expect((await readdir(sim.outputDir)).filter((f) => f.startsWith('cached'))).toEqual(['cached_00001_.png']);
    const third = await run(simple(0x123456, 'cached_b'));
    expect(third.messages[1]!.data['nodes']).toEqual(['1']);
    expect(third.entry.outputs['2'].images[0].filename).toBe('cached_b_00001_.png');
  });

  it('runs everything again after POST /free {free_memory}', async () => {
    await run(simple(7, 'freed'));
    await fetch(`${sim.url}/free`, { method: 'POST', body: JSON.stringify({ free_memory: true }) });
    const again = await run(simple(7, 'freed'));
    expect(again.messages[1]!.data['nodes']).toEqual([]);
    expect(again.entry.outputs['2'].images[0].filename).toBe('freed_00002_.png');
  });

  it('saves batches into the prefix subfolder and previews into temp, output node first', async () => {
    const { messages, entry } = await run({
      '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 2, color: 1 } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'a/b_' } },
      '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    });
    expect(messages.filter((m) => m.type === 'executing' && m.data['node'] !== null).map((m) => m.data['node'])).toEqual(['1', '4', '2', '3']);
    expect(entry.outputs['3'].images.map((i: any) => [i.filename, i.subfolder])).toEqual([
      ['b__00001_.png', 'a'],
      ['b__00002_.png', 'a'],
    ]);
    expect(entry.outputs['4'].images[0].filename).toMatch(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/);
    const inverted = PNG.sync.read(await readFile(join(sim.outputDir, 'a', 'b__00001_.png')));
    expect([...inverted.data.subarray(0, 3)]).toEqual([255, 255, 254]);
  });

  it('ticks progress for KSampler steps and decodes a picture of the latent size', async () => {
    const { messages, entry } = await run({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['1', 1] } },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['1', 1] } },
      '4': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 96, batch_size: 1 } },
      '5': {
        class_type: 'KSampler',
        inputs: {
          model: ['1', 0],
          seed: 42,
          steps: 3,
          cfg: 7,
          sampler_name: 'euler',
          scheduler: 'normal',
          positive: ['2', 0],
          negative: ['3', 0],
          latent_image: ['4', 0],
          denoise: 1,
        },
      },
      '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
      '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'model' } },
    });
    expect(messages.filter((m) => m.type === 'progress').map((m) => [m.data['value'], m.data['max'], m.data['node']])).toEqual([
      [1, 3, '5'],
      [2, 3, '5'],
      [3, 3, '5'],
    ]);
    expect(socket.frames.filter((f) => f.kind === 'binary' && f.event === 1)).toHaveLength(3);
    const png = PNG.sync.read(await readFile(join(sim.outputDir, entry.outputs['7'].images[0].filename)));
    expect([png.width, png.height]).toEqual([64, 96]);
  });

  it('reports a runtime error with the recorded fields and keeps finished outputs', async () => {
    await fetch(`${sim.url}/upload/image`, {
      method: 'POST',
      body: (() => {
        const f = new FormData();
        f.append('image', new Blob(['nope']), 'broken.png');
        return f;
      })(),
    });
    const { messages, entry } = await run({
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      '3': { class_type: 'LoadImage', inputs: { image: 'broken.png' } },
      '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'never' } },
    });
    const error = messages.find((m) => m.type === 'execution_error')!;
    expect(Object.keys(error.data).sort()).toEqual(
      [
        'current_inputs',
        'current_outputs',
        'exception_message',
        'exception_type',
        'executed',
        'node_id',
        'node_type',
        'prompt_id',
        'timestamp',
        'traceback',
      ].sort(),
    );
    expect(error.data).toMatchObject({
      node_id: '3',
      node_type: 'LoadImage',
      exception_type: 'PIL.UnidentifiedImageError',
      current_inputs: { image: ['broken.png'] },
    });
    expect(messages.some((m) => m.type === 'execution_success')).toBe(false);
    expect(entry.status.status_str).toBe('error');
    expect(Object.keys(entry.outputs)).toEqual(['2']);
  });

  it('reports media outputs in the recorded shapes with the right magic bytes', async () => {
    const video = await run({
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 4, color: 0 } },
      '2': { class_type: 'CreateVideo', inputs: { images: ['1', 0], fps: 8 } },
      '3': { class_type: 'SaveVideo', inputs: { video: ['2', 0], filename_prefix: 'video/clip', format: 'auto', codec: 'auto' } },
    });
    expect(video.entry.outputs['3']).toEqual({ images: [{ filename: 'clip_00001_.mp4', subfolder: 'video', type: 'output' }], animated: [true] });
    const audio = await run({
      '1': { class_type: 'EmptyAudio', inputs: { duration: 1, sample_rate: 44100, channels: 1 } },
      '2': { class_type: 'SaveAudioMP3', inputs: { audio: ['1', 0], filename_prefix: 'audio/voice', quality: 'V0' } },
    });
    expect(audio.entry.outputs['2']).toEqual({ audio: [{ filename: 'voice_00001_.mp3', subfolder: 'audio', type: 'output' }] });
    const res = await fetch(`${sim.url}/view?filename=voice_00001_.mp3&subfolder=audio&type=output`);
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 3)
        .toString(),
    ).toBe('ID3');
    const mp4 = await readFile(join(sim.outputDir, 'video', 'clip_00001_.mp4'));
    expect(mp4.subarray(4, 8).toString()).toBe('ftyp');
  });

  it('sends GetImageSize text to every socket and PreviewAny text output', async () => {
    const other = await RecordingSocket.open(sim.url, 'someone-else');
    const { entry } = await run({
      '1': { class_type: 'EmptyImage', inputs: { width: 40, height: 30, batch_size: 2, color: 0 } },
      '2': { class_type: 'GetImageSize', inputs: { image: ['1', 0] } },
      '3': { class_type: 'PreviewAny', inputs: { source: ['2', 0] } },
    });
    expect(entry.outputs['3']).toEqual({ text: ['40'] });
    const text = (await other.waitFor((f) => f.kind === 'binary' && f.event === 3)) as { bytes: Buffer };
    expect(text.bytes.subarray(9).toString()).toBe('width: 40, height: 30\n batch size: 2');
    await other.close();
  });

  it('sends metadata previews (event 4) to a socket that negotiated feature flags', async () => {
    const negotiated = await RecordingSocket.open(sim.url, 'neo');
    negotiated.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    await negotiated.waitFor((f) => f.kind === 'text' && f.type === 'feature_flags');
    const res = await fetch(`${sim.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({
        client_id: 'neo',
        prompt: {
          '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
          '2': { class_type: 'ProtocolProbeProgress', inputs: { image: ['1', 0], steps: 2, delay: 0, send_preview: true } },
          '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'probe' } },
        },
      }),
    });
    const { prompt_id } = (await res.json()) as { prompt_id: string };
    await negotiated.waitForEnd(prompt_id);
    const kinds = negotiated.kinds();
    expect(kinds.filter((k) => k.startsWith('binary'))).toEqual(['binary:4', 'binary:4']);
    expect(kinds[kinds.indexOf('binary:4') + 1]).toBe('progress');
    await negotiated.close();
  });
});
