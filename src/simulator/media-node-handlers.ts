/**
 * Video and audio save nodes, in the shapes recorded in T18: video files under `images` with
 * `animated: [true]`, audio under `audio`. The bytes start with each format's magic so a
 * collector that sniffs content classifies them right; WebM and FLAC are real playable media,
 * the other formats only their magic.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { num, str, type NodeHandler, type NodeRunContext } from './node-run-context.js';
import { isImageBatch } from './sim-image.js';

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

const magic: Record<string, Buffer> = {
  webp: Buffer.concat([Buffer.from('RIFF'), le32(22), Buffer.from('WEBPVP8X'), le32(10), Buffer.from([0x02, 0, 0, 0, 0x3f, 0, 0, 0x3f, 0, 0])]),
  mp4: Buffer.concat([
    Buffer.from([0, 0, 0, 0x20]),
    Buffer.from('ftypisom'),
    Buffer.from([0, 0, 2, 0]),
    Buffer.from('isomiso2avc1mp41'),
    Buffer.from([0, 0, 0, 8]),
    Buffer.from('free'),
  ]),
  // Real, playable one-second files (made once with ffmpeg, shipped in data/): the model-free
  // video and speech workflows then deliver something a browser can play, as ComfyUI's would.
  webm: readFileSync(new URL('./data/sample-video.webm', import.meta.url)),
  flac: readFileSync(new URL('./data/sample-audio.flac', import.meta.url)),
  mp3: Buffer.concat([Buffer.from('ID3'), Buffer.from([4, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(413)]),
  opus: Buffer.concat([Buffer.from('OggS'), Buffer.alloc(24)]),
};

async function saveMedia(ctx: NodeRunContext, root: string, defaultPrefix: string, extension: string, type: string) {
  const target = ctx.namer.target(root, str(ctx.inputs['filename_prefix'], defaultPrefix));
  const filename = ctx.namer.nextName(target, extension);
  await writeFile(join(target.folder, filename), magic[extension] ?? Buffer.alloc(0));
  return { filename, subfolder: target.subfolder, type };
}

function videoNode(extension: (ctx: NodeRunContext) => string, defaultPrefix: string): NodeHandler {
  return async (ctx) => ({ outputs: [], ui: { images: [await saveMedia(ctx, ctx.dirs.output, defaultPrefix, extension(ctx), 'output')], animated: [true] } });
}

function audioNode(extension: string, temp = false): NodeHandler {
  return async (ctx) => {
    const root = temp ? ctx.dirs.temp : ctx.dirs.output;
    const prefix = temp ? `ComfyUI_temp_${ctx.tempSuffix}` : 'audio/ComfyUI';
    return { outputs: [], ui: { audio: [await saveMedia(ctx, root, prefix, extension, temp ? 'temp' : 'output')] } };
  };
}

export const mediaNodeHandlers: Record<string, NodeHandler> = {
  SaveAnimatedWEBP: videoNode(() => 'webp', 'ComfyUI'),
  SaveWEBM: videoNode(() => 'webm', 'ComfyUI'),
  SaveVideo: videoNode((ctx) => (ctx.inputs['format'] === 'webm' ? 'webm' : 'mp4'), 'video/ComfyUI'),
  SaveAudio: audioNode('flac'),
  SaveAudioMP3: audioNode('mp3'),
  SaveAudioOpus: audioNode('opus'),
  PreviewAudio: audioNode('flac', true),
  async CreateVideo(ctx) {
    const images = ctx.inputs['images'];
    const frames = isImageBatch(images) ? images.frames.length : 0;
    return { outputs: [{ type: 'VIDEO', frames, fps: num(ctx.inputs['fps'], 30) }], ui: null };
  },
  async EmptyAudio(ctx) {
    return {
      outputs: [
        {
          type: 'AUDIO',
          duration: num(ctx.inputs['duration'], 60),
          sample_rate: num(ctx.inputs['sample_rate'], 44100),
          channels: num(ctx.inputs['channels'], 2),
        },
      ],
      ui: null,
    };
  },
};
