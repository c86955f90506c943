import type { OutputFileRef } from '../comfy/backend-port.js';
import type { CollectorFileSystem, FileFacts } from './collector-file-system.js';
import { classifyMedia } from './media-types.js';
import { comfyFoldersFrom, LocalOutputSource } from './output-source.js';
import type { RootRealpaths } from './realpath-cache.js';
import { assertSafeFilename, assertSafeSubfolder } from './safe-path-guard.js';
import { hashFile, type HashedBytes } from './temp-file-writer.js';
import { renderThumbnail, type RenderedThumbnail, type ThumbnailSettings } from './thumbnail-writer.js';

/** What ComfyUI's `executed` message named, and where to look for it on this machine. */
export interface WarmRequest {
  files: readonly OutputFileRef[];
  comfyOutputDir: string;
}

/**
 * ComfyUI's file as read ahead of its collection: the same file only while its identity
 * (inode, size, times) is unchanged, which the collector checks before using any of it.
 */
export interface WarmedSource {
  real: string;
  identity: FileFacts;
  hashed: HashedBytes;
  /** ComfyUI's file fsynced (ComfyUI never does): the collector awaits it before the rename. */
  synced: Promise<void>;
  /** The thumbnail rendered from the bytes read (images, thumbnails on). */
  thumbnail?: Promise<RenderedThumbnail>;
}

interface Entry {
  warmed: Promise<WarmedSource | undefined>;
  at: number;
  keptBytes: number;
}

/** Entries nobody collected (a job cancelled or failed after `executed`) go after this long. */
const entryTtlMs = 60_000;
/** At most this many files read ahead at once; the oldest go first. */
const entryLimit = 64;
/** Bytes kept in memory across all entries by default (256 MB). */
const defaultKeptBytesBudget = 256 * 1024 ** 2;

/**
 * Reads ahead the files a prompt's WebSocket `executed` message names, while the prompt
 * finishes and its history is read: the hash (and the bytes, for dimensions and the
 * thumbnail), the fsync of ComfyUI's file and the thumbnail's render are then done or under
 * way when `collect()` runs, instead of starting there (issue 16: the collector was most of
 * the time between `execution_success` and `completed`).
 *
 * It only reads: nothing is moved, named or decided here — history stays the authority on
 * which files a job made, and a file read ahead that history does not list is simply never
 * used. The collector uses an entry only when the file it locates has the same real path and
 * identity as the one read; otherwise it reads the file itself, as it always did.
 */
export class SourceWarmup {
  private readonly entries = new Map<string, Entry>();
  private keptBytes = 0;

  constructor(
    private readonly fs: CollectorFileSystem,
    private readonly roots: RootRealpaths,
    private readonly keepContentUpTo: number,
    private readonly thumbnails: ThumbnailSettings | undefined,
    private readonly now: () => number,
    /** Bytes kept in memory across all entries; past it a file is hashed and fsynced, not kept. */
    private readonly keptBytesBudget = defaultKeptBytesBudget,
  ) {}

  /** Starts reading ahead each local output file; never throws, never waits. */
  warm(request: WarmRequest): void {
    this.expire();
    for (const ref of request.files) {
      if (ref.type !== 'output') continue;
      let source: LocalOutputSource;
      try {
        assertSafeSubfolder(ref.subfolder);
        assertSafeFilename(ref.filename);
        source = new LocalOutputSource(this.fs, comfyFoldersFrom(request.comfyOutputDir), ref, this.roots);
      } catch {
        continue; // the collector refuses such a name with its own error; nothing to read here
      }
      if (this.entries.has(source.expectedPath)) continue;
      const entry: Entry = { warmed: Promise.resolve(undefined), at: this.now(), keptBytes: 0 };
      entry.warmed = this.read(source, entry).catch(() => undefined);
      this.entries.set(source.expectedPath, entry);
      while (this.entries.size > entryLimit) this.drop(this.entries.keys().next().value!);
    }
  }

  /** The entry read ahead for this path (removed: each is used at most once). */
  take(expectedPath: string): Promise<WarmedSource | undefined> | undefined {
    const entry = this.entries.get(expectedPath);
    if (entry === undefined) return undefined;
    this.drop(expectedPath);
    return entry.warmed;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes of the entries held that are kept in memory. */
  get keptBytesHeld(): number {
    return this.keptBytes;
  }

  private async read(source: LocalOutputSource, entry: Entry): Promise<WarmedSource | undefined> {
    const real = await source.locate();
    const identity = source.identity;
    if (real === undefined || identity === undefined) return undefined;
    // The fsync is the longest wait (a journal commit): it starts first, the read runs beside it.
    const synced = this.fs.syncFile(real);
    synced.catch(() => undefined);
    const keep = this.keptBytes + identity.size <= this.keptBytesBudget ? this.keepContentUpTo : 0;
    const hashed = await hashFile(this.fs, real, keep, identity.size);
    if (hashed.content) {
      entry.keptBytes = hashed.content.length;
      // Counted only while the entry is still held (it may have been taken or dropped meanwhile).
      if (this.entries.get(source.expectedPath) === entry) this.keptBytes += entry.keptBytes;
      else entry.keptBytes = 0;
    }
    const warmed: WarmedSource = { real, identity, hashed, synced };
    const media = classifyMedia(source.ref.filename);
    if (this.thumbnails && hashed.content && media?.kind === 'image') {
      warmed.thumbnail = renderThumbnail(hashed.content, this.thumbnails);
      warmed.thumbnail.catch(() => undefined);
    }
    return warmed;
  }

  private expire(): void {
    const before = this.now() - entryTtlMs;
    for (const [key, entry] of this.entries) {
      if (entry.at >= before) break; // insertion order is age order
      this.drop(key);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.keptBytes -= entry.keptBytes;
    entry.keptBytes = 0;
  }
}

/** Whether two lstat results describe the same, unchanged file. */
export function sameFile(a: FileFacts, b: FileFacts): boolean {
  return (
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ino === b.ino &&
    a.dev === b.dev &&
    a.ctimeMs === b.ctimeMs &&
    // Facts without an inode (a test's fake file system) cannot prove sameness.
    a.ino !== undefined
  );
}
