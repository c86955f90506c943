/**
 * Thumbnails: every image output gets a smaller copy beside it, decoded and encoded by
 * sharp, written with the image's durability (temp, fsync, rename, directory fsync) and
 * listed in the job result and the sidecar.
 */
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { ChorusError } from '../../src/errors/index.js';
import { nodeCollectorFileSystem, OutputCollector, thumbnailSettingsFrom, type CollectorFileSystem, type ThumbnailSettings } from '../../src/files/index.js';

let root: string;
let output: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-thumbs-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const webp256: ThumbnailSettings = { maxSize: 256, format: 'webp', quality: 80 };
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** A PNG with a left/right colour split, so a thumbnail that is not the picture would show. */
function png(width: number, height: number): Buffer {
  const image = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      image.data[i] = x < width / 2 ? 250 : 5;
      image.data[i + 1] = 20;
      image.data[i + 2] = x < width / 2 ? 5 : 250;
      image.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(image);
}

async function outputFile(filename: string, bytes: Buffer, key = 'images'): Promise<OutputFileRef> {
  await writeFile(path.join(output, filename), bytes);
  return { nodeId: '2', key, filename, subfolder: '', type: 'output' };
}

const collect = (collector: OutputCollector, files: OutputFileRef[], jobId = 'job1') =>
  collector.collect({ jobId, conversationId: 'conv1', files, mode: 'move', comfyOutputDir: output, metadata: {} });

describe('thumbnails', () => {
  it('writes a 256 px WebP beside a 600×300 image, listed in the result and the sidecar', async () => {
    const result = await collect(new OutputCollector({ dataDir, thumbnails: webp256 }), [await outputFile('wide_00001_.png', png(600, 300))]);

    const images = path.join(dataDir, 'conversations/conv1/images');
    const thumbPath = path.join(images, 'job1.thumb.webp');
    const bytes = await readFile(thumbPath);
    expect(result.files[0]!.thumbnail).toEqual({
      path: 'conversations/conv1/images/job1.thumb.webp',
      absolutePath: thumbPath,
      mediaType: 'image/webp',
      width: 256,
      height: 128,
      bytes: bytes.length,
    });
    // A real WebP of the picture: its left half red, its right half blue.
    const decoded = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect(decoded.info).toMatchObject({ format: 'raw', width: 256, height: 128 });
    const pixel = (x: number) => [...decoded.data.subarray((64 * 256 + x) * decoded.info.channels, (64 * 256 + x) * decoded.info.channels + 3)];
    expect(pixel(30)[0]).toBeGreaterThan(200);
    expect(pixel(225)[2]).toBeGreaterThan(200);

    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(sidecar.files[0].thumbnail).toEqual({
      path: 'conversations/conv1/images/job1.thumb.webp',
      media_type: 'image/webp',
      width: 256,
      height: 128,
      bytes: bytes.length,
    });
    expect((await readdir(images)).sort()).toEqual(['job1.png', 'job1.thumb.webp', 'job1_metadata.json']);
  });

  it('never enlarges a small image, and follows the configured size and format', async () => {
    const small = await collect(new OutputCollector({ dataDir, thumbnails: webp256 }), [await outputFile('small.png', png(37, 21))], 'small');
    expect(small.files[0]!.thumbnail).toMatchObject({ width: 37, height: 21 });

    const jpeg = await collect(
      new OutputCollector({ dataDir, thumbnails: { maxSize: 64, format: 'jpeg', quality: 70 } }),
      [await outputFile('tall.png', png(100, 400))],
      'tall',
    );
    expect(jpeg.files[0]!.thumbnail).toMatchObject({ path: 'conversations/conv1/images/tall.thumb.jpg', mediaType: 'image/jpeg', width: 16, height: 64 });
    expect((await sharp(jpeg.files[0]!.thumbnail!.absolutePath).metadata()).format).toBe('jpeg');
  });

  it('only images get one; thumbnails off gives none', async () => {
    const audio = Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(40, 3)]);
    const files = [await outputFile('img.png', png(40, 40)), await outputFile('voice.flac', audio, 'audio')];
    const result = await collect(new OutputCollector({ dataDir, thumbnails: webp256 }), files);
    // Ordered by node, then key: the audio's key sorts first.
    expect(result.files.map((f) => [f.kind, f.thumbnail?.path])).toEqual([
      ['audio', undefined],
      ['image', 'conversations/conv1/images/job1_2.thumb.webp'],
    ]);

    const off = await collect(new OutputCollector({ dataDir }), [await outputFile('plain.png', png(40, 40))], 'plain');
    expect(off.files[0]!.thumbnail).toBeUndefined();
    expect(await exists(path.join(dataDir, 'conversations/conv1/images/plain.thumb.webp'))).toBe(false);
  });

  it('an image the decoder cannot read is delivered without a thumbnail, and the sidecar says why', async () => {
    // A PNG signature followed by garbage: classified as an image by its name, undecodable.
    const broken = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]);
    const result = await collect(new OutputCollector({ dataDir, thumbnails: webp256 }), [await outputFile('broken.png', broken)]);
    expect(result.files[0]!.thumbnail).toBeUndefined();
    expect(await readFile(result.files[0]!.absolutePath)).toEqual(broken);
    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(typeof sidecar.files[0].thumbnail_skipped).toBe('string');
    expect(sidecar.files[0].thumbnail_skipped.length).toBeGreaterThan(0);
  });

  it('is written as a derived file: temp file renamed into place, its bytes and folder fsynced after the last rename', async () => {
    const calls: string[] = [];
    const images = path.join(dataDir, 'conversations/conv1/images');
    const recording: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      async createExclusive(file) {
        const handle = await nodeCollectorFileSystem.createExclusive(file);
        return {
          ...handle,
          sync: async () => {
            calls.push(`fsync ${path.basename(file)}`);
            await handle.sync();
          },
        };
      },
      async rename(from, to) {
        calls.push(`rename ${path.basename(from)} -> ${path.basename(to)}`);
        await nodeCollectorFileSystem.rename(from, to);
      },
      async syncDirectory(dir) {
        calls.push(`fsync dir ${path.relative(dataDir, dir)}`);
        await nodeCollectorFileSystem.syncDirectory(dir);
      },
    };
    await collect(new OutputCollector({ dataDir, thumbnails: webp256, fileSystem: recording }), [await outputFile('a.png', png(300, 300))]);

    // Written again after a crash, so its bytes are fsynced with the folder (once for the whole
    // job, after the last rename — the sidecar's), not before its own rename; all of it before
    // collect() returned.
    const synced = calls.findIndex((c) => /^fsync \.job1\.thumb\.webp\.[0-9a-f]{8}\.partial$/.test(c));
    const renamed = calls.findIndex((c) => /^rename \.job1\.thumb\.webp\.[0-9a-f]{8}\.partial -> job1\.thumb\.webp$/.test(c));
    const lastRename = calls.findLastIndex((c) => c.startsWith('rename '));
    const folderSynced = calls.indexOf(`fsync dir ${path.relative(dataDir, images)}`);
    expect(renamed).toBeGreaterThanOrEqual(0);
    expect(calls[lastRename]).toMatch(/-> job1_metadata\.json$/);
    expect(synced).toBeGreaterThan(lastRename);
    expect(folderSynced).toBeGreaterThan(lastRename);
    // The thumbnail is renamed after the image it shows.
    expect(renamed).toBeGreaterThan(calls.indexOf('rename a.png -> job1.png'));
  });

  it('a full disk while writing the thumbnail fails the job as FILE_MOVE_FAILED and puts the image back in ComfyUI', async () => {
    const full: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      async createExclusive(file) {
        if (file.includes('.thumb.')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return nodeCollectorFileSystem.createExclusive(file);
      },
    };
    const bytes = png(300, 200);
    const outcome = await collect(new OutputCollector({ dataDir, thumbnails: webp256, fileSystem: full }), [await outputFile('c.png', bytes)]).catch(
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(ChorusError);
    expect((outcome as ChorusError).code).toBe('FILE_MOVE_FAILED');
    expect((outcome as ChorusError).details).toMatchObject({ reason: 'write_failed', errno: 'ENOSPC' });
    expect(await readFile(path.join(output, 'c.png'))).toEqual(bytes);
    expect(await readdir(path.join(dataDir, 'conversations/conv1/images'))).toEqual([]);
  });

  it('a second run (after a crash) gives the same thumbnail and clears a half-written one', async () => {
    const collector = new OutputCollector({ dataDir, thumbnails: webp256 });
    const ref = await outputFile('d.png', png(500, 500));
    const images = path.join(dataDir, 'conversations/conv1/images');
    await mkdir(images, { recursive: true });
    await writeFile(path.join(images, '.job1.thumb.webp.0badf00d.partial'), Buffer.alloc(10));

    const first = await collect(collector, [ref]);
    const second = await collect(collector, [ref]);

    expect(second.files[0]!.thumbnail).toEqual(first.files[0]!.thumbnail);
    expect(second.files[0]!.sha256).toBe(first.files[0]!.sha256);
    expect((await readdir(images)).sort()).toEqual(['job1.png', 'job1.thumb.webp', 'job1_metadata.json']);
  });
});

describe('thumbnails config', () => {
  it('defaults to 256 px WebP at quality 80; `enabled: false` turns them off', () => {
    const defaults = parseServiceConfig({});
    expect(defaults.thumbnails).toEqual({ enabled: true, max_size: 256, format: 'webp', quality: 80 });
    expect(thumbnailSettingsFrom(defaults.thumbnails)).toEqual({ maxSize: 256, format: 'webp', quality: 80 });
    expect(thumbnailSettingsFrom(parseServiceConfig({ thumbnails: { enabled: false } }).thumbnails)).toBeUndefined();
    expect(() => parseServiceConfig({ thumbnails: { format: 'bmp' } })).toThrow(/thumbnails\.format/);
  });
});
