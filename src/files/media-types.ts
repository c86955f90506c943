import type { MediaKind } from '../contracts/job-view.js';

export interface MediaClass {
  kind: MediaKind;
  mediaType: string;
}

/**
 * Routing is by container type, never by ComfyUI's output key: the recordings show video
 * arriving under `images` (with `animated: [true]`) and custom nodes using `gifs`.
 *
 * Animated GIF and WEBP stay images on purpose: chat clients show them with an <img> tag,
 * which plays them, while a <video> tag cannot. The `animated` flag is kept in the sidecar.
 */
const byExtension: Record<string, MediaClass> = {
  png: { kind: 'image', mediaType: 'image/png' },
  jpg: { kind: 'image', mediaType: 'image/jpeg' },
  jpeg: { kind: 'image', mediaType: 'image/jpeg' },
  webp: { kind: 'image', mediaType: 'image/webp' },
  gif: { kind: 'image', mediaType: 'image/gif' },
  bmp: { kind: 'image', mediaType: 'image/bmp' },
  tif: { kind: 'image', mediaType: 'image/tiff' },
  tiff: { kind: 'image', mediaType: 'image/tiff' },
  avif: { kind: 'image', mediaType: 'image/avif' },
  mp4: { kind: 'video', mediaType: 'video/mp4' },
  m4v: { kind: 'video', mediaType: 'video/x-m4v' },
  webm: { kind: 'video', mediaType: 'video/webm' },
  mov: { kind: 'video', mediaType: 'video/quicktime' },
  mkv: { kind: 'video', mediaType: 'video/x-matroska' },
  avi: { kind: 'video', mediaType: 'video/x-msvideo' },
  flac: { kind: 'audio', mediaType: 'audio/flac' },
  mp3: { kind: 'audio', mediaType: 'audio/mpeg' },
  wav: { kind: 'audio', mediaType: 'audio/wav' },
  ogg: { kind: 'audio', mediaType: 'audio/ogg' },
  opus: { kind: 'audio', mediaType: 'audio/opus' },
  m4a: { kind: 'audio', mediaType: 'audio/mp4' },
  aac: { kind: 'audio', mediaType: 'audio/aac' },
};

/** The canonical extension to give a file whose own name has none we know. */
const extensionForMediaType: Record<string, string> = Object.fromEntries(
  Object.entries(byExtension)
    .filter(([ext]) => !['jpeg', 'tif', 'm4v'].includes(ext))
    .map(([ext, media]) => [media.mediaType, ext]),
);

/** Lower-case extension without the dot, or '' when the name has none. */
export function extensionOf(filename: string): string {
  const dot = filename.lastIndexOf('.');
  return dot <= 0 || dot === filename.length - 1 ? '' : filename.slice(dot + 1).toLowerCase();
}

export function classifyMedia(filename: string): MediaClass | undefined {
  return byExtension[extensionOf(filename)];
}

export function canonicalExtension(mediaType: string): string {
  return extensionForMediaType[mediaType] ?? 'bin';
}

function ascii(head: Uint8Array, start: number, end: number): string {
  return Buffer.from(head.subarray(start, end)).toString('latin1');
}

/**
 * Recognises a file from its first bytes; used only when the name's extension tells us
 * nothing (a custom node saving `output_0001` without one). 64 bytes are enough.
 */
export function sniffMedia(head: Uint8Array): MediaClass | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return byExtension.png;
  if (starts(0xff, 0xd8, 0xff)) return byExtension.jpg;
  if (ascii(head, 0, 4) === 'GIF8') return byExtension.gif;
  if (ascii(head, 0, 2) === 'BM' && head.length >= 26) return byExtension.bmp;
  if (ascii(head, 0, 4) === 'RIFF') {
    const form = ascii(head, 8, 12);
    if (form === 'WEBP') return byExtension.webp;
    if (form === 'WAVE') return byExtension.wav;
    if (form === 'AVI ') return byExtension.avi;
    return undefined;
  }
  if (ascii(head, 0, 4) === 'fLaC') return byExtension.flac;
  if (ascii(head, 0, 4) === 'OggS') return byExtension.ogg;
  if (ascii(head, 0, 3) === 'ID3') return byExtension.mp3;
  if (ascii(head, 4, 8) === 'ftyp') {
    const brand = ascii(head, 8, 12);
    if (brand === 'M4A ' || brand === 'M4B ') return byExtension.m4a;
    if (brand === 'qt  ') return byExtension.mov;
    if (brand.startsWith('avi')) return byExtension.avif;
    return byExtension.mp4;
  }
  if (starts(0x1a, 0x45, 0xdf, 0xa3)) {
    return ascii(head, 0, head.length).includes('webm') ? byExtension.webm : byExtension.mkv;
  }
  // MPEG audio frame sync without an ID3 tag.
  if (head[0] === 0xff && head[1] !== undefined && (head[1] & 0xe0) === 0xe0) return byExtension.mp3;
  return undefined;
}
