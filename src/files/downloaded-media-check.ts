/**
 * A file fetched through /view must be what ComfyUI said it is: its first bytes must name
 * the media type its filename reported (a ".png" that is an HTML error page, or anything a
 * misbehaving server streams, is not delivered). On a mismatch the file is removed: nothing kept.
 */
import path from 'node:path';
import { ChorusError } from '../errors/index.js';
import type { CollectorFileSystem } from './collector-file-system.js';
import { sniffMedia, type MediaClass } from './media-types.js';

export async function assertDownloadedMedia(fs: CollectorFileSystem, file: string, expected: MediaClass, expectedPath: string): Promise<void> {
  const head = await fs.readHead(file, 64);
  const found = sniffMedia(head);
  // Containers differ in brand bytes (mp4/m4v/mov, mkv/webm): same kind suffices there; images must match exactly.
  const matches = found !== undefined && found.kind === expected.kind && (expected.kind !== 'image' || found.mediaType === expected.mediaType);
  if (matches) return;
  await fs.unlink(file).catch(() => undefined);
  await fs.syncDirectory(path.dirname(file));
  throw new ChorusError(
    'FILE_MOVE_FAILED',
    `${expectedPath} was reported as ${expected.mediaType} but its bytes are ${found?.mediaType ?? 'not a known media type'}; not kept`,
    {
      details: { reason: 'media_type_mismatch', expected: expected.mediaType, found: found?.mediaType ?? null, source: expectedPath },
    },
  );
}
