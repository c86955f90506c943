import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { CollectorFileSystem } from './collector-file-system.js';
import type { PendingDirectorySyncs } from './directory-syncs.js';

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
  /** The bytes written, when `keepUpTo` asked for them and they fit. */
  content?: Buffer;
  /**
   * A derived file's bytes are not fsynced yet (writeDerivedTempFile): this fsyncs and closes
   * it. commitTempFile hands it to the pending syncs, flushed with the folders.
   */
  syncLater?: () => Promise<void>;
  /** Closes the descriptor of a file written with `syncLater` and dropped before its commit. */
  closeUnsynced?: () => Promise<void>;
}

/** sha256 and size of some bytes; `content` when the caller asked to keep them and they fit. */
export interface HashedBytes {
  sha256: string;
  bytes: number;
  content?: Buffer;
}

/** Gathers the chunks of a file read once, up to a limit, so nothing has to read it again. */
class KeptChunks {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  private overflowed = false;

  constructor(private readonly limit: number) {}

  add(chunk: Uint8Array): void {
    if (this.overflowed) return;
    this.length += chunk.length;
    if (this.length > this.limit) {
      this.overflowed = true;
      this.chunks.length = 0;
    } else this.chunks.push(chunk);
  }

  content(): Buffer | undefined {
    return this.overflowed || this.limit <= 0 ? undefined : Buffer.concat(this.chunks, this.length);
  }
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

/** Whether `entry` is a temp name `tempNameFor` made, for any destination. */
export function isTempName(entry: string): boolean {
  if (!entry.startsWith('.') || !entry.endsWith(tempSuffix)) return false;
  const random = entry.slice(0, -tempSuffix.length).split('.').at(-1) ?? '';
  return tempRandomPattern.test(random) && entry.length > 1 + random.length + 1 + tempSuffix.length;
}

/**
 * Renames a written temp file onto its destination. The folder's fsync that makes the rename
 * durable is left to `syncs`, flushed once after the collection's last rename — and so is the
 * data fsync of a derived file (`syncLater`); any other temp file was fsynced before this, so
 * its name appears only with its whole content. A failed rename removes the temp file.
 */
export async function commitTempFile(fs: CollectorFileSystem, written: WrittenTempFile, destination: string, syncs: PendingDirectorySyncs): Promise<void> {
  try {
    await fs.rename(written.tempPath, destination);
  } catch (error) {
    await written.closeUnsynced?.().catch(() => undefined);
    await fs.unlink(written.tempPath).catch(() => undefined);
    throw error;
  }
  syncs.add(path.dirname(destination));
  if (written.syncLater) syncs.addFile(written.syncLater);
}

/** A temp file made by writeDerivedTempFile and not committed: closed and removed. */
export async function discardTempFile(fs: CollectorFileSystem, written: WrittenTempFile): Promise<void> {
  await written.closeUnsynced?.().catch(() => undefined);
  await fs.unlink(written.tempPath).catch(() => undefined);
}

/**
 * A file the service derives from what it collected — the metadata sidecar, a thumbnail — in
 * a new temp file beside `destination`, written but not yet fsynced: its fsync runs with the
 * folders' after the collection's last rename (commitTempFile), so one journal commit can
 * serve them all instead of one for the file and another for its folder after it. That is
 * safe for these files only: they exist nowhere else until collect() returns, and a
 * collection cut short by a crash leaves the job `moving`, so it is collected again and they
 * are written again, over whatever the crash left. Bytes that exist nowhere else (ComfyUI's
 * file, a copy, a download) are always fsynced before their rename.
 */
export async function writeDerivedTempFile(fs: CollectorFileSystem, data: Uint8Array, destination: string): Promise<WrittenTempFile> {
  const tempPath = tempNameFor(destination);
  const file = await fs.createExclusive(tempPath);
  let open = true;
  const close = async () => {
    if (!open) return;
    open = false;
    await file.close();
  };
  try {
    await file.write(data);
  } catch (error) {
    await close().catch(() => undefined);
    await fs.unlink(tempPath).catch(() => undefined);
    throw error;
  }
  return {
    tempPath,
    sha256: createHash('sha256').update(data).digest('hex'),
    bytes: data.length,
    syncLater: async () => {
      await file.sync();
      // Durable once sync() returned: the close is not waited for (see writeTempFile).
      close().catch(() => undefined);
    },
    closeUnsynced: close,
  };
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
  /** Keep the written bytes in memory when there are at most this many (0: never). */
  keepUpTo = 0,
): Promise<WrittenTempFile> {
  const tempPath = tempNameFor(destination);
  const file = await fs.createExclusive(tempPath);
  const hash = createHash('sha256');
  const kept = new KeptChunks(keepUpTo);
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
      kept.add(chunk);
      await file.write(chunk);
      bytes += chunk.length;
    }
    await file.sync();
    closed = true;
    // The bytes are durable once sync() returned: the close need not be waited for before the
    // rename (a descriptor still open does not stop one), so it leaves the job's critical path.
    file.close().catch(() => undefined);
    const content = kept.content();
    return { tempPath, sha256: hash.digest('hex'), bytes, ...(content ? { content } : {}) };
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await fs.unlink(tempPath).catch(() => undefined);
    // A half-read download must not keep its socket open.
    const destroy = (source as unknown as { destroy?: unknown }).destroy;
    if (typeof destroy === 'function') destroy.call(source);
    throw error;
  }
}

/**
 * sha256 and size of a file already on disk. With `keepUpTo`, a file of at most that many
 * bytes also comes back as `content`: the one read serves the hash, the image header and the
 * thumbnail.
 */
export async function hashFile(fs: CollectorFileSystem, file: string, keepUpTo = 0, expectedBytes?: number): Promise<HashedBytes> {
  const hash = createHash('sha256');
  const kept = new KeptChunks(keepUpTo);
  let bytes = 0;
  try {
    for await (const chunk of fs.readStream(file, expectedBytes)) {
      hash.update(chunk as Buffer);
      kept.add(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    throw new SourceReadFailure(error);
  }
  const content = kept.content();
  return { sha256: hash.digest('hex'), bytes, ...(content ? { content } : {}) };
}
