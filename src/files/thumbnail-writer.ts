import path from 'node:path';
import { Readable } from 'node:stream';
import type { JobResultThumbnail } from '../contracts/job-view.js';
import type { CollectorFileSystem } from './collector-file-system.js';
import { writeFailedError } from './collector-errors.js';
import type { Destination } from './output-plan.js';
import { commitTempFile, writeTempFile } from './temp-file-writer.js';

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
interface RenderedThumbnail {
  data: Buffer;
  info: { width: number; height: number };
}

export type ThumbnailOutcome = { written: true; thumbnail: JobResultThumbnail; undo: () => Promise<void> } | { written: false; reason: string };

/**
 * Renders the thumbnail of a delivered image and writes it like the image itself: temp
 * file beside it, fsync, rename, directory fsync. Rendering is deterministic, so a run
 * after a crash simply writes it again (the rename replaces an older one atomically).
 *
 * An image the decoder cannot read gets no thumbnail (`written: false`) instead of failing
 * a job whose file is already safe; a failed write is FILE_MOVE_FAILED like any other write.
 */
export async function writeThumbnail(fs: CollectorFileSystem, image: Destination, settings: ThumbnailSettings): Promise<ThumbnailOutcome> {
  let rendered: RenderedThumbnail;
  try {
    rendered = await render(image.absolutePath, settings);
  } catch (error) {
    return { written: false, reason: error instanceof Error ? error.message : String(error) };
  }
  const destination = thumbnailDestinationFor(image, settings.format);
  try {
    await commitTempFile(fs, await writeTempFile(fs, Readable.from([rendered.data]), destination.absolutePath), destination.absolutePath);
  } catch (error) {
    throw writeFailedError(destination.absolutePath, error);
  }
  return {
    written: true,
    thumbnail: {
      path: destination.relativePath,
      absolutePath: destination.absolutePath,
      mediaType: mediaTypeOf[settings.format],
      width: rendered.info.width,
      height: rendered.info.height,
      bytes: rendered.data.length,
    },
    undo: () => fs.unlink(destination.absolutePath),
  };
}

async function render(file: string, settings: ThumbnailSettings): Promise<RenderedThumbnail> {
  // Loaded at the first thumbnail, not at start: sharp (libvips) is the heaviest module the service has.
  const { default: sharp } = await import('sharp');
  // rotate() with no angle applies the EXIF orientation, so a phone-style JPEG is upright.
  const pipeline = sharp(file).rotate().resize({
    width: settings.maxSize,
    height: settings.maxSize,
    fit: 'inside',
    withoutEnlargement: true,
  });
  const encoded =
    settings.format === 'webp'
      ? pipeline.webp({ quality: settings.quality })
      : settings.format === 'jpeg'
        ? pipeline.jpeg({ quality: settings.quality })
        : pipeline.png();
  return encoded.toBuffer({ resolveWithObject: true });
}

/** From the config's `thumbnails:` block (snake_case keys); undefined when they are off. */
export function thumbnailSettingsFrom(config: { enabled: boolean; max_size: number; format: ThumbnailFormat; quality: number }): ThumbnailSettings | undefined {
  return config.enabled ? { maxSize: config.max_size, format: config.format, quality: config.quality } : undefined;
}
