/**
 * The collector's read-ahead (issue 16): the files ComfyUI's `executed` message names are
 * hashed, fsynced and thumbnailed while the prompt finishes, and collect() uses that work
 * only for the very same file. History stays the authority on which files a job made.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { generateCommandSchema } from '../../src/commands/command-schemas.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { finalStates } from '../../src/contracts/index.js';
import { nodeCollectorFileSystem, OutputCollector, type CollectorFileSystem, type WarmRequest } from '../../src/files/index.js';
import { SourceWarmup } from '../../src/files/source-warmup.js';
import { RootRealpaths } from '../../src/files/realpath-cache.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { shadedPng, writeShadedOutput } from '../support/shaded-png-output.js';

let root: string;
let output: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-warmup-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const thumbnails = { maxSize: 2, format: 'webp', quality: 80 } as const;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The real file system, recording reads and fsyncs of ComfyUI's files, and telling when one is done. */
function recordingFs(): { fs: CollectorFileSystem; calls: string[]; synced(file: string): Promise<void> } {
  const calls: string[] = [];
  const waiters = new Map<string, () => void>();
  const done = new Set<string>();
  return {
    calls,
    fs: {
      ...nodeCollectorFileSystem,
      readStream(file, expectedBytes) {
        calls.push(`read ${path.relative(root, file)}`);
        return nodeCollectorFileSystem.readStream(file, expectedBytes);
      },
      async syncFile(file) {
        calls.push(`fsync ${path.relative(root, file)}`);
        await nodeCollectorFileSystem.syncFile(file);
        done.add(file);
        waiters.get(file)?.();
      },
    },
    synced: (file) => (done.has(file) ? Promise.resolve() : new Promise((resolve) => waiters.set(file, resolve))),
  };
}

const collect = (collector: OutputCollector, jobId: string, files: OutputFileRef[]) =>
  collector.collect({ jobId, conversationId: 'conv1', files, mode: 'move', comfyOutputDir: output, metadata: {} });

describe('OutputCollector read-ahead', () => {
  it('a file read ahead is neither read nor fsynced again by collect(), and the result is the same', async () => {
    const recorder = recordingFs();
    const collector = new OutputCollector({ dataDir, fileSystem: recorder.fs, thumbnails });
    const ref = await writeShadedOutput(output, 'a.png', 7);
    collector.warm({ files: [ref], comfyOutputDir: output });
    await recorder.synced(path.join(output, 'a.png'));
    expect(recorder.calls.sort()).toEqual(['fsync ComfyUI/output/a.png', 'read ComfyUI/output/a.png']);
    recorder.calls.length = 0;

    const result = await collect(collector, 'job1', [ref]);
    expect(recorder.calls.filter((call) => call.includes('ComfyUI'))).toEqual([]);
    const file = result.files[0]!;
    const delivered = await readFile(file.absolutePath);
    expect(delivered).toEqual(shadedPng(7));
    expect(file.sha256).toBe(sha256(delivered));
    expect(file.thumbnail).toMatchObject({ mediaType: 'image/webp', width: 2, height: 2 });
    expect((await readFile(file.thumbnail!.absolutePath)).length).toBe(file.thumbnail!.bytes);
    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(sidecar.files[0]).toMatchObject({ sha256: file.sha256, thumbnail: { bytes: file.thumbnail!.bytes, width: 2 } });
  });

  it('a file replaced after it was read ahead is read again: the checksum is of the bytes delivered', async () => {
    const recorder = recordingFs();
    const collector = new OutputCollector({ dataDir, fileSystem: recorder.fs, thumbnails });
    const ref = await writeShadedOutput(output, 'b.png', 1);
    collector.warm({ files: [ref], comfyOutputDir: output });
    await recorder.synced(path.join(output, 'b.png'));
    // Another file under the same name (a new inode), as a custom node overwriting its output would leave it.
    await writeFile(path.join(output, 'b.new'), shadedPng(200));
    await rename(path.join(output, 'b.new'), path.join(output, 'b.png'));
    recorder.calls.length = 0;

    const result = await collect(collector, 'job2', [ref]);
    expect(recorder.calls).toContain('read ComfyUI/output/b.png');
    expect(recorder.calls).toContain('fsync ComfyUI/output/b.png');
    const delivered = await readFile(result.files[0]!.absolutePath);
    expect(delivered).toEqual(shadedPng(200));
    expect(result.files[0]!.sha256).toBe(sha256(delivered));
  });

  it('a file rewritten in place to another size after the read-ahead is read again', async () => {
    const recorder = recordingFs();
    const collector = new OutputCollector({ dataDir, fileSystem: recorder.fs });
    const ref = await writeShadedOutput(output, 'c.png', 3);
    collector.warm({ files: [ref], comfyOutputDir: output });
    await recorder.synced(path.join(output, 'c.png'));
    const larger = Buffer.concat([shadedPng(3), Buffer.alloc(16)]);
    await writeFile(path.join(output, 'c.png'), larger);

    const result = await collect(collector, 'job3', [ref]);
    expect(result.files[0]!.bytes).toBe(larger.length);
    expect(result.files[0]!.sha256).toBe(sha256(larger));
  });

  it('unsafe, missing and temp names are ignored without a throw; collect() reports them as it always did', async () => {
    const collector = new OutputCollector({ dataDir });
    const request: WarmRequest = {
      comfyOutputDir: output,
      files: [
        { nodeId: '1', key: 'images', filename: '../../etc/passwd', subfolder: '', type: 'output' },
        { nodeId: '1', key: 'images', filename: 'x.png', subfolder: '../..', type: 'output' },
        { nodeId: '1', key: 'images', filename: 'missing.png', subfolder: '', type: 'output' },
        { nodeId: '1', key: 'images', filename: 'preview.png', subfolder: '', type: 'temp' },
      ],
    };
    expect(() => collector.warm(request)).not.toThrow();
    const missing = await collect(collector, 'job4', [request.files[2]!]).catch((error: unknown) => error);
    expect(missing).toMatchObject({ code: 'OUTPUT_FILE_NOT_FOUND' });
    const unsafe = await collect(collector, 'job5', [request.files[0]!]).catch((error: unknown) => error);
    expect(unsafe).toMatchObject({ code: 'FILE_MOVE_FAILED' });
  });
});

describe('SourceWarmup bounds', () => {
  const ref = (filename: string): OutputFileRef => ({ nodeId: '1', key: 'images', filename, subfolder: '', type: 'output' });

  it('an entry nobody took is dropped after a minute; each entry is taken at most once', async () => {
    let now = 0;
    const warmup = new SourceWarmup(nodeCollectorFileSystem, new RootRealpaths(nodeCollectorFileSystem), 1024, undefined, () => now);
    await writeShadedOutput(output, 'old.png', 1);
    await writeShadedOutput(output, 'new.png', 2);
    warmup.warm({ files: [ref('old.png')], comfyOutputDir: output });
    now = 61_000;
    warmup.warm({ files: [ref('new.png')], comfyOutputDir: output });
    expect(warmup.take(path.join(output, 'old.png'))).toBeUndefined();
    const taken = await warmup.take(path.join(output, 'new.png'));
    expect(taken?.hashed.sha256).toBe(sha256(shadedPng(2)));
    expect(warmup.take(path.join(output, 'new.png'))).toBeUndefined();
    expect(warmup.size).toBe(0);
  });

  it('keeps bytes in memory only within its budget; a file past it is still hashed, and taking an entry frees its share', async () => {
    const size = shadedPng(1).length;
    const warmup = new SourceWarmup(nodeCollectorFileSystem, new RootRealpaths(nodeCollectorFileSystem), 1024, undefined, () => 0, Math.floor(size * 1.5));
    for (const [name, shade] of [
      ['a.png', 1],
      ['b.png', 2],
      ['c.png', 3],
    ] as const)
      await writeShadedOutput(output, name, shade);
    warmup.warm({ files: [ref('a.png')], comfyOutputDir: output });
    const a = await warmup.take(path.join(output, 'a.png'));
    expect(a?.hashed.content).toEqual(shadedPng(1));
    // a's share is freed by the take: b fits; c, while b is held, does not.
    warmup.warm({ files: [ref('b.png')], comfyOutputDir: output });
    expect(warmup.keptBytesHeld).toBe(0);
    for (let i = 0; i < 250 && warmup.keptBytesHeld === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(warmup.keptBytesHeld).toBe(shadedPng(2).length);
    warmup.warm({ files: [ref('c.png')], comfyOutputDir: output });
    const c = await warmup.take(path.join(output, 'c.png'));
    const b = await warmup.take(path.join(output, 'b.png'));
    expect(b?.hashed.content).toEqual(shadedPng(2));
    expect(c?.hashed.content).toBeUndefined();
    expect(c?.hashed.sha256).toBe(sha256(shadedPng(3)));
  });

  it('holds at most 64 files: the oldest go first', () => {
    const warmup = new SourceWarmup(nodeCollectorFileSystem, new RootRealpaths(nodeCollectorFileSystem), 1024, undefined, () => 0);
    warmup.warm({ files: Array.from({ length: 70 }, (_, i) => ref(`f${i}.png`)), comfyOutputDir: output });
    expect(warmup.size).toBe(64);
    expect(warmup.take(path.join(output, 'f5.png'))).toBeUndefined();
    expect(warmup.take(path.join(output, 'f6.png'))).toBeDefined();
  });
});

describe('a job reads its outputs ahead from the WebSocket', () => {
  let sim: SimulatorHandle;
  let runtime: JobRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    await sim?.close();
  });

  it('the collector is told the files at `executed`, before collect(), and collect() does not read them again', async () => {
    sim = await startSimulator({ port: 0, outputDir: path.join(root, 'comfy', 'output'), stepDelayMs: 0, nodeDelayMs: 1, previews: false });
    const workflows = path.join(root, 'workflows');
    await mkdir(workflows);
    await copyFile('workflows/no_model_test.json', path.join(workflows, 'no_model_test.json'));
    const recorder = recordingFs();
    const real = new OutputCollector({ dataDir, fileSystem: recorder.fs, thumbnails });
    const order: string[] = [];
    const collector = {
      warm(request: WarmRequest) {
        order.push(`warm ${request.files.map((file) => file.filename).join(',')}`);
        real.warm(request);
      },
      collect(request: Parameters<OutputCollector['collect']>[0]) {
        order.push(`collect ${request.files.map((file) => file.filename).join(',')}`);
        return real.collect(request);
      },
    };
    const config = parseServiceConfig({
      comfyui: {
        backends: [{ name: 'sim', url: sim.url, max_concurrent: 1, output_directory: sim.outputDir }],
        file_management: { mode: 'move', output_directory: sim.outputDir },
      },
      data_dir: dataDir,
      workflows_dir: workflows,
      database: { url: `sqlite:${path.join(root, 'jobs.db')}` },
      nats: { enabled: false },
    });
    runtime = await createJobRuntime(config, { collector });
    const { job } = await runtime.service.generate(generateCommandSchema.parse({ conversation_id: 'c1', workflow: 'no_model_test', prompt: 'a red square' }));
    const deadline = Date.now() + 15_000;
    let view = (await runtime.service.get(job.id)).job;
    while (!finalStates.has(view.state) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      view = (await runtime.service.get(job.id)).job;
    }
    expect(view.state).toBe('completed');
    const { filename: saved, subfolder } = view.result!.files[0]!.original;
    expect(order).toEqual([`warm ${saved}`, `collect ${saved}`]);
    const source = path.relative(root, path.join(sim.outputDir, subfolder, saved));
    // Read and fsynced once, by the read-ahead; collect() used that work.
    expect(recorder.calls.filter((call) => call.endsWith(source)).sort()).toEqual([`fsync ${source}`, `read ${source}`]);
  });
});
