/**
 * What the collector promises about durability, held through its file-system seam: every
 * file's bytes are fsynced before the name that makes them ours appears, and the folder of
 * every rename (and unlink of ComfyUI's copy) is fsynced after it. Skipping any one of those
 * fsyncs fails a test here. Also: failed clean-ups are logged, never swallowed.
 */
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { nodeCollectorFileSystem, OutputCollector, type CollectorFileSystem, type CollectRequest } from '../../src/files/index.js';
import type { JobResult } from '../../src/contracts/job-view.js';
import { shadedPng, writeShadedOutput } from '../support/shaded-png-output.js';

let root: string;
let output: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-durability-'));
  output = path.join(root, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  dataDir = path.join(root, 'data');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const png = shadedPng;
const outputFile = (filename: string, shade: number): Promise<OutputFileRef> => writeShadedOutput(output, filename, shade);

type Op =
  | { op: 'sync-data'; file: string } // fsync of a file's contents (ours while writing, or ComfyUI's)
  | { op: 'sync-dir'; dir: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; file: string };

/** The real file system, recording every sync, rename and unlink in order. */
function recordingFs(overrides: Partial<CollectorFileSystem> = {}): { fs: CollectorFileSystem; ops: Op[] } {
  const ops: Op[] = [];
  const base = { ...nodeCollectorFileSystem, ...overrides };
  const fs: CollectorFileSystem = {
    ...base,
    async createExclusive(file) {
      const real = await base.createExclusive(file);
      return {
        ...real,
        async sync() {
          await real.sync();
          ops.push({ op: 'sync-data', file });
        },
      };
    },
    async syncFile(file) {
      await base.syncFile(file);
      ops.push({ op: 'sync-data', file });
    },
    async syncDirectory(dir) {
      await base.syncDirectory(dir);
      ops.push({ op: 'sync-dir', dir });
    },
    async rename(from, to) {
      await base.rename(from, to);
      ops.push({ op: 'rename', from, to });
    },
    async unlink(file) {
      await base.unlink(file);
      ops.push({ op: 'unlink', file });
    },
  };
  return { fs, ops };
}

/** The files the service derives and writes again after a crash: the sidecar, thumbnails. */
const isDerived = (destination: string) => destination.endsWith('_metadata.json') || /\.thumb\.\w+$/.test(destination);

/**
 * Every rename into the data folder: its source bytes synced before it — or, for a derived
 * file, after the collection's last rename, with the folders — its destination folder synced
 * after it, and — when it took the file out of ComfyUI's folder — that folder too. Every
 * unlink of ComfyUI's copy is followed by a sync of its folder. All of it before collect()
 * returns (the ops are read after it).
 */
function assertDurable(ops: Op[]): void {
  const renames = ops.flatMap((o, i) => (o.op === 'rename' ? [{ ...o, i }] : []));
  expect(renames.length).toBeGreaterThan(0);
  const lastRename = renames.at(-1)!.i;
  for (const r of renames) {
    const before = ops.slice(0, r.i);
    const after = ops.slice(r.i + 1);
    if (isDerived(r.to)) {
      expect(before, `derived ${r.to}: not fsynced before its rename`).not.toContainEqual({ op: 'sync-data', file: r.from });
      expect(ops.slice(lastRename + 1), `derived ${r.to}: bytes fsynced after the last rename`).toContainEqual({ op: 'sync-data', file: r.from });
    } else expect(before, `bytes of ${r.from} fsynced before the rename`).toContainEqual({ op: 'sync-data', file: r.from });
    expect(after, `folder of ${r.to} fsynced after the rename`).toContainEqual({ op: 'sync-dir', dir: path.dirname(r.to) });
    if (r.from.startsWith(output)) {
      // ComfyUI's folder: fsynced too (settle() waited for it), and only once the file's new name is durable.
      const destinationSynced = after.findIndex((o) => o.op === 'sync-dir' && o.dir === path.dirname(r.to));
      expect(after.slice(destinationSynced + 1), `ComfyUI's folder fsynced after the destination folder`).toContainEqual({
        op: 'sync-dir',
        dir: path.dirname(r.from),
      });
    }
  }
  ops.forEach((o, i) => {
    if (o.op === 'unlink' && o.file.startsWith(output)) expect(ops.slice(i + 1)).toContainEqual({ op: 'sync-dir', dir: path.dirname(o.file) });
  });
}

/** The collector, whose collect() also waits for its background fsyncs (ComfyUI's folder), so the ops are complete. */
class SettlingCollector extends OutputCollector {
  override async collect(input: CollectRequest): Promise<JobResult> {
    try {
      return await super.collect(input);
    } finally {
      await this.settle();
    }
  }
}

const request = (files: OutputFileRef[], extra: Partial<CollectRequest> = {}): CollectRequest => ({
  jobId: 'job1',
  conversationId: 'conv1',
  files,
  mode: 'move',
  comfyOutputDir: output,
  metadata: {},
  ...extra,
});

describe('OutputCollector durability (fsync of data and folders)', () => {
  it("move: ComfyUI's file is fsynced, renamed, both folders fsynced (ComfyUI's after, in the background); the sidecar's bytes with the destination's, after its rename", async () => {
    const { fs, ops } = recordingFs();
    const files = [await outputFile('m_00001_.png', 1), await outputFile('m_00002_.png', 2)];
    const result = await new SettlingCollector({ dataDir, fileSystem: fs }).collect(request(files));
    assertDurable(ops);
    const destinations = ops.flatMap((o) => (o.op === 'rename' ? [o.to] : []));
    expect(destinations).toEqual([...result.files.map((f) => f.absolutePath), path.join(dataDir, result.metadataPath)]);
  });

  it("with thumbnails: the image's bytes fsynced before its rename, the thumbnails' after the last; each folder fsynced once, after the last rename", async () => {
    const { fs, ops } = recordingFs();
    const files = [await outputFile('t_00001_.png', 8), await outputFile('t_00002_.png', 9)];
    const thumbnails = { maxSize: 2, format: 'webp' as const, quality: 80 };
    const result = await new SettlingCollector({ dataDir, fileSystem: fs, thumbnails }).collect(request(files));
    assertDurable(ops);
    expect(result.files.map((f) => f.thumbnail?.path)).toEqual([
      'conversations/conv1/images/job1_1.thumb.webp',
      'conversations/conv1/images/job1_2.thumb.webp',
    ]);
    const renamedTo = ops.flatMap((o) => (o.op === 'rename' ? [path.basename(o.to)] : []));
    // Each thumbnail after its image; the sidecar last.
    expect(renamedTo.indexOf('job1_1.thumb.webp')).toBeGreaterThan(renamedTo.indexOf('job1_1.png'));
    expect(renamedTo.indexOf('job1_2.thumb.webp')).toBeGreaterThan(renamedTo.indexOf('job1_2.png'));
    expect(renamedTo.at(-1)).toBe('job1_metadata.json');
    const lastRename = ops.findLastIndex((o) => o.op === 'rename');
    const dirSyncs = ops.flatMap((o, i) => (o.op === 'sync-dir' ? [{ dir: o.dir, i }] : []));
    expect(dirSyncs.map((d) => d.dir).sort()).toEqual([output, path.join(dataDir, 'conversations/conv1/images')].sort());
    for (const { i } of dirSyncs) expect(i).toBeGreaterThan(lastRename);
  });

  it('copy: each copy is written to a temp file, fsynced, renamed, its folder fsynced', async () => {
    const { fs, ops } = recordingFs();
    await new SettlingCollector({ dataDir, fileSystem: fs }).collect(request([await outputFile('c_00001_.png', 3)], { mode: 'copy' }));
    assertDurable(ops);
    expect(ops.filter((o) => o.op === 'rename')).toHaveLength(2);
  });

  it('download: the downloaded bytes are fsynced before they get their name', async () => {
    const { fs, ops } = recordingFs();
    const ref: OutputFileRef = { nodeId: '2', key: 'images', filename: 'd_00001_.png', subfolder: '', type: 'output' };
    await new SettlingCollector({ dataDir, fileSystem: fs }).collect(
      request([ref], { mode: 'download', comfyOutputDir: undefined, download: async () => Readable.from([png(4)]) }),
    );
    assertDurable(ops);
  });

  it("move across file systems (EXDEV): copy fsynced before rename; ComfyUI's copy unlinked after the sidecar, its folder fsynced", async () => {
    const exdev = Object.assign(new Error('EXDEV: simulated'), { code: 'EXDEV' });
    const { fs, ops } = recordingFs({
      rename: (from, to) => (from.startsWith(output) ? Promise.reject(exdev) : nodeCollectorFileSystem.rename(from, to)),
    });
    await new SettlingCollector({ dataDir, fileSystem: fs }).collect(request([await outputFile('x_00001_.png', 5)]));
    assertDurable(ops);
    const unlinkAt = ops.findIndex((o) => o.op === 'unlink' && o.file.startsWith(output));
    const sidecarAt = ops.findIndex((o) => o.op === 'rename' && o.to.endsWith('_metadata.json'));
    expect(unlinkAt).toBeGreaterThan(sidecarAt);
  });
});

describe('OutputCollector looks things up side by side', () => {
  it("move: ComfyUI's file is looked up while the destination folder is still being checked, not after", async () => {
    const events: string[] = [];
    const fs: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      async realpath(file) {
        if (file.startsWith(dataDir)) {
          events.push('destination folder check starts');
          await new Promise((resolve) => setTimeout(resolve, 30));
          events.push('destination folder check ends');
        } else if (file.startsWith(output) && file.endsWith('.png')) events.push("ComfyUI's file looked up");
        return nodeCollectorFileSystem.realpath(file);
      },
    };
    await new SettlingCollector({ dataDir, fileSystem: fs }).collect(request([await outputFile('l_00001_.png', 7)]));
    expect(events.indexOf("ComfyUI's file looked up")).toBeGreaterThan(-1);
    expect(events.indexOf("ComfyUI's file looked up")).toBeLessThan(events.indexOf('destination folder check ends'));
  });
});

describe("ComfyUI's folder is fsynced off the job's path", () => {
  it("collect() returns once the destination is durable, without waiting for ComfyUI's folder; settle() finishes that, once for several jobs", async () => {
    const comfySyncs: Array<() => void> = [];
    const fs: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      syncDirectory: (dir) => (dir === output ? new Promise<void>((resolve) => comfySyncs.push(resolve)) : nodeCollectorFileSystem.syncDirectory(dir)),
    };
    // A minute: however slow this machine, the jobs finish before the fsync would begin.
    const collector = new OutputCollector({ dataDir, fileSystem: fs, vacatedFolderSyncDelayMs: 60_000 });
    const files = await Promise.all([1, 2, 3].map((i) => outputFile(`o_${i}_00001_.png`, i)));
    const results = await Promise.all(files.map((file, i) => collector.collect(request([file], { jobId: `job${i}` }))));
    expect(results.map((r) => r.files.length)).toEqual([1, 1, 1]);
    expect(comfySyncs).toHaveLength(0); // scheduled, not begun: the jobs did not wait for it
    const settled = collector.settle();
    await new Promise((resolve) => setImmediate(resolve));
    expect(comfySyncs).toHaveLength(1); // one fsync for the three files that left the folder
    comfySyncs[0]!();
    await settled;
  });
});

describe('OutputCollector writes the sidecar while the files move', () => {
  it("the sidecar's temp file is written while ComfyUI's file is still being renamed, and renamed after it", async () => {
    const events: string[] = [];
    const { fs, ops } = recordingFs({
      async rename(from, to) {
        if (from.startsWith(output)) {
          events.push('image rename starts');
          await new Promise((resolve) => setTimeout(resolve, 50));
          events.push('image rename ends');
        }
        await nodeCollectorFileSystem.rename(from, to);
      },
      async createExclusive(file) {
        if (file.includes('_metadata.json')) events.push('sidecar temp created');
        return nodeCollectorFileSystem.createExclusive(file);
      },
    });
    await new SettlingCollector({ dataDir, fileSystem: fs }).collect(request([await outputFile('s_00001_.png', 9)]));
    assertDurable(ops);
    expect(events.indexOf('sidecar temp created')).toBeLessThan(events.indexOf('image rename ends'));
    const renamedTo = ops.flatMap((o) => (o.op === 'rename' ? [path.basename(o.to)] : []));
    expect(renamedTo.at(-1)).toBe('job1_metadata.json');
  });

  it("a derived file's fsync that fails after the renames: FILE_MOVE_FAILED, ComfyUI gets its file back, no sidecar or thumbnail stays", async () => {
    const eio = Object.assign(new Error('EIO: simulated'), { code: 'EIO' });
    const { fs } = recordingFs({
      async createExclusive(file) {
        const real = await nodeCollectorFileSystem.createExclusive(file);
        return file.includes('_metadata.json') ? { ...real, sync: () => Promise.reject(eio) } : real;
      },
    });
    const source = path.join(output, 'e_00001_.png');
    const thumbnails = { maxSize: 2, format: 'webp' as const, quality: 80 };
    const outcome = await new SettlingCollector({ dataDir, fileSystem: fs, thumbnails })
      .collect(request([await outputFile('e_00001_.png', 12)]))
      .catch((error: unknown) => error);
    expect(outcome).toMatchObject({ code: 'FILE_MOVE_FAILED' });
    expect(await readFile(source)).toEqual(png(12));
    const images = path.join(dataDir, 'conversations/conv1/images');
    expect(await readdir(images)).toEqual([]);
  });

  it('a file changed while it is copied across file systems is not delivered: FILE_MOVE_FAILED, ComfyUI keeps it, no sidecar', async () => {
    const exdev = Object.assign(new Error('EXDEV: simulated'), { code: 'EXDEV' });
    const source = path.join(output, 'c_00001_.png');
    const { fs } = recordingFs({
      async rename(from, to) {
        if (!from.startsWith(output)) return nodeCollectorFileSystem.rename(from, to);
        await writeFile(source, png(77)); // rewritten after its checksum went into the sidecar
        throw exdev;
      },
    });
    const outcome = await new SettlingCollector({ dataDir, fileSystem: fs })
      .collect(request([await outputFile('c_00001_.png', 4)]))
      .catch((error: unknown) => error);
    expect(outcome).toMatchObject({ code: 'FILE_MOVE_FAILED' });
    expect(await readFile(source)).toEqual(png(77));
    const images = path.join(dataDir, 'conversations/conv1/images');
    expect((await readdir(images)).filter((name) => !name.startsWith('.'))).toEqual([]);
  });
});

describe('OutputCollector logs failed clean-ups', () => {
  function recordingLogger() {
    const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
    const logger = {
      warn: (obj: object, msg?: string) => void lines.push({ level: 'warn', obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) }),
      error: (obj: object, msg?: string) => void lines.push({ level: 'error', obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) }),
    };
    return { logger, lines };
  }

  it('an undo that fails (the file cannot go back to ComfyUI) is logged as an error naming the file', async () => {
    const { logger, lines } = recordingLogger();
    const fs: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      async createExclusive(file) {
        const real = await nodeCollectorFileSystem.createExclusive(file);
        return file.includes('_metadata.json') ? { ...real, write: () => Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' })) } : real;
      },
      // Putting it back (data → ComfyUI) is refused.
      rename: (from, to) =>
        to.startsWith(output) ? Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' })) : nodeCollectorFileSystem.rename(from, to),
    };
    const outcome = await new SettlingCollector({ dataDir, fileSystem: fs, logger })
      .collect(request([await outputFile('u_00001_.png', 6)]))
      .catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'FILE_MOVE_FAILED' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', obj: { job_id: 'job1', file: expect.stringContaining(dataDir) } });
  });

  it("a failed removal of ComfyUI's copy after delivery is logged as a warning; the job still succeeds", async () => {
    const { logger, lines } = recordingLogger();
    const fs: CollectorFileSystem = {
      ...nodeCollectorFileSystem,
      rename: (from, to) =>
        from.startsWith(output) ? Promise.reject(Object.assign(new Error('EXDEV'), { code: 'EXDEV' })) : nodeCollectorFileSystem.rename(from, to),
      unlink: (file) => (file.startsWith(output) ? Promise.reject(Object.assign(new Error('EBUSY'), { code: 'EBUSY' })) : nodeCollectorFileSystem.unlink(file)),
    };
    const result = await new SettlingCollector({ dataDir, fileSystem: fs, logger }).collect(request([await outputFile('f_00001_.png', 7)]));
    expect(result.files).toHaveLength(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', obj: { job_id: 'job1' } });
  });
});

describe('nodeCollectorFileSystem.syncDirectory: which failures it passes over', () => {
  it('fsyncs a real folder', async () => {
    await expect(nodeCollectorFileSystem.syncDirectory(root)).resolves.toBeUndefined();
  });

  it('a folder that cannot be fsynced here at all (procfs answers EINVAL) is passed over: only durability is weaker there', async () => {
    await expect(nodeCollectorFileSystem.syncDirectory('/proc/self')).resolves.toBeUndefined();
  });

  it('any other failure reaches the caller, who undoes what the fsync was for (a folder gone: ENOENT)', async () => {
    await expect(nodeCollectorFileSystem.syncDirectory(path.join(root, 'gone'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
