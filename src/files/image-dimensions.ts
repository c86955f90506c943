/**
 * Width and height from the first bytes of a PNG, JPEG, WEBP or GIF file, without decoding
 * pixels: the sidecar wants them and a full decode of a 4K image would cost more than the
 * whole move. Returns undefined for anything it cannot read with certainty.
 */
export interface ImageDimensions {
  width: number;
  height: number;
}

/** How much of a file to read: JPEG's size marker can sit behind a large EXIF block. */
export const imageHeaderBytes = 256 * 1024;

export function readImageDimensions(head: Buffer): ImageDimensions | undefined {
  return pngSize(head) ?? gifSize(head) ?? webpSize(head) ?? jpegSize(head);
}

function valid(width: number, height: number): ImageDimensions | undefined {
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function pngSize(head: Buffer): ImageDimensions | undefined {
  // Signature (8) + IHDR length (4) + "IHDR" (4), then width and height, big-endian.
  if (head.length < 24 || head.readUInt32BE(0) !== 0x89504e47) return undefined;
  if (head.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return valid(head.readUInt32BE(16), head.readUInt32BE(20));
}

function gifSize(head: Buffer): ImageDimensions | undefined {
  if (head.length < 10 || head.toString('latin1', 0, 4) !== 'GIF8') return undefined;
  return valid(head.readUInt16LE(6), head.readUInt16LE(8));
}

function webpSize(head: Buffer): ImageDimensions | undefined {
  if (head.length < 30 || head.toString('latin1', 0, 4) !== 'RIFF') return undefined;
  if (head.toString('latin1', 8, 12) !== 'WEBP') return undefined;
  const chunk = head.toString('latin1', 12, 16);
  if (chunk === 'VP8X') {
    // 24-bit little-endian canvas size minus one.
    return valid(1 + head.readUIntLE(24, 3), 1 + head.readUIntLE(27, 3));
  }
  if (chunk === 'VP8L') {
    if (head[20] !== 0x2f) return undefined;
    const bits = head.readUInt32LE(21);
    return valid(1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff));
  }
  if (chunk === 'VP8 ') {
    // Key frame start code 9d 01 2a, then 14-bit width and height.
    if (head[23] !== 0x9d || head[24] !== 0x01 || head[25] !== 0x2a) return undefined;
    return valid(head.readUInt16LE(26) & 0x3fff, head.readUInt16LE(28) & 0x3fff);
  }
  return undefined;
}

/** Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(head: Buffer): ImageDimensions | undefined {
  if (head.length < 4 || head[0] !== 0xff || head[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 9 < head.length) {
    if (head[offset] !== 0xff) return undefined;
    const marker = head[offset + 1] ?? 0;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += 2; // markers without a length
      continue;
    }
    if (isStartOfFrame(marker)) {
      return valid(head.readUInt16BE(offset + 7), head.readUInt16BE(offset + 5));
    }
    offset += 2 + head.readUInt16BE(offset + 2);
  }
  return undefined;
}
