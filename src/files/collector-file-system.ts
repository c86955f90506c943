import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { errnoCode } from './collector-errors.js';

/**
 * The narrow slice of the file system the collector uses. It exists so tests can make a
 * write fail with ENOSPC or EACCES on demand (root ignores chmod, and CI has no tmpfs to
 * fill); production uses `nodeCollectorFileSystem`.
 */
export interface WritableFile {
  /** Writes the whole buffer (loops over short writes). */
  write(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileFacts {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  size: number;
  /** Last modification, ms since the epoch (how old a leftover temp file is). */
  mtimeMs: number;
  /** Identity (node's Stats has them; a test's fake may not): a file read ahead is used only while they match. */
  ino?: number;
  dev?: number;
  ctimeMs?: number;
}

export interface CollectorFileSystem {
  mkdirp(dir: string): Promise<void>;
  lstat(file: string): Promise<FileFacts>;
  realpath(file: string): Promise<string>;
  readdir(dir: string): Promise<string[]>;
  /**
   * The file's bytes in chunks. `expectedBytes` (its size from an lstat, when the caller has
   * one) sizes the read buffer: see readBufferBytes.
   */
  readStream(file: string, expectedBytes?: number): Readable;
  readHead(file: string, bytes: number): Promise<Buffer>;
  /** Creates a new file; fails with EEXIST rather than truncating one. */
  createExclusive(file: string): Promise<WritableFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** fsync of a file someone else wrote (ComfyUI does not), before we rename it. */
  syncFile(file: string): Promise<void>;
  /** Makes a rename durable; passed over only where folders cannot be fsynced at all (see folderCannotBeSynced). */
  syncDirectory(dir: string): Promise<void>;
}

async function writeAll(handle: fs.FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Errors that say a folder cannot be fsynced here at all — the platform cannot open one
 * (Windows), the file system does not implement it (EINVAL: procfs, some FUSE and network
 * mounts), we may not open it for reading — rather than that its entries may not be on disk.
 * Only these are passed over (the rename itself happened; only its durability across a power
 * cut is weaker there). EIO, ENOSPC, EROFS, ENOENT and the rest fail the caller, which then
 * undoes what the fsync was to make durable: a job is not reported complete on a folder fsync
 * that failed.
 */
const cannotSyncFolderCodes = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EPERM', 'EACCES']);

function folderCannotBeSynced(error: unknown): boolean {
  const code = errnoCode(error);
  return code !== undefined && cannotSyncFolderCodes.has(code);
}

/** The largest read: an output of a few hundred KB is one read, not one per 64 KB. */
const maxReadBytes = 1 << 20;
/** The smallest: a file that grew since its lstat still ends in a few reads. */
const minReadBytes = 16 << 10;

/**
 * A read stream allocates a new buffer of its highWaterMark for every read (outside the pool
 * of small Buffers), whatever the file's size, plus one more for the read that finds the end.
 * At a fixed 1 MiB, a 2 KB PNG cost 2 MiB of memory outside V8's heap per job; that memory
 * counts towards V8's collection limits, and with one job in flight (~11 a second) the service
 * ran a full mark-compact every ~100 ms, ~20 ms of a job's latency when it fell on one (issue 16).
 * Sized to the file, each read allocates what the file needs.
 */
export function readBufferBytes(expectedBytes: number | undefined): number {
  if (expectedBytes === undefined || !Number.isFinite(expectedBytes)) return maxReadBytes;
  return Math.min(maxReadBytes, Math.max(minReadBytes, Math.ceil(expectedBytes)));
}

export const nodeCollectorFileSystem: CollectorFileSystem = {
  async mkdirp(dir) {
    await fs.mkdir(dir, { recursive: true });
  },
  lstat: (file) => fs.lstat(file),
  realpath: (file) => fs.realpath(file),
  readdir: (dir) => fs.readdir(dir),
  readStream: (file, expectedBytes) => createReadStream(file, { highWaterMark: readBufferBytes(expectedBytes) }),
  async readHead(file, bytes) {
    const handle = await fs.open(file, 'r');
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  },
  async createExclusive(file) {
    const handle = await fs.open(file, 'wx', 0o644);
    return {
      write: (data) => writeAll(handle, data),
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  },
  rename: (from, to) => fs.rename(from, to),
  unlink: (file) => fs.unlink(file),
  async syncFile(file) {
    const handle = await fs.open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async syncDirectory(dir) {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(dir, 'r');
    } catch (error) {
      if (folderCannotBeSynced(error)) return;
      throw error;
    }
    try {
      await handle.sync();
    } catch (error) {
      if (!folderCannotBeSynced(error)) throw error;
    } finally {
      // Not waited for: the folder's entries are durable once sync() returned.
      handle.close().catch(() => undefined);
    }
  },
};
