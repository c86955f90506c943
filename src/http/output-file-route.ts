/**
 * GET /files/<path>: delivered outputs under `<data_dir>/conversations/`, for thumbnails
 * and downloads. The data folder also holds the database, so only that subtree and only
 * media (+ the metadata sidecars) are served. Paths are checked piece by piece on the raw
 * request path (before any URL normalisation could hide a `..`), then again after
 * resolving symlinks.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { HttpRequestError } from './http-error-envelope.js';
import type { RouteContext, RouteTable } from './route-table.js';

export const mediaTypeByExtension: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.json': 'application/json; charset=utf-8',
};

const servedRoot = 'conversations';

/** Why a path is refused, one code per check, so each check is held by its own test. */
export type FileRefusal =
  | 'empty_path'
  | 'bad_percent_encoding'
  | 'empty_segment'
  | 'dot_segment'
  | 'separator_in_segment'
  | 'outside_conversations'
  | 'file_type_not_served'
  | 'resolves_outside';

function refuse(reason: FileRefusal, explanation: string, rawPath: string): never {
  throw new HttpRequestError(400, `refused file path: ${explanation}`, {
    details: { path: rawPath, reason },
    suggestion: "Ask for a file a job delivered: GET /files/ followed by that file's path in the job result, e.g. conversations/c1/images/<job>.png.",
  });
}

/** Decodes and checks each piece; returns the pieces relative to the data folder. */
export function safeRelativePieces(rawPath: string): string[] {
  if (rawPath === '') refuse('empty_path', 'empty', rawPath);
  const pieces = rawPath.split('/').map((raw) => {
    let piece: string;
    try {
      piece = decodeURIComponent(raw);
    } catch {
      return refuse('bad_percent_encoding', 'bad percent-encoding', rawPath);
    }
    if (piece === '') refuse('empty_segment', 'empty segment', rawPath);
    if (piece === '.' || piece === '..') refuse('dot_segment', '"." or ".." segment', rawPath);
    // An encoded "/" or "\" would let one piece be several; NUL truncates in C land; ":" is a drive on Windows.
    if (/[/\\\0:]/.test(piece)) refuse('separator_in_segment', 'separator or control character inside a segment', rawPath);
    return piece;
  });
  if (pieces[0] !== servedRoot) refuse('outside_conversations', `only files under ${servedRoot}/ are served`, rawPath);
  const extension = path.extname(pieces[pieces.length - 1] ?? '').toLowerCase();
  if (!(extension in mediaTypeByExtension)) refuse('file_type_not_served', `file type "${extension}" is not served`, rawPath);
  return pieces;
}

async function openableFile(dataDir: string, pieces: string[], rawPath: string): Promise<{ file: string; bytes: number }> {
  const notFound = () =>
    new ChorusError(ErrorCode.OUTPUT_FILE_NOT_FOUND, `no such output file: ${pieces.join('/')}`, {
      suggestion: 'Check the path in the job result; files live under data/conversations/{conversation}/.',
    });
  let root: string;
  let file: string;
  try {
    root = await realpath(path.resolve(dataDir, servedRoot));
    file = await realpath(path.resolve(dataDir, ...pieces));
  } catch {
    throw notFound();
  }
  // A symlink pointing out of the tree is refused like a `..`.
  if (!file.startsWith(root + path.sep)) refuse('resolves_outside', 'resolves outside the served folder', rawPath);
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) throw notFound();
  return { file, bytes: info.size };
}

export function addOutputFileRoute(routes: RouteTable, dataDir: string): void {
  routes.add('GET', '/files/*', async ({ req, res, params }: RouteContext) => {
    const rawPath = params['*'] ?? '';
    const pieces = safeRelativePieces(rawPath);
    const { file, bytes } = await openableFile(dataDir, pieces, rawPath);
    const extension = path.extname(file).toLowerCase();
    res.writeHead(200, {
      'content-type': mediaTypeByExtension[extension] ?? 'application/octet-stream',
      'content-length': bytes,
      'x-content-type-options': 'nosniff',
      'cache-control': 'private, max-age=300',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      stream.on('end', resolve);
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
  });
}
