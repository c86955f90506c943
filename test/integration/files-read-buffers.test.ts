/**
 * Read buffers sized to the file (issue 16): Node's file read stream allocates a new buffer of
 * its highWaterMark for every read (outside V8's heap; a short read is then copied into a
 * smaller one), so the highWaterMark is what each read costs. At a fixed 1 MiB, every small
 * output cost 2 MiB of such memory, and at light load the service ran a full mark-compact
 * every ~100 ms. Checked on the real file system: the read size of the streams the collector
 * opens (read-ahead, move, copy, an earlier run's file at the destination), and that the
 * bytes still arrive whole.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBufferBytes } from '../../src/files/collector-file-system.js';
import { nodeCollectorFileSystem, OutputCollector, type CollectorFileSystem } from '../../src/files/index.js';
import { writeShadedOutput } from '../support/shaded-png-output.js';

let root: string;
let output: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-read-buffers-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The real file system, noting the read size of every stream the collector opens. */
function measuringFs(): { fs: CollectorFileSystem; readSizes: number[] } {
  const readSizes: number[] = [];
  return {
    readSizes,
    fs: {
      ...nodeCollectorFileSystem,
      readStream(file, expectedBytes) {
        const stream = nodeCollectorFileSystem.readStream(file, expectedBytes);
        readSizes.push(stream.readableHighWaterMark);
        return stream;
      },
    },
  };
}

describe('read buffers sized to the file', () => {
  it('a small file read with its size is read 16 KiB at a time, not 1 MiB', async () => {
    const file = path.join(root, 'small.bin');
    const content = Buffer.alloc(2_000, 7);
    await writeFile(file, content);
    const stream = nodeCollectorFileSystem.readStream(file, content.length);
    expect(stream.readableHighWaterMark).toBe(16 * 1024);
    expect(await readAll(stream)).toEqual(content);
  });

  it('a file that grew after its size was taken is still read whole', async () => {
    const file = path.join(root, 'grew.bin');
    const content = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    await writeFile(file, content);
    const stream = nodeCollectorFileSystem.readStream(file, 10);
    expect(stream.readableHighWaterMark).toBe(16 * 1024);
    expect(sha256(await readAll(stream))).toBe(sha256(content));
  });

  it('without a size, and for large files, reads stay at most 1 MiB', async () => {
    expect(readBufferBytes(undefined)).toBe(1024 * 1024);
    expect(readBufferBytes(50 * 1024 ** 2)).toBe(1024 * 1024);
    expect(readBufferBytes(300_000)).toBe(300_000);
    expect(readBufferBytes(0)).toBe(16 * 1024);
    expect(readBufferBytes(Number.NaN)).toBe(1024 * 1024);
  });

  it('collect() reads a small output 16 KiB at a time, read ahead or not', async () => {
    const measured = measuringFs();
    const collector = new OutputCollector({ dataDir, fileSystem: measured.fs });
    const warmedRef = await writeShadedOutput(output, 'warmed.png', 5);
    const coldRef = await writeShadedOutput(output, 'cold.png', 9);
    collector.warm({ files: [warmedRef], comfyOutputDir: output });

    const collect = (jobId: string, ref: typeof warmedRef) =>
      collector.collect({ jobId, conversationId: 'conv1', files: [ref], mode: 'move', comfyOutputDir: output, metadata: {} });
    const warmed = await collect('job-warm', warmedRef);
    const cold = await collect('job-cold', coldRef);

    // Both were hashed through readStream (the read-ahead's read, and collect's own).
    expect(measured.readSizes).toEqual([16 * 1024, 16 * 1024]);
    for (const result of [warmed, cold]) {
      const delivered = await readFile(result.files[0]!.absolutePath);
      expect(result.files[0]!.sha256).toBe(sha256(delivered));
    }
  });

  it('copy mode, and a file an earlier run left at the destination, are read 16 KiB at a time too', async () => {
    const measured = measuringFs();
    const collector = new OutputCollector({ dataDir, fileSystem: measured.fs });
    const copied = await writeShadedOutput(output, 'copied.png', 11);
    const copyResult = await collector.collect({
      jobId: 'job-copy',
      conversationId: 'conv1',
      files: [copied],
      mode: 'copy',
      comfyOutputDir: output,
      metadata: {},
    });
    expect(measured.readSizes).toEqual([16 * 1024]);

    // A crash after the rename: the destination already holds the file; collect() reads it to compare.
    const again = await writeShadedOutput(output, 'again.png', 12);
    const destination = path.join(dataDir, 'conversations', 'conv1', 'images', 'job-again.png');
    await mkdir(path.dirname(destination), { recursive: true });
    await writeFile(destination, await readFile(path.join(output, 'again.png')));
    measured.readSizes.length = 0;
    const againResult = await collector.collect({
      jobId: 'job-again',
      conversationId: 'conv1',
      files: [again],
      mode: 'move',
      comfyOutputDir: output,
      metadata: {},
    });
    expect(againResult.files[0]).toMatchObject({ via: 'already_present' });
    // The destination's bytes (to compare), then ComfyUI's file (its checksum).
    expect(measured.readSizes).toEqual([16 * 1024, 16 * 1024]);
    for (const result of [copyResult, againResult]) {
      const delivered = await readFile(result.files[0]!.absolutePath);
      expect(result.files[0]!.sha256).toBe(sha256(delivered));
    }
  });
});
