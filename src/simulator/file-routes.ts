/**
 * GET /view and POST /upload/image (server.py:316-518): the same status codes for the same
 * mistakes (404 missing, 400 bad name or type, 403 subfolder escape), media types by extension,
 * duplicate-upload detection and `name (1).png` renaming.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { PNG } from 'pngjs';
import { replyBytes, replyEmpty, replyJson } from './http-reply.js';
import { parseMultipart } from './multipart-form-parser.js';

export interface SimDirs {
  output: string;
  input: string;
  temp: string;
}

const mediaTypes: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.flac': 'audio/flac',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/x-wav',
  '.opus': 'audio/ogg',
  '.ogg': 'audio/ogg',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.svg': 'image/svg+xml',
  '.glb': 'model/gltf-binary',
};

export function contentTypeFor(filename: string): string {
  return mediaTypes[extname(filename).toLowerCase()] ?? 'application/octet-stream';
}

function dirByType(dirs: SimDirs, type: string | null): string | null {
  if (type === null || type === 'output') return dirs.output;
  if (type === 'input') return dirs.input;
  if (type === 'temp') return dirs.temp;
  return null;
}

function inside(base: string, path: string): boolean {
  const b = resolve(base),
    p = resolve(path);
  return p === b || p.startsWith(b + sep);
}

function channelPng(bytes: Buffer, channel: 'rgb' | 'a'): Buffer {
  const png = PNG.sync.read(bytes);
  for (let i = 0; i < png.data.length; i += 4) {
    if (channel === 'rgb') png.data[i + 3] = 255;
    else png.data[i] = png.data[i + 1] = png.data[i + 2] = 0;
  }
  return PNG.sync.write(png, channel === 'rgb' ? { colorType: 2 } : {});
}

export async function handleView(dirs: SimDirs, query: URLSearchParams, res: ServerResponse): Promise<void> {
  let filename = query.get('filename');
  if (filename === null) return replyEmpty(res, 404);
  let base: string | null = null;
  const annotated = / \[(output|input|temp)\]$/.exec(filename);
  if (annotated) {
    base = dirByType(dirs, annotated[1]!);
    filename = filename.slice(0, -annotated[0].length);
  }
  if (!filename) return replyEmpty(res, 400);
  if (filename.startsWith('/') || filename.includes('..')) return replyEmpty(res, 400);
  base ??= dirByType(dirs, query.get('type'));
  if (base === null) return replyEmpty(res, 400);
  const subfolder = query.get('subfolder');
  if (subfolder !== null) {
    const full = join(base, subfolder);
    if (!inside(base, full)) return replyEmpty(res, 403);
    base = full;
  }
  const name = basename(filename);
  const path = join(base, name);
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) return replyEmpty(res, 404);
  const bytes = await readFile(path);
  const disposition = `filename="${name}"`;
  const channel = query.get('channel') ?? 'rgba';
  if ((channel === 'rgb' || channel === 'a') && contentTypeFor(name) === 'image/png') {
    return replyBytes(res, channelPng(bytes, channel), { 'Content-Disposition': disposition, 'Content-Type': 'image/png' });
  }
  let type = contentTypeFor(name);
  if (['text/html', 'text/javascript', 'text/css', 'application/xhtml+xml'].includes(type)) type = 'application/octet-stream';
  replyBytes(res, bytes, {
    'Content-Disposition': disposition,
    'Content-Type': type,
    Etag: `"${BigInt(Math.floor(info.mtimeMs * 1e6)).toString(16)}-${info.size.toString(16)}"`,
    'Last-Modified': info.mtime.toUTCString(),
    'Accept-Ranges': 'bytes',
  });
}

function sameBytes(path: string, data: Buffer): Promise<boolean> {
  return readFile(path).then(
    (existing) => createHash('sha256').update(existing).digest('hex') === createHash('sha256').update(data).digest('hex'),
    () => false,
  );
}

export async function handleUpload(dirs: SimDirs, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
  const parts = parseMultipart(body, req.headers['content-type']);
  const field = (name: string) => parts?.find((p) => p.name === name && p.filename === null)?.data.toString('utf8');
  const image = parts?.find((p) => p.name === 'image' && p.filename !== null);
  if (!parts || !image?.filename) return replyEmpty(res, 400);
  const requestedType = field('type');
  const uploadType = requestedType === 'temp' || requestedType === 'output' ? requestedType : 'input';
  const uploadDir = dirByType(dirs, uploadType)!;
  const subfolder = field('subfolder') ?? '';
  const folder = join(uploadDir, normalize(subfolder));
  let filename = image.filename;
  let path = resolve(folder, filename);
  if (!inside(uploadDir, path)) return replyEmpty(res, 400);
  mkdirSync(folder, { recursive: true });
  const overwrite = field('overwrite');
  let duplicate = false;
  if (overwrite !== 'true' && overwrite !== '1') {
    const ext = extname(image.filename);
    const stem = image.filename.slice(0, image.filename.length - ext.length);
    for (let i = 1; existsSync(path); i++) {
      if (await sameBytes(path, image.data)) {
        duplicate = true;
        break;
      }
      filename = `${stem} (${i})${ext}`;
      path = join(folder, filename);
    }
  }
  if (!duplicate) await writeFile(path, image.data);
  replyJson(res, 200, { name: filename, subfolder, type: uploadType });
}
