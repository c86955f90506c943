import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { classifyMedia, readImageDimensions, sniffMedia } from '../../src/files/index.js';

function png(width: number, height: number): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(200);
  return PNG.sync.write(image);
}

/** SOI, an APP0 segment, then SOF0 with height 300 and width 400. */
function jpegHeader(): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof0 = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x01, 0x90, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof0]);
}

function webpVp8x(width: number, height: number): Buffer {
  const head = Buffer.alloc(30);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(22, 4);
  head.write('WEBPVP8X', 8, 'latin1');
  head.writeUInt32LE(10, 16);
  head.writeUIntLE(width - 1, 24, 3);
  head.writeUIntLE(height - 1, 27, 3);
  return head;
}

function webpVp8l(width: number, height: number): Buffer {
  const head = Buffer.alloc(30);
  head.write('RIFF', 0, 'latin1');
  head.write('WEBPVP8L', 8, 'latin1');
  head[20] = 0x2f;
  head.writeUInt32LE(((height - 1) << 14) | (width - 1), 21);
  return head;
}

describe('classifyMedia', () => {
  it('routes by extension, case-insensitively, whatever key ComfyUI used', () => {
    expect(classifyMedia('media_vid_00001_.mp4')).toEqual({ kind: 'video', mediaType: 'video/mp4' });
    expect(classifyMedia('media_webm_00001_.WEBM')).toEqual({ kind: 'video', mediaType: 'video/webm' });
    expect(classifyMedia('media_aud_00001_.flac')).toEqual({ kind: 'audio', mediaType: 'audio/flac' });
    expect(classifyMedia('media_mp3_00001_.mp3')).toEqual({ kind: 'audio', mediaType: 'audio/mpeg' });
    expect(classifyMedia('ComfyUI_00001_.png')).toEqual({ kind: 'image', mediaType: 'image/png' });
  });

  it('keeps animated webp and gif as images (an <img> plays them)', () => {
    expect(classifyMedia('media_webp_00001_.webp')?.kind).toBe('image');
    expect(classifyMedia('anim.gif')?.kind).toBe('image');
  });

  it('returns undefined for non-media and extensionless names', () => {
    expect(classifyMedia('latent_00001_.latent')).toBeUndefined();
    expect(classifyMedia('output_0001')).toBeUndefined();
    expect(classifyMedia('.png')).toBeUndefined();
  });
});

describe('sniffMedia', () => {
  it('recognises containers from their first bytes', () => {
    expect(sniffMedia(png(2, 2))?.mediaType).toBe('image/png');
    expect(sniffMedia(jpegHeader())?.mediaType).toBe('image/jpeg');
    expect(sniffMedia(webpVp8x(8, 8))?.mediaType).toBe('image/webp');
    expect(sniffMedia(Buffer.from('fLaC\0\0\0\x22'))?.kind).toBe('audio');
    expect(sniffMedia(Buffer.from('\0\0\0\x20ftypisom'))?.mediaType).toBe('video/mp4');
    expect(sniffMedia(Buffer.from('\0\0\0\x20ftypM4A '))?.mediaType).toBe('audio/mp4');
    const wave = Buffer.from('RIFF\0\0\0\0WAVEfmt ', 'latin1');
    expect(sniffMedia(wave)?.mediaType).toBe('audio/wav');
  });

  it('returns undefined for text', () => {
    expect(sniffMedia(Buffer.from('{"samples": []}'))).toBeUndefined();
  });
});

describe('readImageDimensions', () => {
  it('reads PNG width and height from IHDR', () => {
    expect(readImageDimensions(png(37, 21))).toEqual({ width: 37, height: 21 });
  });

  it('reads JPEG size from the SOF marker behind APP segments', () => {
    expect(readImageDimensions(jpegHeader())).toEqual({ width: 400, height: 300 });
  });

  it('reads WEBP VP8X and VP8L headers', () => {
    expect(readImageDimensions(webpVp8x(640, 480))).toEqual({ width: 640, height: 480 });
    expect(readImageDimensions(webpVp8l(64, 33))).toEqual({ width: 64, height: 33 });
  });

  it('gives up on truncated or foreign data instead of guessing', () => {
    expect(readImageDimensions(png(5, 5).subarray(0, 20))).toBeUndefined();
    expect(readImageDimensions(Buffer.from('not an image at all, just text'))).toBeUndefined();
  });
});
