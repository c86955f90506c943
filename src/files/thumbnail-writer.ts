import path from 'node:path';
import type { JobResultThumbnail } from '../contracts/job-view.js';
import type { CollectorFileSystem } from './collector-file-system.js';
import { writeFailedError } from './collector-errors.js';
import type { Destination } from './output-plan.js';
import type { PendingDirectorySyncs } from './directory-syncs.js';
import { commitTempFile, discardTempFile, writeDerivedTempFile, type WrittenTempFile } from './temp-file-writer.js';

export const thumbnailFormats = ['webp', 'jpeg', 'png'] as const;
export type ThumbnailFormat = (typeof thumbnailFormats)[number];

/** `thumbnails.*` of the service config, as the collector takes it. */
export interface ThumbnailSettings {
  /** Longest side in pixels; smaller images keep their size (never enlarged). */
  maxSize: number;
  format: ThumbnailFormat;
  /** Encoder quality 1–100 (webp, jpeg); png ignores it. */
  quality: number;
}

const mediaTypeOf: Record<ThumbnailFormat, string> = { webp: 'image/webp', jpeg: 'image/jpeg', png: 'image/png' };
const extensionOf: Record<ThumbnailFormat, string> = { webp: 'webp', jpeg: 'jpg', png: 'png' };

/** `{name}.thumb.{ext}` beside the image: `images/{job}.png` → `images/{job}.thumb.webp`. */
export function thumbnailDestinationFor(image: Destination, format: ThumbnailFormat): Destination {
  const stem = image.name.slice(0, image.name.length - path.extname(image.name).length);
  const name = `${stem}.thumb.${extensionOf[format]}`;
  return {
    directory: image.directory,
    absolutePath: path.join(image.directory, name),
    relativePath: path.posix.join(path.posix.dirname(image.relativePath), name),
    name,
  };
}

/** The slice of sharp's output we use (our own type, not the library's). */
export interface RenderedThumbnail {
  data: Buffer;
  info: { width: number; height: number };
}

/** A thumbnail rendered and written to its temp file, waiting for its rename. */
interface StagedThumbnail {
  written: WrittenTempFile;
  info: RenderedThumbnail['info'];
}

export type ThumbnailOutcome = { written: true; thumbnail: JobResultThumbnail; undo: () => Promise<void> } | { written: false; reason: string };

/**
 * The thumbnail of one image: temp file beside it, rename, then its data and folder fsynced
 * with the collection's other pending syncs after the last rename (a derived file, see
 * writeDerivedTempFile). Rendering is deterministic, so a run after a crash simply writes it
 * again (the rename replaces whatever the crash left).
 *
 * It starts as soon as the image's bytes are known — rendering (on sharp's threads) and the
 * temp file's write overlap the image's own fsync and rename — and is committed
 * (renamed) only after the image is in place. An image the decoder cannot read gets no
 * thumbnail (`written: false`) instead of failing a job whose file is already safe; a failed
 * write is FILE_MOVE_FAILED like any other write.
 */
export class PendingThumbnail {
  readonly destination: Destination;
  private readonly rendering: Promise<RenderedThumbnail | { reason: string }>;
  private readonly staged: Promise<StagedThumbnail | { reason: string }>;

  /**
   * `source`: the image's bytes, or its path when they were too large to keep, or a render
   * already under way (the collector's read-ahead started it from ComfyUI's `executed`).
   */
  constructor(
    private readonly fs: CollectorFileSystem,
    image: Destination,
    private readonly settings: ThumbnailSettings,
    source: Buffer | string | Promise<RenderedThumbnail>,
  ) {
    this.destination = thumbnailDestinationFor(image, settings.format);
    this.rendering = (source instanceof Promise ? source : renderThumbnail(source, settings)).catch((error: unknown) => ({
      reason: error instanceof Error ? error.message : String(error),
    }));
    this.staged = this.stage();
    // Settled by commit() or discard(); never left as an unhandled rejection meanwhile.
    this.staged.catch(() => undefined);
  }

  /**
   * What the thumbnail will be once committed, known as soon as it is rendered (before its
   * temp file is written): the sidecar is written beside it instead of after it. A failed
   * write later fails the collection (commit throws), so these facts are never left untrue.
   */
  async facts(): Promise<{ written: true; thumbnail: JobResultThumbnail } | { written: false; reason: string }> {
    const rendered = await this.rendering;
    if ('reason' in rendered) return { written: false, reason: rendered.reason };
    return { written: true, thumbnail: this.entryOf(rendered.info, rendered.data.length) };
  }

  /** Renames the staged thumbnail into place; its folder goes into `syncs`. */
  async commit(syncs: PendingDirectorySyncs): Promise<ThumbnailOutcome> {
    const staged = await this.staged;
    if ('reason' in staged) return { written: false, reason: staged.reason };
    try {
      await commitTempFile(this.fs, staged.written, this.destination.absolutePath, syncs);
    } catch (error) {
      throw writeFailedError(this.destination.absolutePath, error);
    }
    return {
      written: true,
      thumbnail: this.entryOf(staged.info, staged.written.bytes),
      undo: () => this.fs.unlink(this.destination.absolutePath),
    };
  }

  /** The image was not placed: remove the temp file, if one was written. */
  async discard(): Promise<void> {
    const staged = await this.staged.catch(() => undefined);
    if (staged && 'written' in staged) await discardTempFile(this.fs, staged.written);
  }

  private entryOf(info: RenderedThumbnail['info'], bytes: number): JobResultThumbnail {
    return {
      path: this.destination.relativePath,
      absolutePath: this.destination.absolutePath,
      mediaType: mediaTypeOf[this.settings.format],
      width: info.width,
      height: info.height,
      bytes,
    };
  }

  private async stage(): Promise<StagedThumbnail | { reason: string }> {
    const rendered = await this.rendering;
    if ('reason' in rendered) return rendered;
    try {
      // Derived from the image: fsynced with the folders after the last rename (writeDerivedTempFile).
      return { written: await writeDerivedTempFile(this.fs, rendered.data, this.destination.absolutePath), info: rendered.info };
    } catch (error) {
      throw writeFailedError(this.destination.absolutePath, error);
    }
  }
}

/** The thumbnail of an image (its bytes or its path), in memory. */
export async function renderThumbnail(source: Buffer | string, settings: ThumbnailSettings): Promise<RenderedThumbnail> {
  // Loaded at the first thumbnail, not at start: sharp (libvips) is the heaviest module the service has.
  const { default: sharp } = await import('sharp');
  // rotate() with no angle applies the EXIF orientation, so a phone-style JPEG is upright.
  const pipeline = sharp(source).rotate().resize({
    width: settings.maxSize,
    height: settings.maxSize,
    fit: 'inside',
    withoutEnlargement: true,
    // A triangle filter scaled to the reduction (so still anti-aliased): ~10–15 % less CPU
    // than the default lanczos3, whose extra sharpness a 256 px preview does not show.
    kernel: 'linear',
  });
  const encoded =
    settings.format === 'webp'
      ? // effort 0 (of 0–6; sharp's default is 4): a third to a half of the CPU for a
        // thumbnail a few percent larger at the same quality — it is on every job's path.
        pipeline.webp({ quality: settings.quality, effort: 0 })
      : settings.format === 'jpeg'
        ? pipeline.jpeg({ quality: settings.quality })
        : pipeline.png();
  return encoded.toBuffer({ resolveWithObject: true });
}

/** From the config's `thumbnails:` block (snake_case keys); undefined when they are off. */
export function thumbnailSettingsFrom(config: { enabled: boolean; max_size: number; format: ThumbnailFormat; quality: number }): ThumbnailSettings | undefined {
  return config.enabled ? { maxSize: config.max_size, format: config.format, quality: config.quality } : undefined;
}
