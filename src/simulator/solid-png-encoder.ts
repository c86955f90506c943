/**
 * PNG files of one colour, written without a general encoder: row 0 uses the Sub filter (one
 * pixel, then zero differences) and every later row the Up filter (all zeros), so the image data
 * is nearly all zeros and deflates in microseconds. Benchmarks decode thousands of distinct
 * colours (one per seed), which a cache by colour would not help.
 */
import { crc32, deflate, deflateSync } from 'node:zlib';
import { promisify } from 'node:util';

const deflateAsync = promisify(deflate);
const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Above this much raw data, deflate on the thread pool rather than on the event loop. */
const syncDeflateLimit = 1 << 20;

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0);
  return Buffer.concat([head, data, crc]);
}

export async function encodeSolidPng(width: number, height: number, color: number): Promise<Buffer> {
  const stride = 1 + width * 3;
  const raw = Buffer.alloc(stride * height);
  raw[0] = 1; // Sub
  raw[1] = (color >> 16) & 255;
  raw[2] = (color >> 8) & 255;
  raw[3] = color & 255;
  for (let y = 1; y < height; y++) raw[y * stride] = 2; // Up
  const compressed = raw.length > syncDeflateLimit ? await deflateAsync(raw) : deflateSync(raw);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB, as ComfyUI's SaveImage writes
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', compressed), chunk('IEND', Buffer.alloc(0))]);
}
