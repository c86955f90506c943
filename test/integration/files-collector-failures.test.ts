import { mkdtemp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { ChorusError } from '../../src/errors/index.js';
import { nodeCollectorFileSystem, OutputCollector, type CollectorFileSystem, type CollectRequest } from '../../src/files/index.js';

let root: string;
let output: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-failures-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function png(width: number, height: number, shade = 90): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(shade);
  return PNG.sync.write(image);
}

async function outputFile(filename: string, bytes = png(4, 4)): Promise<OutputFileRef> {
  await writeFile(path.join(output, filename), bytes);
  return { nodeId: '2', key: 'images', filename, subfolder: '', type: 'output' };
}

const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** The real file system with some operations replaced: how tests fill the disk as root. */
const faultyFs = (overrides: Partial<CollectorFileSystem>): CollectorFileSystem => ({ ...nodeCollectorFileSystem, ...overrides });

async function failure(collector: OutputCollector, request: Partial<CollectRequest> & Pick<CollectRequest, 'files'>): Promise<ChorusError> {
  const outcome = await collector.collect({ jobId: 'job1', conversationId: 'conv1', mode: 'move', comfyOutputDir: output, metadata: {}, ...request }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(ChorusError);
  return outcome as ChorusError;
}

/** Every file below `dir`, relative, hidden temp files included. */
async function listTree(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('OutputCollector failures', () => {
  it('NO_OUTPUT when ComfyUI reported nothing, or nothing that is media', async () => {
    expect((await failure(new OutputCollector({ dataDir }), { files: [] })).code).toBe('NO_OUTPUT');
    const text = await outputFile('caption_00001_.txt', Buffer.from('just words'));
    expect((await failure(new OutputCollector({ dataDir }), { files: [{ ...text, key: 'text' }] })).code).toBe('NO_OUTPUT');
  });

  it('OUTPUT_FILE_NOT_FOUND with the expected path when a reported file is not on disk', async () => {
    const ref: OutputFileRef = { nodeId: '2', key: 'images', filename: 'missing_00001_.png', subfolder: 'sub', type: 'output' };
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref] });
    expect(error.code).toBe('OUTPUT_FILE_NOT_FOUND');
    expect(error.details).toMatchObject({ expected_path: path.join(output, 'sub', 'missing_00001_.png') });
  });

  it.each([
    ['filename with ..', { filename: '../../secret.png' }],
    ['absolute filename', { filename: '/etc/passwd.png' }],
    ['subfolder climbing out', { subfolder: '../..' }],
    ['absolute subfolder', { subfolder: '/etc' }],
    ['backslash filename', { filename: '..\\..\\x.png' }],
    ['NUL in filename', { filename: 'a\u0000.png' }],
    ['odd characters', { filename: 'a$(id).png' }],
    ['unknown type', { type: '../output' }],
  ])('refuses a ComfyUI %s before touching the disk', async (_label, override) => {
    const ref = { ...(await outputFile('fine_00001_.png')), ...override };
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref] });
    expect(error.code).toBe('FILE_MOVE_FAILED');
    expect(error.details).toMatchObject({ reason: 'unsafe_path' });
    expect(await exists(dataDir)).toBe(false);
  });

  it.each([
    ['job id', { jobId: '../../escape' }],
    ['conversation id', { conversationId: 'a/../../b' }],
    ['conversation id dot-dot', { conversationId: '..' }],
  ])('refuses an unsafe %s', async (_label, override) => {
    const ref = await outputFile('fine_00001_.png');
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref], ...override });
    expect(error.details).toMatchObject({ reason: 'unsafe_path' });
    expect(await exists(path.join(output, 'fine_00001_.png'))).toBe(true);
  });

  it("refuses a symlink in ComfyUI's folder that leads outside it", async () => {
    const outside = path.join(root, 'private');
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret.png'), png(2, 2));
    await symlink(outside, path.join(output, 'evil'));
    const ref: OutputFileRef = { nodeId: '2', key: 'images', filename: 'secret.png', subfolder: 'evil', type: 'output' };
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref] });
    expect(error.details).toMatchObject({ reason: 'unsafe_path' });
    expect(await exists(path.join(outside, 'secret.png'))).toBe(true);
  });

  it('refuses a conversation folder symlinked outside the data folder', async () => {
    const outside = path.join(root, 'elsewhere');
    await mkdir(outside);
    await mkdir(path.join(dataDir, 'conversations'), { recursive: true });
    await symlink(outside, path.join(dataDir, 'conversations', 'conv1'));
    const ref = await outputFile('a_00001_.png');
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref] });
    expect(error.details).toMatchObject({ reason: 'unsafe_path' });
    expect(await listTree(outside)).toEqual([]);
    expect(await exists(path.join(output, 'a_00001_.png'))).toBe(true);
  });

  it("FILE_MOVE_FAILED on a full disk; ComfyUI's file stays and no temp file is left (copy across file systems)", async () => {
    const bytes = png(16, 16);
    const ref = await outputFile('full_00001_.png', bytes);
    const fileSystem = faultyFs({
      // Renaming out of ComfyUI's folder crosses a file system; then every write hits a full disk.
      rename: (from, to) => (from.startsWith(output) ? Promise.reject(errno('EXDEV')) : nodeCollectorFileSystem.rename(from, to)),
      async createExclusive(file) {
        const real = await nodeCollectorFileSystem.createExclusive(file);
        return { ...real, write: () => Promise.reject(errno('ENOSPC')) };
      },
    });
    const error = await failure(new OutputCollector({ dataDir, fileSystem }), { files: [ref] });
    expect(error.code).toBe('FILE_MOVE_FAILED');
    expect(error.recoverable).toBe(true);
    expect(error.details).toMatchObject({ reason: 'write_failed', errno: 'ENOSPC' });
    expect((await readFile(path.join(output, 'full_00001_.png'))).equals(bytes)).toBe(true);
    expect(await listTree(dataDir)).toEqual([]);
  });

  it('moves across file systems (EXDEV) by copy + fsync + unlink', async () => {
    const bytes = png(9, 9);
    const ref = await outputFile('xdev_00001_.png', bytes);
    const fileSystem = faultyFs({
      rename: (from, to) => (from.startsWith(output) ? Promise.reject(errno('EXDEV')) : nodeCollectorFileSystem.rename(from, to)),
    });
    const result = await new OutputCollector({ dataDir, fileSystem }).collect({
      jobId: 'x1',
      conversationId: 'c',
      files: [ref],
      mode: 'move',
      comfyOutputDir: output,
      metadata: {},
    });
    expect((await readFile(result.files[0]!.absolutePath)).equals(bytes)).toBe(true);
    expect(await exists(path.join(output, 'xdev_00001_.png'))).toBe(false);
  });

  it('FILE_MOVE_FAILED when the rename is refused (EACCES), source untouched', async () => {
    const ref = await outputFile('acc_00001_.png');
    const fileSystem = faultyFs({ rename: () => Promise.reject(errno('EACCES')) });
    const error = await failure(new OutputCollector({ dataDir, fileSystem }), { files: [ref] });
    expect(error.details).toMatchObject({ reason: 'write_failed', errno: 'EACCES' });
    expect(await exists(path.join(output, 'acc_00001_.png'))).toBe(true);
  });

  it('FILE_MOVE_FAILED when the data folder sits under a regular file (ENOTDIR)', async () => {
    await writeFile(path.join(root, 'not-a-dir'), 'x');
    const ref = await outputFile('b_00001_.png');
    const error = await failure(new OutputCollector({ dataDir: path.join(root, 'not-a-dir', 'data') }), { files: [ref], mode: 'copy' });
    expect(error.code).toBe('FILE_MOVE_FAILED');
    expect(error.details).toMatchObject({ reason: 'write_failed', errno: 'ENOTDIR' });
  });

  it('never overwrites a destination holding different bytes', async () => {
    const ref = await outputFile('c_00001_.png', png(4, 4, 1));
    const images = path.join(dataDir, 'conversations', 'conv1', 'images');
    await mkdir(images, { recursive: true });
    await writeFile(path.join(images, 'job1.png'), "someone else's file");
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref] });
    expect(error.details).toMatchObject({ reason: 'destination_conflict' });
    expect(error.recoverable).toBe(false);
    expect(await readFile(path.join(images, 'job1.png'), 'utf8')).toBe("someone else's file");
    expect(await exists(path.join(output, 'c_00001_.png'))).toBe(true);
  });

  it('refuses a destination that is a symlink', async () => {
    const ref = await outputFile('d_00001_.png');
    const images = path.join(dataDir, 'conversations', 'conv1', 'images');
    await mkdir(images, { recursive: true });
    await symlink(path.join(root, 'target.png'), path.join(images, 'job1.png'));
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref], mode: 'copy' });
    expect(error.details).toMatchObject({ reason: 'unsafe_path', field: 'destination' });
    expect(await exists(path.join(root, 'target.png'))).toBe(false);
  });

  it('stops between files when aborted, without a sidecar; a later run completes the job', async () => {
    const files = [await outputFile('e_00001_.png', png(3, 3, 1)), await outputFile('e_00002_.png', png(3, 3, 2))];
    const controller = new AbortController();
    const fileSystem = faultyFs({
      async rename(from, to) {
        await nodeCollectorFileSystem.rename(from, to);
        controller.abort(new Error('job cancelled'));
      },
    });
    const error = await failure(new OutputCollector({ dataDir, fileSystem }), { files, signal: controller.signal });
    expect(error.details).toMatchObject({ reason: 'aborted' });
    const images = path.join('conversations', 'conv1', 'images');
    // The file already moved goes back: a job that did not finish keeps its outputs in ComfyUI.
    expect(await listTree(dataDir)).toEqual([]);
    expect(await exists(path.join(output, 'e_00001_.png'))).toBe(true);
    expect(await exists(path.join(output, 'e_00002_.png'))).toBe(true);

    const result = await new OutputCollector({ dataDir }).collect({
      jobId: 'job1',
      conversationId: 'conv1',
      files,
      mode: 'move',
      comfyOutputDir: output,
      metadata: {},
    });
    expect(result.files).toHaveLength(2);
    expect(await listTree(dataDir)).toEqual([path.join(images, 'job1_1.png'), path.join(images, 'job1_2.png'), path.join(images, 'job1_metadata.json')]);
  });

  it('a full disk while writing the sidecar (move mode) puts every moved file back in ComfyUI', async () => {
    const files = [await outputFile('g_00001_.png', png(5, 5, 1)), await outputFile('g_00002_.png', png(5, 5, 2))];
    const fileSystem = faultyFs({
      async createExclusive(file) {
        const real = await nodeCollectorFileSystem.createExclusive(file);
        return file.includes('_metadata.json') ? { ...real, write: () => Promise.reject(errno('ENOSPC')) } : real;
      },
    });
    const error = await failure(new OutputCollector({ dataDir, fileSystem }), { files });
    expect(error.code).toBe('FILE_MOVE_FAILED');
    expect(error.details).toMatchObject({ reason: 'write_failed', errno: 'ENOSPC' });
    expect((await readFile(path.join(output, 'g_00001_.png'))).equals(png(5, 5, 1))).toBe(true);
    expect((await readFile(path.join(output, 'g_00002_.png'))).equals(png(5, 5, 2))).toBe(true);
    expect(await listTree(dataDir)).toEqual([]);
  });

  it("moving across file systems removes ComfyUI's copies only after the sidecar is written", async () => {
    const files = [await outputFile('h_00001_.png', png(6, 6, 1)), await outputFile('h_00002_.png', png(6, 6, 2))];
    const fileSystem = faultyFs({
      rename: (from, to) => (from.startsWith(output) ? Promise.reject(errno('EXDEV')) : nodeCollectorFileSystem.rename(from, to)),
      async createExclusive(file) {
        const real = await nodeCollectorFileSystem.createExclusive(file);
        return file.includes('_metadata.json') ? { ...real, write: () => Promise.reject(errno('ENOSPC')) } : real;
      },
    });
    await failure(new OutputCollector({ dataDir, fileSystem }), { files });
    expect(await exists(path.join(output, 'h_00001_.png'))).toBe(true);
    expect(await exists(path.join(output, 'h_00002_.png'))).toBe(true);
    expect(await listTree(dataDir)).toEqual([]);
  });

  it('a download that breaks mid-stream is COMFY_UNAVAILABLE and leaves no temp file', async () => {
    const ref: OutputFileRef = { nodeId: '2', key: 'images', filename: 'f_00001_.png', subfolder: '', type: 'output' };
    const download = async () =>
      new Readable({
        read() {
          this.push(png(2, 2));
          this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        },
      });
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref], mode: 'download', download });
    expect(error.code).toBe('COMFY_UNAVAILABLE');
    expect(await listTree(dataDir)).toEqual([]);
  });

  it('CONFIG_INVALID when a local mode has no ComfyUI output folder', async () => {
    const ref = await outputFile('g_00001_.png');
    const error = await failure(new OutputCollector({ dataDir }), { files: [ref], comfyOutputDir: undefined });
    expect(error.code).toBe('CONFIG_INVALID');
  });
});
