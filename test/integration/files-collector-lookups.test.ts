/**
 * The collector's per-job file-system lookups are cut to what can change between jobs: the
 * data folder's and ComfyUI's folders' real paths are resolved once, a destination folder's
 * on every job (so a folder deleted or swapped for a symlink underneath is still noticed),
 * and a folder is listed for crash debris once per process, not on every job.
 */
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { nodeCollectorFileSystem, OutputCollector, type CollectorFileSystem } from '../../src/files/index.js';
import { writeShadedOutput } from '../support/shaded-png-output.js';

let root: string;
let output: string;
let dataDir: string;
let images: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-lookups-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
  images = path.join(dataDir, 'conversations', 'conv1', 'images');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const outputFile = (filename: string, shade: number): Promise<OutputFileRef> => writeShadedOutput(output, filename, shade);

/** The real file system, counting calls by method and path. */
function countingFs(): { fs: CollectorFileSystem; calls: string[] } {
  const calls: string[] = [];
  const counted = <K extends 'readdir' | 'realpath' | 'mkdirp' | 'lstat'>(key: K) =>
    (async (file: string) => {
      calls.push(`${key} ${path.relative(root, file)}`);
      return (nodeCollectorFileSystem[key] as (file: string) => Promise<unknown>)(file);
    }) as CollectorFileSystem[K];
  return {
    fs: { ...nodeCollectorFileSystem, readdir: counted('readdir'), realpath: counted('realpath'), mkdirp: counted('mkdirp'), lstat: counted('lstat') },
    calls,
  };
}

const collect = (collector: OutputCollector, jobId: string, files: OutputFileRef[]) =>
  collector.collect({ jobId, conversationId: 'conv1', files, mode: 'move', comfyOutputDir: output, metadata: {} });

describe('OutputCollector lookups per job', () => {
  it('a second job in the same folder resolves only what can change: no listing, no data or ComfyUI root lookup', async () => {
    const { fs, calls } = countingFs();
    const collector = new OutputCollector({ dataDir, fileSystem: fs });
    await collect(collector, 'job1', [await outputFile('a.png', 1)]);
    expect(calls).toContain('readdir data/conversations/conv1/images');
    calls.length = 0;

    await collect(collector, 'job2', [await outputFile('b.png', 2)]);
    expect(calls.sort()).toEqual(
      [
        'lstat ComfyUI/output/b.png', // ComfyUI's file is a regular file
        'lstat data/conversations/conv1/images/job2.png', // the destination is free (idempotency)
        'realpath ComfyUI/output/b.png', // ComfyUI's file does not lead outside its folder
        'realpath data/conversations/conv1/images', // the destination folder does not lead outside the data folder
      ].sort(),
    );
  });

  it('a destination folder deleted between two jobs is made again', async () => {
    const collector = new OutputCollector({ dataDir });
    await collect(collector, 'job1', [await outputFile('a.png', 1)]);
    await rm(dataDir, { recursive: true });
    const result = await collect(collector, 'job2', [await outputFile('b.png', 2)]);
    expect((await readdir(images)).sort()).toEqual(['job2.png', 'job2_metadata.json']);
    expect(result.files[0]!.absolutePath).toBe(path.join(images, 'job2.png'));
  });

  it('a conversation folder swapped for a symlink leading outside after a first job is still refused', async () => {
    const collector = new OutputCollector({ dataDir });
    await collect(collector, 'job1', [await outputFile('a.png', 1)]);
    const outside = path.join(root, 'elsewhere');
    await mkdir(outside);
    await rm(path.join(dataDir, 'conversations', 'conv1'), { recursive: true });
    await symlink(outside, path.join(dataDir, 'conversations', 'conv1'));
    const error = await collect(collector, 'job2', [await outputFile('b.png', 2)]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FILE_MOVE_FAILED', details: { reason: 'unsafe_path' } });
    // No file lands outside (an empty folder may: it was made before the check, as always).
    expect((await readdir(outside, { recursive: true, withFileTypes: true })).filter((entry) => !entry.isDirectory())).toEqual([]);
    expect(await readdir(output)).toContain('b.png');
  });

  it("the first visit of a folder removes this job's leftovers and hour-old debris of others, and keeps another writer's fresh temp file", async () => {
    await mkdir(images, { recursive: true });
    const ours = path.join(images, '.job1.png.0badf00d.partial');
    const oldDebris = path.join(images, '.jobX.png.12345678.partial');
    const liveTemp = path.join(images, '.jobY.png.87654321.partial');
    const notATemp = path.join(images, '.jobZ.png.partial');
    for (const file of [ours, oldDebris, liveTemp, notATemp]) await writeFile(file, 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(oldDebris, twoHoursAgo, twoHoursAgo);
    await utimes(notATemp, twoHoursAgo, twoHoursAgo);

    await collect(new OutputCollector({ dataDir }), 'job1', [await outputFile('a.png', 1)]);
    expect((await readdir(images)).sort()).toEqual(['.jobY.png.87654321.partial', '.jobZ.png.partial', 'job1.png', 'job1_metadata.json']);
  });
});
