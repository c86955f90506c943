import path from 'node:path';
import { ChorusError, isChorusError } from '../errors/index.js';
import type { CollectorFileSystem } from './collector-file-system.js';
import {
  abortedError,
  destinationConflictError,
  errnoCode,
  outputMissingError,
  readFailedError,
  unsafePathError,
  writeFailedError,
} from './collector-errors.js';
import type { PendingDirectorySyncs } from './directory-syncs.js';
import type { OutputSource } from './output-source.js';
import type { FileFacts } from './collector-file-system.js';
import { sameFile, type WarmedSource } from './source-warmup.js';
import type { RenderedThumbnail } from './thumbnail-writer.js';
import { commitTempFile, hashFile, SourceReadFailure, writeTempFile, type HashedBytes } from './temp-file-writer.js';

/** How outputs are collected: `auto` picks move (or copy) or download per file. */
export type CollectMode = 'auto' | 'move' | 'copy' | 'download';
/** The way one file came, recorded in the sidecar and the debug document. */
export type FileTransfer = 'move' | 'copy' | 'download' | 'already_present';

export interface PlacedFile {
  sha256: string;
  bytes: number;
  /** `already_present`: an earlier (crashed) run had finished this file. */
  outcome: 'moved' | 'copied' | 'downloaded' | 'already_present';
  /**
   * Move mode: ComfyUI's copy that is removed only once the whole job (every file and the
   * sidecar) is safe, so a job that fails half-way still has its outputs in ComfyUI.
   */
  finish?: () => Promise<void>;
  /** Puts ComfyUI's file back where it was if the job fails after this file was renamed. */
  undo?: () => Promise<void>;
  /** The file's bytes, when they fit `keepContentUpTo` (read once for the hash anyway). */
  content?: Buffer;
}

interface PlacementContext {
  fs: CollectorFileSystem;
  /** For a local source: move or copy; a download source is always downloaded. */
  mode: 'move' | 'copy' | 'download';
  signal?: AbortSignal | undefined;
  /** The folders this placement's renames touched; the caller fsyncs them after its last rename. */
  directorySyncs: PendingDirectorySyncs;
  /** Keep the bytes of a file this small in memory (PlacedFile.content, onContent). */
  keepContentUpTo?: number;
  /**
   * Called with the file's bytes as soon as they are known and checked, before the fsync and
   * rename that make them ours — so work on them (the thumbnail) overlaps that wait.
   */
  onContent?: (content: Buffer, rendered?: Promise<RenderedThumbnail>) => void;
  /**
   * The destination's lstat, started by the caller beside the destination folder's checks (one
   * wait for both); absent: looked up here. Only its answer is used early, never the content.
   */
  destinationFacts?: Promise<FileFacts> | undefined;
  /** This file as read ahead (SourceWarmup), used only when it is provably the same file. */
  warmed?: Promise<WarmedSource | undefined> | undefined;
}

/**
 * A placement decided and checked but, for a move, not yet done: its facts (checksum, size,
 * how it came) are final, so the caller can write the sidecar while `commit()` fsyncs
 * ComfyUI's file and renames it. Copies and downloads (and a file an earlier run delivered)
 * are already in place when prepared: `placed` is set and `commit()` has nothing left to do.
 */
export interface PreparedPlacement {
  facts: Pick<PlacedFile, 'sha256' | 'bytes' | 'outcome' | 'content'>;
  placed?: PlacedFile;
  commit(): Promise<PlacedFile>;
}

/**
 * Puts one ComfyUI output at `destination` (`preparePlacement`, then `commit()`), safe to
 * repeat after a crash at any point: an existing destination with the same sha256 is done;
 * with other bytes it is a conflict (never overwritten). ComfyUI's own file is removed only
 * in move mode and only after the destination is complete and fsynced, so a failure always
 * leaves it in place.
 */
export async function preparePlacement(ctx: PlacementContext, source: OutputSource, destination: string): Promise<PreparedPlacement> {
  const explained = (error: unknown) => explainFailure(ctx, source, destination, error);
  let prepared: PreparedPlacement;
  try {
    prepared = await prepareOrThrow(ctx, source, destination);
  } catch (error) {
    throw explained(error);
  }
  return {
    ...prepared,
    commit: () =>
      prepared.commit().catch((error: unknown) => {
        throw explained(error);
      }),
  };
}

export function transferOf(outcome: PlacedFile['outcome']): FileTransfer {
  return outcome === 'moved' ? 'move' : outcome === 'copied' ? 'copy' : outcome === 'downloaded' ? 'download' : 'already_present';
}

async function prepareOrThrow(ctx: PlacementContext, source: OutputSource, destination: string): Promise<PreparedPlacement> {
  if (source.kind === 'local') {
    // Independent lookups: side by side rather than one after the other.
    const [existing, real] = await Promise.all([inspectDestination(ctx, destination), source.locate()]);
    if (real === undefined) return inPlace(alreadyPresentOrMissing(ctx, existing, source));
    if (ctx.mode === 'move' && source.movable)
      return prepareMove(ctx, real, destination, existing, await sameWarmed(ctx, real, source.identity), source.identity?.size);
    return inPlace(await copyStream(ctx, ctx.fs.readStream(real, source.identity?.size), destination, existing, 'copied'));
  }
  const existing = await inspectDestination(ctx, destination);
  const stream = await source.open();
  if (stream === undefined) return inPlace(alreadyPresentOrMissing(ctx, existing, source));
  return inPlace(await copyStream(ctx, stream, destination, existing, 'downloaded'));
}

/** A placement that is already done (copied, downloaded, or delivered by an earlier run). */
function inPlace(placed: PlacedFile): PreparedPlacement {
  const { sha256, bytes, outcome, content } = placed;
  return { facts: { sha256, bytes, outcome, ...(content ? { content } : {}) }, placed, commit: () => Promise.resolve(placed) };
}

type Existing = HashedBytes | undefined;

/** The source is gone: fine if an earlier run already delivered it (crash after the rename). */
function alreadyPresentOrMissing(ctx: PlacementContext, existing: Existing, source: OutputSource): PlacedFile {
  if (existing) return alreadyPresent(ctx, existing);
  const { filename, subfolder, type, nodeId } = source.ref;
  throw outputMissingError(source.expectedPath, { filename, subfolder, type, node_id: nodeId });
}

/** An earlier run's file is the one we would place: its bytes are the result. */
function alreadyPresent(ctx: PlacementContext, existing: HashedBytes, finish?: () => Promise<void>): PlacedFile {
  if (existing.content) ctx.onContent?.(existing.content);
  return { ...existing, outcome: 'already_present', ...(finish ? { finish } : {}) };
}

async function inspectDestination(ctx: PlacementContext, destination: string): Promise<Existing> {
  const { fs } = ctx;
  let facts: FileFacts;
  try {
    facts = await (ctx.destinationFacts ?? fs.lstat(destination));
    if (!facts.isFile()) throw unsafePathError('destination', destination, 'exists and is not a regular file');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await hashFile(fs, destination, ctx.keepContentUpTo, facts.size);
  } catch (error) {
    throw readFailedError(destination, error instanceof SourceReadFailure ? error.reason : error);
  }
}

/** The read-ahead of this file, when it is the file just located: same real path, same inode, size and times. */
async function sameWarmed(ctx: PlacementContext, real: string, identity: FileFacts | undefined): Promise<WarmedSource | undefined> {
  const warmed = await ctx.warmed;
  if (warmed === undefined || identity === undefined) return undefined;
  return warmed.real === real && sameFile(warmed.identity, identity) ? warmed : undefined;
}

async function prepareMove(
  ctx: PlacementContext,
  real: string,
  destination: string,
  existing: Existing,
  warmed: WarmedSource | undefined,
  /** ComfyUI's file's size from its lstat, to size the reads. */
  sourceBytes: number | undefined,
): Promise<PreparedPlacement> {
  const { fs } = ctx;
  const hashed = warmed?.hashed ?? (await hashFile(fs, real, existing ? 0 : ctx.keepContentUpTo, sourceBytes));
  const { sha256, bytes } = hashed;
  if (existing) {
    if (existing.sha256 !== sha256) throw destinationConflictError(destination, existing.sha256, sha256);
    // A crash between copy and unlink (EXDEV path): finish the move with the job.
    return inPlace(alreadyPresent(ctx, existing, () => removeSource(fs, real)));
  }
  if (hashed.content) ctx.onContent?.(hashed.content, warmed?.thumbnail);
  const content = hashed.content ? { content: hashed.content } : {};
  return {
    facts: { sha256, bytes, outcome: 'moved', ...content },
    commit: async () => {
      // ComfyUI does not fsync what it saves; do it before the name becomes ours (the
      // read-ahead started it when ComfyUI named the file).
      await (warmed ? warmed.synced : fs.syncFile(real));
      try {
        await fs.rename(real, destination);
      } catch (error) {
        if (errnoCode(error) !== 'EXDEV') throw error;
        const written = await writeTempFile(fs, fs.readStream(real, bytes), destination, ctx.signal);
        if (written.sha256 !== sha256) {
          // Its facts are already in the sidecar being written: a file that changed under us is not delivered.
          await fs.unlink(written.tempPath).catch(() => undefined);
          throw readFailedError(real, new Error('the file changed while it was being moved'));
        }
        await commitTempFile(fs, written, destination, ctx.directorySyncs);
        return { sha256, bytes, outcome: 'moved', finish: () => removeSource(fs, real), undo: () => fs.unlink(destination), ...content };
      }
      // The caller fsyncs the destination folder after the job's last rename, and ComfyUI's
      // folder after that, off the job's path (VacatedFolderSyncs says why that is enough).
      ctx.directorySyncs.add(path.dirname(destination));
      ctx.directorySyncs.addVacated(path.dirname(real));
      return {
        sha256,
        bytes,
        outcome: 'moved',
        ...content,
        undo: async () => {
          await fs.rename(destination, real);
          await fs.syncDirectory(path.dirname(real));
        },
      };
    },
  };
}

async function removeSource(fs: CollectorFileSystem, real: string): Promise<void> {
  await fs.unlink(real).catch((error: unknown) => {
    if (errnoCode(error) !== 'ENOENT') throw error;
  });
  await fs.syncDirectory(path.dirname(real));
}

async function copyStream(
  ctx: PlacementContext,
  stream: AsyncIterable<Uint8Array | string>,
  destination: string,
  existing: Existing,
  outcome: 'copied' | 'downloaded',
): Promise<PlacedFile> {
  const written = await writeTempFile(ctx.fs, stream, destination, ctx.signal, existing ? 0 : ctx.keepContentUpTo);
  if (existing) {
    await ctx.fs.unlink(written.tempPath).catch(() => undefined);
    if (existing.sha256 !== written.sha256) throw destinationConflictError(destination, existing.sha256, written.sha256);
    return alreadyPresent(ctx, existing);
  }
  if (written.content) ctx.onContent?.(written.content);
  await commitTempFile(ctx.fs, written, destination, ctx.directorySyncs);
  return { sha256: written.sha256, bytes: written.bytes, outcome, ...(written.content ? { content: written.content } : {}) };
}

/** One place decides which error code a low-level failure becomes. */
function explainFailure(ctx: PlacementContext, source: OutputSource, destination: string, error: unknown): ChorusError {
  if (isChorusError(error)) return error;
  if (ctx.signal?.aborted) return abortedError(ctx.signal.reason ?? error);
  if (error instanceof SourceReadFailure) {
    const reason = error.reason;
    if (isChorusError(reason)) return reason;
    if (source.kind === 'download') {
      return new ChorusError('COMFY_UNAVAILABLE', `Downloading ${source.expectedPath} failed mid-stream`, {
        details: { expected_path: source.expectedPath },
        cause: reason,
      });
    }
    return readFailedError(source.expectedPath, reason);
  }
  return writeFailedError(destination, error);
}
