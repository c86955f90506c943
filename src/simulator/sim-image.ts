/**
 * Pictures flowing between simulated nodes. Most are one solid colour (EmptyImage, decoded
 * latents), kept as a colour so that nothing is rendered until a file is saved, and the PNG for a
 * size+colour is encoded once and reused: benchmarks push thousands of prompts through.
 */
import { PNG } from 'pngjs';
import { encodeSolidPng } from './solid-png-encoder.js';

export type SimFrame =
  | { kind: 'solid'; width: number; height: number; color: number } // 0xRRGGBB
  | { kind: 'pixels'; width: number; height: number; rgba: Buffer };

export interface SimImageBatch {
  type: 'IMAGE';
  frames: SimFrame[];
}

export function solidBatch(width: number, height: number, count: number, color: number): SimImageBatch {
  const frame: SimFrame = { kind: 'solid', width, height, color: color & 0xffffff };
  return { type: 'IMAGE', frames: Array.from({ length: Math.max(1, count) }, () => frame) };
}

export function isImageBatch(value: unknown): value is SimImageBatch {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'IMAGE';
}

function solidRgba(width: number, height: number, color: number): Buffer {
  const rgba = Buffer.allocUnsafe(width * height * 4);
  const r = (color >> 16) & 255,
    g = (color >> 8) & 255,
    b = color & 255;
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = r;
    rgba[i + 1] = g;
    rgba[i + 2] = b;
    rgba[i + 3] = 255;
  }
  return rgba;
}

export function frameRgba(frame: SimFrame): Buffer {
  return frame.kind === 'pixels' ? frame.rgba : solidRgba(frame.width, frame.height, frame.color);
}

export function encodePng(width: number, height: number, rgba: Buffer): Buffer {
  const png = new PNG({ width, height });
  rgba.copy(png.data);
  return PNG.sync.write(png);
}

const solidPngCache = new Map<string, Buffer>();
const solidPngCacheLimit = 256;

/** The PNG bytes of a frame; solid frames are cached by size and colour. */
export async function framePng(frame: SimFrame): Promise<Buffer> {
  if (frame.kind === 'pixels') return encodePng(frame.width, frame.height, frame.rgba);
  const key = `${frame.width}x${frame.height}#${frame.color}`;
  let png = solidPngCache.get(key);
  if (!png) {
    png = await encodeSolidPng(frame.width, frame.height, frame.color);
    if (solidPngCache.size >= solidPngCacheLimit) solidPngCache.clear();
    solidPngCache.set(key, png);
  }
  return png;
}

export function decodePng(bytes: Buffer): SimFrame {
  const png = PNG.sync.read(bytes);
  return { kind: 'pixels', width: png.width, height: png.height, rgba: png.data };
}

export function invertFrame(frame: SimFrame): SimFrame {
  if (frame.kind === 'solid') return { ...frame, color: ~frame.color & 0xffffff };
  const rgba = Buffer.from(frame.rgba);
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = 255 - rgba[i]!;
    rgba[i + 1] = 255 - rgba[i + 1]!;
    rgba[i + 2] = 255 - rgba[i + 2]!;
  }
  return { ...frame, rgba };
}

/** Nearest-neighbour resize: ImageScale's method does not matter for a simulator's pictures. */
export function scaleFrame(frame: SimFrame, width: number, height: number): SimFrame {
  if (frame.kind === 'solid') return { ...frame, width, height };
  const rgba = Buffer.allocUnsafe(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(frame.height - 1, Math.floor((y * frame.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(frame.width - 1, Math.floor((x * frame.width) / width));
      frame.rgba.copy(rgba, (y * width + x) * 4, (sy * frame.width + sx) * 4, (sy * frame.width + sx) * 4 + 4);
    }
  }
  return { kind: 'pixels', width, height, rgba };
}

/** A tiny PNG used as the sampler preview in binary frames (format 2 = PNG). */
let previewPng: Buffer | null = null;
export function samplerPreviewPng(): Buffer {
  previewPng ??= encodePng(8, 8, solidRgba(8, 8, 0x808080));
  return previewPng;
}
