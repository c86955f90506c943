import path from 'node:path';
import type { OutputFileRef } from '../comfy/backend-port.js';
import { isChorusError } from '../errors/index.js';
import type { JobResult, JobResultFile } from '../contracts/job-view.js';
import { parseCollectRequest, type CollectRequest, type ParsedCollectRequest } from './collect-request.schema.js';
import { nodeCollectorFileSystem, type CollectorFileSystem } from './collector-file-system.js';
import { abortedError, noOutputError, outputMissingError, writeFailedError } from './collector-errors.js';
import { imageHeaderBytes, readImageDimensions } from './image-dimensions.js';
import { classifyMedia, sniffMedia } from './media-types.js';
import { buildSidecar, writeSidecar, type SkippedOutput } from './metadata-sidecar.js';
import { planDestinations, selectCandidates, sidecarDestinationFor, type ClassifiedOutput, type PlannedOutput } from './output-plan.js';
import { assertDownloadedMedia } from './downloaded-media-check.js';
import { placeOutput, transferOf, type FileTransfer, type PlacedFile } from './output-placement.js';
import { comfyFoldersFrom, DownloadOutputSource, LocalOutputSource, readSourceHead, type ComfyFolders, type OutputSource } from './output-source.js';
import { assertComfyFileType, assertResolvedInside, assertSafeFilename, assertSafeId, assertSafeSubfolder } from './safe-path-guard.js';
import { hashFile, isTempName, isTempNameOf } from './temp-file-writer.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { PendingThumbnail, thumbnailDestinationFor, type ThumbnailSettings } from './thumbnail-writer.js';
import { PendingDirectorySyncs } from './directory-syncs.js';
import { RootRealpaths } from './realpath-cache.js';
import { errnoCode } from './collector-errors.js';

export interface OutputCollectorOptions {
  dataDir: string;
  /**
   * The original design's `cleanup_comfy_outputs`. Collected files follow the mode alone
   * (move removes ComfyUI's file, copy never does — otherwise copy would just be move).
   * This flag removes the leftovers a job made that we did not collect: its `temp`
   * previews, once the job's files and sidecar are safely written. Local modes only;
   * ComfyUI inputs are never touched. Default false.
   */
  cleanupComfyOutputs?: boolean;
  /** A thumbnail beside every image output (config `thumbnails.*`); absent: none. */
  thumbnails?: ThumbnailSettings | undefined;
  /** Injected in tests to make writes fail (ENOSPC, EACCES); the real one otherwise. */
  fileSystem?: CollectorFileSystem;
  now?: () => number;
  /** Where failed clean-ups (undo after a failure, removal of ComfyUI's copy) are reported. */
  logger?: Pick<StructuredLogger, 'warn' | 'error'>;
  /** `comfyui.file_management.max_output_bytes`: a /view download beyond it fails, nothing kept. */
  maxDownloadBytes?: number;
}

/**
 * An image's bytes up to this size stay in memory after the one read that hashes them, for
 * its dimensions and its thumbnail (a 1024² PNG is 1–3 MB); larger ones are read again.
 */
const keepImageBytesUpTo = 32 * 1024 ** 2;
/** A temp file nobody has written to for this long is a crashed run's debris, whoever made it. */
const staleTempAgeMs = 60 * 60 * 1000;
/** Folders remembered as swept; past this many the memory starts over (a sweep more, no harm). */
const sweptFoldersLimit = 10_000;

/** What a failed job undoes (newest first) and a finished one completes: placed files (named, for the log), thumbnails. */
type Undoable = Pick<PlacedFile, 'undo' | 'finish'> & { destination?: string };
type ResultFileWithOrigin = JobResultFile & { animated?: boolean | undefined; key: string; via: FileTransfer; thumbnailSkipped?: string };

/**
 * Moves, copies or downloads a finished job's outputs into its conversation folder and
 * writes the metadata sidecar. Safe to run again after a crash at any instant: see
 * `placeOutput` for the per-file rules; the sidecar is written last.
 *
 * In the forced modes a reported file that is missing is OUTPUT_FILE_NOT_FOUND: forcing
 * `move` means ComfyUI's folder must be here, and downloading instead would leave every
 * file behind in it. `auto` (the default) downloads what it cannot see, and the job's
 * runtime says once in the log when that looks like a misnamed folder.
 */
export class OutputCollector {
  private readonly dataDir: string;
  private readonly fs: CollectorFileSystem;
  private readonly cleanupComfyOutputs: boolean;
  private readonly thumbnails: ThumbnailSettings | undefined;
  private readonly now: () => number;
  private readonly logger: Pick<StructuredLogger, 'warn' | 'error'>;
  private readonly maxDownloadBytes: number;
  private readonly roots: RootRealpaths;
  /** Folders whose leftover temp files this process already removed (see sweepOnce). */
  private readonly sweptFolders = new Set<string>();

  constructor(options: OutputCollectorOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.fs = options.fileSystem ?? nodeCollectorFileSystem;
    this.cleanupComfyOutputs = options.cleanupComfyOutputs ?? false;
    this.thumbnails = options.thumbnails;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.maxDownloadBytes = options.maxDownloadBytes ?? 2 * 1024 ** 3;
    this.roots = new RootRealpaths(this.fs);
  }

  async collect(input: CollectRequest): Promise<JobResult> {
    const request = parseCollectRequest(input);
    const started = this.now();
    assertSafeId('job_id', request.jobId);
    assertSafeId('conversation_id', request.conversationId);
    for (const ref of request.files) {
      assertComfyFileType(ref.type);
      assertSafeSubfolder(ref.subfolder);
      assertSafeFilename(ref.filename);
    }
    const { candidates, skippedTemp } = selectCandidates(request.files);
    if (candidates.length === 0) throw noOutputError(request.files.length);

    const sources = new Map<OutputFileRef, OutputSource>();
    for (const ref of candidates) sources.set(ref, await this.sourceFor(request, ref));
    const skipped: SkippedOutput[] = skippedTemp.map((ref) => ({ ref, reason: 'temp_preview' }));
    const classified = await this.classify(candidates, sources, skipped);
    if (classified.length === 0) throw noOutputError(request.files.length);

    const planned = planDestinations(this.dataDir, request.conversationId, request.jobId, classified);
    const first = planned[0]!.destination;
    const sidecar = sidecarDestinationFor(first, request.jobId);
    await this.prepareDirectories(planned, sidecar.name);

    const files: ResultFileWithOrigin[] = [];
    const placements: Undoable[] = [];
    // Every folder a rename touched, fsynced once after the sidecar's rename (the last one)
    // and before collect() returns: the job is not reported complete before its files are
    // durable. Until then a crash (or power loss) leaves the job `moving`, and it is collected
    // again — the sidecar's presence is only relied on once collect() has returned.
    const syncs = new PendingDirectorySyncs();
    try {
      for (const output of planned) {
        if (request.signal?.aborted) throw abortedError(request.signal.reason);
        files.push(await this.placeOne(request, output, sources.get(output.ref)!, placements, syncs));
      }
      if (request.signal?.aborted) throw abortedError(request.signal.reason);

      const document = buildSidecar({
        jobId: request.jobId,
        conversationId: request.conversationId,
        mode: request.mode,
        metadata: request.metadata,
        files,
        skipped,
        fileMoveMs: Math.max(0, this.now() - started),
        collectedAt: new Date(this.now()),
      });
      await writeSidecar(this.fs, sidecar.absolutePath, document, syncs).catch((error: unknown) => {
        throw isChorusError(error) ? error : writeFailedError(sidecar.absolutePath, error);
      });
      await syncs.flush(this.fs).catch((error: unknown) => {
        throw writeFailedError(sidecar.directory, error);
      });
    } catch (error) {
      // A failed job keeps its outputs in ComfyUI: undo this run's moves, newest first.
      for (const placed of placements.reverse()) {
        await placed.undo?.().catch((undoError: unknown) =>
          // The file stays in our folder and not in ComfyUI's: someone must know where it is.
          this.logger.error({ job_id: request.jobId, err: undoError, file: placed.destination }, "putting a moved output back into ComfyUI's folder failed"),
        );
      }
      throw error;
    }
    // The job's files and sidecar are safe: only now does ComfyUI's copy go (move mode).
    for (const placed of placements) {
      await placed
        .finish?.()
        .catch((finishError: unknown) =>
          this.logger.warn(
            { job_id: request.jobId, err: finishError, file: placed.destination },
            "removing ComfyUI's copy of a delivered output failed; it stays there",
          ),
        );
    }
    if (this.cleanupComfyOutputs) await this.removeLeftovers(sources, skippedTemp, request);
    return {
      files: files.map(({ animated: _animated, key: _key, thumbnailSkipped: _skipped, ...file }) => file),
      metadataPath: sidecar.relativePath,
    };
  }

  /**
   * Auto mode decides per file: ComfyUI's file seen under its folder on this machine is
   * moved (or copied); otherwise it comes through /view — ComfyUI in Docker, on another
   * host, or just writing elsewhere. Neither found: the local source reports it missing.
   */
  private async sourceFor(request: ParsedCollectRequest, ref: OutputFileRef): Promise<OutputSource> {
    if (request.mode === 'download') return new DownloadOutputSource(request.download!, ref, this.maxDownloadBytes);
    const local = request.comfyOutputDir === undefined ? undefined : new LocalOutputSource(this.fs, this.foldersOf(request), ref, this.roots);
    if (request.mode !== 'auto') return local!;
    if (local !== undefined && (await local.locate()) !== undefined) return local;
    // parseCollectRequest made sure auto has a folder or a download function.
    return request.download ? new DownloadOutputSource(request.download, ref, this.maxDownloadBytes) : local!;
  }

  private foldersOf(request: ParsedCollectRequest): ComfyFolders {
    return comfyFoldersFrom(request.comfyOutputDir!, request.comfyTempDir, request.comfyInputDir);
  }

  /** By extension; by magic bytes only for names whose extension says nothing. */
  private async classify(candidates: OutputFileRef[], sources: Map<OutputFileRef, OutputSource>, skipped: SkippedOutput[]): Promise<ClassifiedOutput[]> {
    const classified: ClassifiedOutput[] = [];
    for (const ref of candidates) {
      let media = classifyMedia(ref.filename);
      if (media === undefined) {
        const source = sources.get(ref)!;
        const head = await readSourceHead(this.fs, source, 64);
        if (head === undefined) {
          throw outputMissingError(source.expectedPath, { filename: ref.filename, subfolder: ref.subfolder, type: ref.type, node_id: ref.nodeId });
        }
        media = sniffMedia(head);
      }
      if (media === undefined) skipped.push({ ref, reason: 'not_media' });
      else classified.push({ ref, media });
    }
    return classified;
  }

  /**
   * Creates the destination folders, proves they resolve inside the data folder (a
   * symlinked conversation folder could point anywhere), and removes temp debris from a run
   * that crashed mid-write. The data folder's real path is resolved once per process; each
   * destination folder's on every job (one lookup, which also says whether it must be made).
   */
  private async prepareDirectories(planned: PlannedOutput[], sidecarName: string): Promise<void> {
    const namesByDirectory = new Map<string, string[]>();
    for (const { destination, media } of planned) {
      const names = [destination.name];
      if (media.kind === 'image' && this.thumbnails) names.push(thumbnailDestinationFor(destination, this.thumbnails.format).name);
      namesByDirectory.set(destination.directory, [...(namesByDirectory.get(destination.directory) ?? []), ...names]);
    }
    namesByDirectory.get(planned[0]!.destination.directory)!.push(sidecarName);
    try {
      const realData = await this.roots.of(this.dataDir, true);
      await Promise.all(
        [...namesByDirectory].map(async ([directory, names]) => {
          assertResolvedInside('destination', realData, await this.madeDirectory(directory));
          await this.sweepOnce(directory, names);
        }),
      );
    } catch (error) {
      throw isChorusError(error) ? error : writeFailedError(planned[0]!.destination.directory, error);
    }
  }

  /** The folder's real path, creating it (and its parents) when it is missing. */
  private async madeDirectory(directory: string): Promise<string> {
    try {
      return await this.fs.realpath(directory);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      await this.fs.mkdirp(directory);
      return this.fs.realpath(directory);
    }
  }

  /**
   * Temp files are debris only after a crash (a failed write removes its own), so a folder is
   * listed once per process, not on every job: on the first visit, this job's leftovers go
   * (a job restored after a crash is collected again soon after the start) and so does any
   * temp file untouched for an hour — another job's or another instance's, long dead: a live
   * writer keeps its file's mtime fresh, so a running instance's temp file is never taken.
   */
  private async sweepOnce(directory: string, names: string[]): Promise<void> {
    if (this.sweptFolders.has(directory)) return;
    if (this.sweptFolders.size >= sweptFoldersLimit) this.sweptFolders.clear();
    this.sweptFolders.add(directory);
    const staleBefore = this.now() - staleTempAgeMs;
    for (const entry of await this.fs.readdir(directory)) {
      if (!isTempName(entry)) continue;
      const file = path.join(directory, entry);
      const ours = names.some((name) => isTempNameOf(entry, name));
      const facts = ours ? undefined : await this.fs.lstat(file).catch(() => undefined);
      if (ours || (facts !== undefined && facts.mtimeMs < staleBefore)) {
        await this.fs.unlink(file).catch(() => undefined);
      }
    }
  }

  private async placeOne(
    request: ParsedCollectRequest,
    output: PlannedOutput,
    source: OutputSource,
    placements: Undoable[],
    syncs: PendingDirectorySyncs,
  ): Promise<ResultFileWithOrigin> {
    const { destination, media, ref } = output;
    const mode = source.kind === 'download' ? 'download' : request.mode === 'auto' ? request.localMode : request.mode === 'download' ? 'copy' : request.mode;
    const image = media.kind === 'image';
    // The thumbnail starts from the image's bytes as soon as they are read, so sharp works
    // while the image is fsynced and renamed; it is renamed itself only after the image.
    let thumbnail: PendingThumbnail | undefined;
    const startThumbnail = (content: Buffer) => {
      if (this.thumbnails && source.kind === 'local') thumbnail = new PendingThumbnail(this.fs, destination, this.thumbnails, content);
    };
    let placed: PlacedFile;
    try {
      placed = await placeOutput(
        {
          fs: this.fs,
          mode,
          signal: request.signal,
          directorySyncs: syncs,
          ...(image ? { keepContentUpTo: keepImageBytesUpTo, onContent: startThumbnail } : {}),
        },
        source,
        destination.absolutePath,
      );
      if (source.kind === 'download' && placed.outcome === 'downloaded')
        await assertDownloadedMedia(this.fs, destination.absolutePath, media, source.expectedPath);
    } catch (error) {
      await thumbnail?.discard();
      throw error;
    }
    placements.push({ ...placed, destination: destination.absolutePath });
    const file: ResultFileWithOrigin = {
      kind: media.kind,
      path: destination.relativePath,
      absolutePath: destination.absolutePath,
      mediaType: media.mediaType,
      bytes: placed.bytes,
      sha256: placed.sha256,
      original: { filename: ref.filename, subfolder: ref.subfolder, type: ref.type, nodeId: ref.nodeId },
      animated: ref.animated,
      key: ref.key,
      via: transferOf(placed.outcome),
    };
    if (image) {
      const head = placed.content ?? (await this.fs.readHead(destination.absolutePath, imageHeaderBytes).catch(() => undefined));
      const size = head ? readImageDimensions(head.subarray(0, imageHeaderBytes)) : undefined;
      if (size) Object.assign(file, size);
      if (this.thumbnails) {
        // A download is checked (magic bytes) before anything renders it; a file too large to
        // keep in memory is rendered from its new place.
        thumbnail ??= new PendingThumbnail(this.fs, destination, this.thumbnails, placed.content ?? destination.absolutePath);
        const outcome = await thumbnail.commit(syncs);
        if (outcome.written) {
          file.thumbnail = outcome.thumbnail;
          placements.push({ undo: outcome.undo });
        } else file.thumbnailSkipped = outcome.reason;
      }
    }
    return file;
  }

  /** Best effort: a leftover preview is clutter, not a reason to fail a finished job. */
  private async removeLeftovers(sources: Map<OutputFileRef, OutputSource>, skippedTemp: OutputFileRef[], request: ParsedCollectRequest): Promise<void> {
    if (request.mode === 'download' || request.comfyOutputDir === undefined) return;
    const folders = this.foldersOf(request);
    for (const ref of skippedTemp) {
      const source = sources.get(ref) ?? new LocalOutputSource(this.fs, folders, ref);
      if (source.kind !== 'local') continue;
      const real = await source.locate().catch(() => undefined);
      if (real !== undefined) await this.fs.unlink(real).catch(() => undefined);
    }
  }
}

/** sha256 of a delivered file, for callers that verify a JobResult later. */
export async function checksumOf(file: string, fs: CollectorFileSystem = nodeCollectorFileSystem): Promise<string> {
  return (await hashFile(fs, file)).sha256;
}
