import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { CollectorFileSystem } from './collector-file-system.js';

/** Marks a failure of the data source (download or local read) as opposed to the write. */
export class SourceReadFailure extends Error {
  constructor(readonly reason: unknown) {
    super('reading the source failed', { cause: reason });
    this.name = 'SourceReadFailure';
  }
}

export interface WrittenTempFile {
  tempPath: string;
  sha256: string;
  bytes: number;
}

const tempSuffix = '.partial';
const tempRandomPattern = /^[0-9a-f]{8}$/;

/**
 * Temp files live beside their destination (same file system, so the final rename is
 * atomic) under a hidden name a later run recognises as debris: `.{name}.{random}.partial`.
 */
export function tempNameFor(destination: string): string {
  const random = randomBytes(4).toString('hex');
  return path.join(path.dirname(destination), `.${path.basename(destination)}.${random}${tempSuffix}`);
}

/** Whether `entry` (a name in a folder) is a temp name `tempNameFor` made for a destination named `destinationBase`. */
export function isTempNameOf(entry: string, destinationBase: string): boolean {
  const prefix = `.${destinationBase}.`;
  if (!entry.startsWith(prefix) || !entry.endsWith(tempSuffix)) return false;
  return tempRandomPattern.test(entry.slice(prefix.length, -tempSuffix.length));
}

/**
 * Renames a written temp file onto its destination, then syncs the folder so the rename
 * itself is durable: the name appears only with its whole content. A failed rename removes
 * the temp file.
 */
export async function commitTempFile(fs: CollectorFileSystem, written: WrittenTempFile, destination: string): Promise<void> {
  try {
    await fs.rename(written.tempPath, destination);
  } catch (error) {
    await fs.unlink(written.tempPath).catch(() => undefined);
    throw error;
  }
  await fs.syncDirectory(path.dirname(destination));
}

/**
 * Streams `source` into a new temp file beside `destination`, hashing as it goes, and
 * fsyncs it. On any failure the temp file is removed and the error rethrown; source
 * failures arrive wrapped in SourceReadFailure so the caller can name the right culprit.
 */
export async function writeTempFile(
  fs: CollectorFileSystem,
  source: AsyncIterable<Uint8Array | string>,
  destination: string,
  signal?: AbortSignal,
): Promise<WrittenTempFile> {
  const tempPath = tempNameFor(destination);
  const file = await fs.createExclusive(tempPath);
  const hash = createHash('sha256');
  let bytes = 0;
  let closed = false;
  try {
    const iterator = source[Symbol.asyncIterator]();
    for (;;) {
      signal?.throwIfAborted();
      let step: IteratorResult<Uint8Array | string>;
      try {
        step = await iterator.next();
      } catch (error) {
        throw new SourceReadFailure(error);
      }
      if (step.done) break;
      const chunk = typeof step.value === 'string' ? Buffer.from(step.value) : step.value;
      hash.update(chunk);
      await file.write(chunk);
      bytes += chunk.length;
    }
    await file.sync();
    closed = true;
    await file.close();
    return { tempPath, sha256: hash.digest('hex'), bytes };
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await fs.unlink(tempPath).catch(() => undefined);
    // A half-read download must not keep its socket open.
    const destroy = (source as unknown as { destroy?: unknown }).destroy;
    if (typeof destroy === 'function') destroy.call(source);
    throw error;
  }
}

/** sha256 and size of a file already on disk. */
export async function hashFile(fs: CollectorFileSystem, file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of fs.readStream(file)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    throw new SourceReadFailure(error);
  }
  return { sha256: hash.digest('hex'), bytes };
}
