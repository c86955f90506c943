import type { OutputFileRef } from '../comfy/backend-port.js';
import type { JobResultFile, JobResultThumbnail } from '../contracts/job-view.js';
import type { CollectorFileSystem } from './collector-file-system.js';
import type { CollectMode, FileTransfer } from './output-placement.js';
import { writeDerivedTempFile, type WrittenTempFile } from './temp-file-writer.js';

export const sidecarFormat = 'chorus-visual/output-metadata@1';

export interface SkippedOutput {
  ref: OutputFileRef;
  reason: 'temp_preview' | 'not_media';
}

export interface SidecarInput {
  jobId: string;
  conversationId: string;
  mode: CollectMode;
  /** Job facts from the caller: workflow, prompt, negative, seed, backend, character, timings… */
  metadata: Record<string, unknown>;
  files: Array<JobResultFile & { animated?: boolean | undefined; key: string; via?: FileTransfer | undefined; thumbnailSkipped?: string }>;
  skipped: SkippedOutput[];
  fileMoveMs: number;
  collectedAt: Date;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The sidecar document. Caller metadata comes first so our own facts (ids, files, checksums)
 * cannot be overridden by it; `timings` is merged so the caller's queue/generation times
 * and our file_move_ms sit together.
 */
export function buildSidecar(input: SidecarInput): Record<string, unknown> {
  const timings = isPlainObject(input.metadata.timings) ? input.metadata.timings : {};
  return {
    ...input.metadata,
    format: sidecarFormat,
    job_id: input.jobId,
    conversation_id: input.conversationId,
    collect_mode: input.mode,
    collected_at: input.collectedAt.toISOString(),
    timings: { ...timings, file_move_ms: input.fileMoveMs, total_ms: totalMsOf(timings, input) },
    files: input.files.map((file) => ({
      path: file.path,
      kind: file.kind,
      media_type: file.mediaType,
      bytes: file.bytes,
      sha256: file.sha256,
      ...(file.width !== undefined ? { width: file.width, height: file.height } : {}),
      ...(file.animated !== undefined ? { animated: file.animated } : {}),
      ...(file.via !== undefined ? { via: file.via } : {}),
      ...(file.thumbnail ? { thumbnail: thumbnailEntry(file.thumbnail) } : {}),
      ...(file.thumbnailSkipped !== undefined ? { thumbnail_skipped: file.thumbnailSkipped } : {}),
      original: {
        filename: file.original.filename,
        subfolder: file.original.subfolder,
        type: file.original.type,
        node_id: file.original.nodeId,
        key: file.key,
      },
    })),
    skipped: input.skipped.map(({ ref, reason }) => ({
      filename: ref.filename,
      subfolder: ref.subfolder,
      type: ref.type,
      node_id: ref.nodeId,
      key: ref.key,
      reason,
    })),
  };
}

/**
 * From the job's creation to this sidecar: the job is not final yet when it is written, so
 * the caller's `total_ms` is still empty. `created_at` comes with the caller's metadata.
 */
function totalMsOf(timings: Record<string, unknown>, input: SidecarInput): number | null {
  if (typeof timings['total_ms'] === 'number') return timings['total_ms'];
  const createdAt = typeof input.metadata['created_at'] === 'string' ? Date.parse(input.metadata['created_at']) : Number.NaN;
  return Number.isFinite(createdAt) ? Math.max(0, input.collectedAt.getTime() - createdAt) : null;
}

function thumbnailEntry(thumbnail: JobResultThumbnail): Record<string, unknown> {
  const { path: relativePath, mediaType, width, height, bytes } = thumbnail;
  return { path: relativePath, media_type: mediaType, width, height, bytes };
}

/**
 * The sidecar in its temp file beside `destination`, not yet renamed: the collector writes it
 * while the files are renamed, and renames it last (commitTempFile) — its presence means the
 * job's files are complete. It is derived (writeDerivedTempFile): its bytes are fsynced with
 * the folders, once after that last rename and before collect() returns.
 */
export function stageSidecar(fs: CollectorFileSystem, destination: string, document: Record<string, unknown>): Promise<WrittenTempFile> {
  return writeDerivedTempFile(fs, Buffer.from(`${JSON.stringify(document, null, 2)}\n`), destination);
}
