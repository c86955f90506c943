/**
 * Downloads through /view are bounded and checked: a body beyond max_output_bytes is cut off
 * while streaming, and a file whose bytes are not the media type its name reported is not
 * delivered. Either way FILE_MOVE_FAILED, and nothing stays in the data folder.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { OutputCollector, type CollectRequest } from '../../src/files/index.js';

let root: string;
let dataDir: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-download-bounds-'));
  dataDir = path.join(root, 'data');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

const ref = (filename: string): OutputFileRef => ({ nodeId: '2', key: 'images', filename, subfolder: '', type: 'output' });
const request = (files: OutputFileRef[], download: CollectRequest['download']): CollectRequest => ({
  jobId: 'job1',
  conversationId: 'conv1',
  files,
  mode: 'download',
  download,
  metadata: {},
});

function png(): Buffer {
  const image = new PNG({ width: 8, height: 8 });
  image.data.fill(120);
  return PNG.sync.write(image);
}

describe('download bounds', () => {
  it('a body larger than max_output_bytes fails while streaming: FILE_MOVE_FAILED too_large, the download closed, nothing kept', async () => {
    let produced = 0;
    let destroyed = false;
    // An endless body: it would fill the disk if nobody counted.
    const endless = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(Buffer.concat([png(), Buffer.alloc(64 * 1024)]));
      },
      destroy(error, callback) {
        destroyed = true;
        callback(error);
      },
    });
    const collector = new OutputCollector({ dataDir, maxDownloadBytes: 1024 * 1024 });
    const outcome = await collector.collect(request([ref('big_00001_.png')], async () => endless)).catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'FILE_MOVE_FAILED', details: { reason: 'too_large', max_output_bytes: 1024 * 1024 } });
    expect(produced).toBeLessThan(2 * 1024 * 1024);
    expect(destroyed).toBe(true);
    expect(await listTree(dataDir)).toEqual([]);
  });

  it('a body within the limit is delivered', async () => {
    const collector = new OutputCollector({ dataDir, maxDownloadBytes: 1024 * 1024 });
    const result = await collector.collect(request([ref('ok_00001_.png')], async () => Readable.from([png()])));
    expect(result.files[0]).toMatchObject({ mediaType: 'image/png' });
  });

  it.each([
    ['an HTML error page named .png', 'page_00001_.png', Buffer.from('<html><body>502 Bad Gateway</body></html>'), null],
    ['a JPEG named .png', 'jpeg_00001_.png', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]), 'image/jpeg'],
    ['a PNG named .mp4', 'clip_00001_.mp4', png(), 'image/png'],
  ])('%s: FILE_MOVE_FAILED media_type_mismatch, nothing kept', async (_name, filename, bytes, found) => {
    const collector = new OutputCollector({ dataDir });
    const outcome = await collector.collect(request([ref(filename)], async () => Readable.from([bytes]))).catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'FILE_MOVE_FAILED', details: { reason: 'media_type_mismatch', found } });
    expect(await listTree(dataDir)).toEqual([]);
  });
});
