import path from 'node:path';
import type { OutputFileRef } from '../comfy/backend-port.js';
import type { MediaKind } from '../contracts/job-view.js';
import { canonicalExtension, classifyMedia, extensionOf, type MediaClass } from './media-types.js';

/** Where one collected file goes; `relativePath` is relative to the data folder, posix. */
export interface Destination {
  directory: string;
  absolutePath: string;
  relativePath: string;
  name: string;
}

export interface PlannedOutput {
  ref: OutputFileRef;
  media: MediaClass;
  destination: Destination;
}

const folderFor: Record<MediaKind, string> = { image: 'images', video: 'videos', audio: 'audio' };

export interface DestinationInput {
  dataDir: string;
  conversationId: string;
  jobId: string;
  kind: MediaKind;
  /** Without the dot. */
  extension: string;
  /** 1-based position among the job's files; omitted when the job has exactly one file. */
  index?: number;
}

/**
 * `conversations/{conversation}/{images|videos|audio}/{job}.{ext}`, or `{job}_{n}.{ext}`
 * when the job delivers more than one file. `n` counts across all kinds, so an image and
 * a video of one job are `{job}_1.png` and `{job}_2.mp4`: names stay unique per job and
 * the numbering does not depend on which folder a file lands in.
 */
export function destinationFor(input: DestinationInput): Destination {
  const folder = folderFor[input.kind];
  const name = input.index === undefined ? `${input.jobId}.${input.extension}` : `${input.jobId}_${input.index}.${input.extension}`;
  const directory = path.join(path.resolve(input.dataDir), 'conversations', input.conversationId, folder);
  return {
    directory,
    absolutePath: path.join(directory, name),
    relativePath: path.posix.join('conversations', input.conversationId, folder, name),
    name,
  };
}

/** The sidecar sits beside the job's first file (images/ for an image job). */
export function sidecarDestinationFor(first: Destination, jobId: string): Destination {
  const name = `${jobId}_metadata.json`;
  return {
    directory: first.directory,
    absolutePath: path.join(first.directory, name),
    relativePath: path.posix.join(path.posix.dirname(first.relativePath), name),
    name,
  };
}

function fileIdentity(ref: OutputFileRef): string {
  return `${ref.type}\u0000${ref.subfolder}\u0000${ref.filename}`;
}

const byNodeThenKey = (a: OutputFileRef, b: OutputFileRef): number => a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }) || a.key.localeCompare(b.key);

export interface CandidateSelection {
  candidates: OutputFileRef[];
  skippedTemp: OutputFileRef[];
}

/**
 * Every reported file of every node and key is a candidate, in a stable order (node id,
 * then key, then ComfyUI's own order), so a re-run after a crash — which may see the
 * files in /history order rather than socket order — names them the same way. A file
 * reported twice (cached replays) counts once. `temp` files are PreviewImage output:
 * dropped when the job produced anything real, kept when they are all it produced.
 */
export function selectCandidates(files: readonly OutputFileRef[]): CandidateSelection {
  const seen = new Set<string>();
  const unique = files.filter((ref) => {
    const identity = fileIdentity(ref);
    if (seen.has(identity)) return false;
    seen.add(identity);
    return true;
  });
  const ordered = [...unique].sort(byNodeThenKey);
  const real = ordered.filter((ref) => ref.type !== 'temp');
  if (real.length === 0) return { candidates: ordered, skippedTemp: [] };
  return { candidates: real, skippedTemp: ordered.filter((ref) => ref.type === 'temp') };
}

export interface ClassifiedOutput {
  ref: OutputFileRef;
  media: MediaClass;
}

export function planDestinations(dataDir: string, conversationId: string, jobId: string, outputs: readonly ClassifiedOutput[]): PlannedOutput[] {
  const numbered = outputs.length > 1;
  return outputs.map(({ ref, media }, position) => {
    // Keep the file's own extension when it is one we know; name sniffed files canonically.
    const extension = classifyMedia(ref.filename) ? extensionOf(ref.filename) : canonicalExtension(media.mediaType);
    const destination = destinationFor({
      dataDir,
      conversationId,
      jobId,
      kind: media.kind,
      extension,
      ...(numbered ? { index: position + 1 } : {}),
    });
    return { ref, media, destination };
  });
}
