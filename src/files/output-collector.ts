import path from 'node:path';
import type { OutputFileRef } from '../comfy/backend-port.js';
import { isChorusError } from '../errors/index.js';
import type { JobResult, JobResultFile } from '../contracts/job-view.js';
import { parseCollectRequest, type CollectRequest, type ParsedCollectRequest } from './collect-request.schema.js';
import { nodeCollectorFileSystem, type CollectorFileSystem, type FileFacts } from './collector-file-system.js';
import { abortedError, noOutputError, outputMissingError, writeFailedError } from './collector-errors.js';
import { imageHeaderBytes, readImageDimensions } from './image-dimensions.js';
import { classifyMedia, sniffMedia } from './media-types.js';
import { buildSidecar, stageSidecar, type SkippedOutput } from './metadata-sidecar.js';
import { planDestinations, selectCandidates, sidecarDestinationFor, type ClassifiedOutput, type PlannedOutput } from './output-plan.js';
import { assertDownloadedMedia } from './downloaded-media-check.js';
import { preparePlacement, transferOf, type FileTransfer, type PlacedFile, type PreparedPlacement } from './output-placement.js';
import { comfyFoldersFrom, DownloadOutputSource, LocalOutputSource, readSourceHead, type ComfyFolders, type OutputSource } from './output-source.js';
import { assertComfyFileType, assertResolvedInside, assertSafeFilename, assertSafeId, assertSafeSubfolder } from './safe-path-guard.js';
import { commitTempFile, discardTempFile, hashFile, isTempName, isTempNameOf, type WrittenTempFile } from './temp-file-writer.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { PendingThumbnail, thumbnailDestinationFor, type RenderedThumbnail, type ThumbnailSettings } from './thumbnail-writer.js';
import { PendingDirectorySyncs, VacatedFolderSyncs } from './directory-syncs.js';
import { RootRealpaths } from './realpath-cache.js';
import { SourceWarmup, type WarmRequest } from './source-warmup.js';
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
  /** How long ComfyUI's folder waits for its fsync after a move (VacatedFolderSyncs); default 1 s. */
  vacatedFolderSyncDelayMs?: number;
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
 * `preparePlacement` for the per-file rules; the sidecar is renamed last.
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
  private readonly warmup: SourceWarmup;
  /** ComfyUI's folders that files were moved out of, fsynced in the background. */
  private readonly vacatedFolders: VacatedFolderSyncs;
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
    this.warmup = new SourceWarmup(this.fs, this.roots, keepImageBytesUpTo, this.thumbnails, this.now);
    this.vacatedFolders = new VacatedFolderSyncs(this.fs, options.vacatedFolderSyncDelayMs);
  }

  /**
   * ComfyUI named files a job wrote (WebSocket `executed`): read them ahead — hash, bytes,
   * fsync, thumbnail — while the prompt finishes and its history is read. Nothing is moved or
   * decided; `collect()` uses what was read only for the very same file. Never throws.
   */
  warm(request: WarmRequest): void {
    this.warmup.warm(request);
  }

  /** Finishes the background work (the vacated folders' fsyncs): on a clean stop, and in tests. */
  settle(): Promise<void> {
    return this.vacatedFolders.settle();
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

    // Each file is looked up (auto mode: here or through /view?) while the destination folder
    // is prepared: one wait for both instead of one after the other.
    const lookups = new Map(candidates.map((ref) => [ref, this.sourceFor(request, ref)] as const));
    const lookedUp = Promise.all(lookups.values());
    lookedUp.catch(() => undefined); // awaited below; a failure must not surface unhandled first
    const skipped: SkippedOutput[] = skippedTemp.map((ref) => ({ ref, reason: 'temp_preview' }));
    const classified = await this.classify(candidates, lookups, skipped);
    if (classified.length === 0) throw noOutputError(request.files.length);

    const planned = planDestinations(this.dataDir, request.conversationId, request.jobId, classified);
    const first = planned[0]!.destination;
    const sidecar = sidecarDestinationFor(first, request.jobId);
    // Whether each destination is free (idempotency after a crash) is asked at the same time;
    // an existing file there is read only after its folder has passed the checks.
    const destinationFacts = new Map(planned.map((output) => [output, this.fs.lstat(output.destination.absolutePath)] as const));
    for (const facts of destinationFacts.values()) facts.catch(() => undefined); // ENOENT is the usual answer
    const [resolved] = await Promise.all([lookedUp, this.prepareDirectories(planned, sidecar.name)]);
    const sources = new Map(candidates.map((ref, index) => [ref, resolved[index]!] as const));

    const files: ResultFileWithOrigin[] = [];
    const thumbnails: { file: ResultFileWithOrigin; thumbnail: PendingThumbnail }[] = [];
    const pending: { placement: PreparedPlacement; destination: string }[] = [];
    const placements: Undoable[] = [];
    // Every folder a rename touched, fsynced once after the sidecar's rename (the last one)
    // and before collect() returns: the job is not reported complete before its files are
    // durable. Until then a crash (or power loss) leaves the job `moving`, and it is collected
    // again — the sidecar's presence is only relied on once collect() has returned.
    const syncs = new PendingDirectorySyncs();
    let sidecarTemp: WrittenTempFile | undefined;
    try {
      for (const output of planned) {
        if (request.signal?.aborted) throw abortedError(request.signal.reason);
        const prepared = await this.prepareOne(request, output, sources.get(output.ref)!, placements, syncs, destinationFacts.get(output));
        files.push(prepared.file);
        if (prepared.pending) pending.push({ placement: prepared.pending, destination: output.destination.absolutePath });
        if (prepared.thumbnail) thumbnails.push({ file: prepared.file, thumbnail: prepared.thumbnail });
      }
      if (request.signal?.aborted) throw abortedError(request.signal.reason);

      // Every file's facts are final before any move is done, and each thumbnail's once it is
      // rendered: the sidecar's temp file is written while ComfyUI's files are fsynced and
      // renamed and the thumbnails' temp files written, not after them. It is renamed last.
      for (const { file, thumbnail } of thumbnails) {
        const facts = await thumbnail.facts();
        if (facts.written) file.thumbnail = facts.thumbnail;
        else file.thumbnailSkipped = facts.reason;
      }
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
      const staging = stageSidecar(this.fs, sidecar.absolutePath, document).then((written) => {
        sidecarTemp = written;
      });
      const committing = (async () => {
        for (const { placement, destination } of pending) placements.push({ ...(await placement.commit()), destination });
        // A thumbnail is named only once its image is in place.
        await Promise.all(
          thumbnails.map(async ({ thumbnail }) => {
            const outcome = await thumbnail.commit(syncs);
            if (outcome.written) placements.push({ undo: outcome.undo });
          }),
        );
      })();
      const settled = await Promise.allSettled([staging, committing]);
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed) {
        const reason: unknown = failed.reason;
        throw isChorusError(reason) ? reason : writeFailedError(sidecar.absolutePath, reason);
      }
      if (request.signal?.aborted) throw abortedError(request.signal.reason);
      const written = sidecarTemp!;
      sidecarTemp = undefined; // renamed or removed by commitTempFile from here on
      await commitTempFile(this.fs, written, sidecar.absolutePath, syncs).catch((error: unknown) => {
        throw writeFailedError(sidecar.absolutePath, error);
      });
      // Named but not yet durable: should the last fsyncs fail, the files go back to ComfyUI
      // and a sidecar must not stay to say they are complete.
      placements.push({ undo: () => this.fs.unlink(sidecar.absolutePath), destination: sidecar.absolutePath });
      await syncs.flush(this.fs).catch((error: unknown) => {
        throw writeFailedError(sidecar.directory, error);
      });
      this.vacatedFolders.schedule(syncs.vacated);
    } catch (error) {
      if (sidecarTemp) await discardTempFile(this.fs, sidecarTemp);
      for (const { thumbnail } of thumbnails) await thumbnail.discard();
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
    if (request.mode !== 'auto') {
      // Looked up now, beside the destination folder's checks, not after them: the placement
      // asks for the same (remembered) answer, and reports its failure.
      local!.locate().catch(() => undefined);
      return local!;
    }
    if (local !== undefined && (await local.locate()) !== undefined) return local;
    // parseCollectRequest made sure auto has a folder or a download function.
    return request.download ? new DownloadOutputSource(request.download, ref, this.maxDownloadBytes) : local!;
  }

  private foldersOf(request: ParsedCollectRequest): ComfyFolders {
    return comfyFoldersFrom(request.comfyOutputDir!, request.comfyTempDir, request.comfyInputDir);
  }

  /** By extension; by magic bytes only for names whose extension says nothing. */
  private async classify(
    candidates: OutputFileRef[],
    sources: Map<OutputFileRef, Promise<OutputSource>>,
    skipped: SkippedOutput[],
  ): Promise<ClassifiedOutput[]> {
    const classified: ClassifiedOutput[] = [];
    for (const ref of candidates) {
      let media = classifyMedia(ref.filename);
      if (media === undefined) {
        const source = await sources.get(ref)!;
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

  /**
   * One output decided and checked: a move is left `pending` (its facts final, its fsync and
   * rename to come), anything else is in place already (and in `placements`, to undo). An
   * image's thumbnail is rendered and staged; the caller commits it after the image.
   */
  private async prepareOne(
    request: ParsedCollectRequest,
    output: PlannedOutput,
    source: OutputSource,
    placements: Undoable[],
    syncs: PendingDirectorySyncs,
    destinationFacts?: Promise<FileFacts>,
  ): Promise<{ file: ResultFileWithOrigin; pending?: PreparedPlacement; thumbnail?: PendingThumbnail }> {
    const { destination, media, ref } = output;
    const mode = source.kind === 'download' ? 'download' : request.mode === 'auto' ? request.localMode : request.mode === 'download' ? 'copy' : request.mode;
    const image = media.kind === 'image';
    // Taken whatever the mode, so what was read ahead is not kept in memory for nothing.
    const warmed = source.kind === 'local' ? this.warmup.take(source.expectedPath) : undefined;
    // The thumbnail starts from the image's bytes as soon as they are read (or from the render
    // the read-ahead started), so sharp works while the image is fsynced and renamed.
    let thumbnail: PendingThumbnail | undefined;
    const startThumbnail = (content: Buffer, rendered?: Promise<RenderedThumbnail>) => {
      if (this.thumbnails && source.kind === 'local') thumbnail = new PendingThumbnail(this.fs, destination, this.thumbnails, rendered ?? content);
    };
    let prepared: PreparedPlacement;
    try {
      prepared = await preparePlacement(
        {
          fs: this.fs,
          mode,
          signal: request.signal,
          directorySyncs: syncs,
          warmed: mode === 'move' ? warmed : undefined,
          destinationFacts,
          ...(image ? { keepContentUpTo: keepImageBytesUpTo, onContent: startThumbnail } : {}),
        },
        source,
        destination.absolutePath,
      );
      if (source.kind === 'download' && prepared.facts.outcome === 'downloaded')
        await assertDownloadedMedia(this.fs, destination.absolutePath, media, source.expectedPath);
    } catch (error) {
      await thumbnail?.discard();
      throw error;
    }
    let pending: PreparedPlacement | undefined = prepared;
    if (prepared.placed) {
      placements.push({ ...prepared.placed, destination: destination.absolutePath });
      pending = undefined;
    } else if (image && !prepared.facts.content) {
      // Too large to keep in memory: its header and thumbnail are read from its new place, so it moves now.
      placements.push({ ...(await prepared.commit()), destination: destination.absolutePath });
      pending = undefined;
    }
    const { facts } = prepared;
    const file: ResultFileWithOrigin = {
      kind: media.kind,
      path: destination.relativePath,
      absolutePath: destination.absolutePath,
      mediaType: media.mediaType,
      bytes: facts.bytes,
      sha256: facts.sha256,
      original: { filename: ref.filename, subfolder: ref.subfolder, type: ref.type, nodeId: ref.nodeId },
      animated: ref.animated,
      key: ref.key,
      via: transferOf(facts.outcome),
    };
    const done = pending ? { file, pending } : { file };
    if (!image) return done;
    const head = facts.content ?? (await this.fs.readHead(destination.absolutePath, imageHeaderBytes).catch(() => undefined));
    const size = head ? readImageDimensions(head.subarray(0, imageHeaderBytes)) : undefined;
    if (size) Object.assign(file, size);
    if (!this.thumbnails) return done;
    // A download is checked (magic bytes) before anything renders it; a file too large to
    // keep in memory is rendered from its new place.
    thumbnail ??= new PendingThumbnail(this.fs, destination, this.thumbnails, facts.content ?? destination.absolutePath);
    return { ...done, thumbnail };
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
