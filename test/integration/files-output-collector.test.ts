import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputFileRef } from '../../src/comfy/backend-port.js';
import { ChorusError } from '../../src/errors/index.js';
import { OutputCollector, type DownloadOutput } from '../../src/files/index.js';

let root: string;
let comfy: { output: string; temp: string; input: string };
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'files-collector-'));
  comfy = { output: path.join(root, 'ComfyUI', 'output'), temp: path.join(root, 'ComfyUI', 'temp'), input: path.join(root, 'ComfyUI', 'input') };
  for (const dir of Object.values(comfy)) await mkdir(dir, { recursive: true });
  dataDir = path.join(root, 'data');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function png(width: number, height: number, shade = 120): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(shade);
  return PNG.sync.write(image);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Writes a file where ComfyUI would have saved it and returns the ref it would report. */
async function comfyFile(ref: Omit<OutputFileRef, 'key'> & { key?: string }, bytes: Buffer): Promise<OutputFileRef> {
  const base = comfy[ref.type as keyof typeof comfy];
  await mkdir(path.join(base, ref.subfolder), { recursive: true });
  await writeFile(path.join(base, ref.subfolder, ref.filename), bytes);
  return { key: 'images', ...ref };
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

const metadata = {
  workflow: 'nova_selfie',
  prompt: 'nova sketching at a desk',
  negative: 'blurry',
  seed: 1234,
  backend: 'local',
  character: 'nova',
  timings: { queue_wait_ms: 5, generation_ms: 900 },
};

describe('OutputCollector, move mode', () => {
  it('moves a single image to images/{job}.png and writes a complete sidecar', async () => {
    const bytes = png(37, 21);
    const ref = await comfyFile({ nodeId: '2', filename: 'proto_s01_00001_.png', subfolder: '', type: 'output' }, bytes);
    const collector = new OutputCollector({ dataDir });

    const result = await collector.collect({ jobId: 'job1', conversationId: 'conv1', files: [ref], mode: 'move', comfyOutputDir: comfy.output, metadata });

    const destination = path.join(dataDir, 'conversations', 'conv1', 'images', 'job1.png');
    expect(result.files).toEqual([
      {
        kind: 'image',
        path: 'conversations/conv1/images/job1.png',
        absolutePath: destination,
        mediaType: 'image/png',
        bytes: bytes.length,
        sha256: sha256(bytes),
        width: 37,
        height: 21,
        original: { filename: 'proto_s01_00001_.png', subfolder: '', type: 'output', nodeId: '2' },
        via: 'move',
      },
    ]);
    expect(result.metadataPath).toBe('conversations/conv1/images/job1_metadata.json');
    expect(await readFile(destination)).toEqual(bytes);
    expect(await exists(path.join(comfy.output, 'proto_s01_00001_.png'))).toBe(false);

    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(sidecar).toMatchObject({
      job_id: 'job1',
      conversation_id: 'conv1',
      workflow: 'nova_selfie',
      prompt: 'nova sketching at a desk',
      seed: 1234,
      backend: 'local',
      collect_mode: 'move',
      timings: { queue_wait_ms: 5, generation_ms: 900 },
      files: [
        {
          path: 'conversations/conv1/images/job1.png',
          kind: 'image',
          media_type: 'image/png',
          bytes: bytes.length,
          sha256: sha256(bytes),
          width: 37,
          height: 21,
          original: { filename: 'proto_s01_00001_.png', subfolder: '', type: 'output', node_id: '2', key: 'images' },
        },
      ],
    });
    expect(typeof sidecar.timings.file_move_ms).toBe('number');
    // No temp debris left beside the files.
    expect(await readdir(path.dirname(destination))).toEqual(['job1.png', 'job1_metadata.json']);
  });

  it('collects image, video (under `images`, animated) and audio of one job into their folders, numbered', async () => {
    const image = png(8, 8);
    const video = Buffer.concat([Buffer.from('\0\0\0\x20ftypisom', 'latin1'), Buffer.alloc(64, 7)]);
    const audio = Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(40, 3)]);
    const files = [
      await comfyFile({ nodeId: '3', filename: 'media_vid_00001_.mp4', subfolder: 'video', type: 'output', animated: true }, video),
      await comfyFile({ nodeId: '2', filename: 'img_00001_.png', subfolder: '', type: 'output' }, image),
      { ...(await comfyFile({ nodeId: '4', filename: 'media_aud_00001_.flac', subfolder: 'audio', type: 'output' }, audio)), key: 'audio' },
      await comfyFile({ nodeId: '9', filename: 'ComfyUI_temp_abc_00001_.png', subfolder: '', type: 'temp' }, png(4, 4)),
    ];
    const collector = new OutputCollector({ dataDir });

    const result = await collector.collect({ jobId: 'j2', conversationId: 'c2', files, mode: 'move', comfyOutputDir: comfy.output, metadata });

    expect(result.files.map((f) => [f.kind, f.path])).toEqual([
      ['image', 'conversations/c2/images/j2_1.png'],
      ['video', 'conversations/c2/videos/j2_2.mp4'],
      ['audio', 'conversations/c2/audio/j2_3.flac'],
    ]);
    expect(await readFile(path.join(dataDir, 'conversations/c2/videos/j2_2.mp4'))).toEqual(video);
    expect(await readFile(path.join(dataDir, 'conversations/c2/audio/j2_3.flac'))).toEqual(audio);
    expect(result.metadataPath).toBe('conversations/c2/images/j2_metadata.json');
    // The preview was skipped and, without cleanup, left alone.
    expect(await exists(path.join(comfy.temp, 'ComfyUI_temp_abc_00001_.png'))).toBe(true);
    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(sidecar.files[1]).toMatchObject({ media_type: 'video/mp4', animated: true, original: { subfolder: 'video' } });
    expect(sidecar.skipped).toEqual([
      { filename: 'ComfyUI_temp_abc_00001_.png', subfolder: '', type: 'temp', node_id: '9', key: 'images', reason: 'temp_preview' },
    ]);
  });

  it('collects temp outputs when they are all the job produced, and cleanup removes skipped previews', async () => {
    const only = await comfyFile({ nodeId: '5', filename: 'ComfyUI_temp_q_00001_.png', subfolder: '', type: 'temp' }, png(3, 3));
    const collector = new OutputCollector({ dataDir, cleanupComfyOutputs: true });
    const result = await collector.collect({ jobId: 'j3', conversationId: 'c3', files: [only], mode: 'copy', comfyOutputDir: comfy.output, metadata: {} });
    expect(result.files.map((f) => f.path)).toEqual(['conversations/c3/images/j3.png']);

    const preview = await comfyFile({ nodeId: '9', filename: 'ComfyUI_temp_r_00001_.png', subfolder: '', type: 'temp' }, png(3, 3));
    const real = await comfyFile({ nodeId: '2', filename: 'real_00001_.png', subfolder: '', type: 'output' }, png(6, 6));
    await collector.collect({ jobId: 'j4', conversationId: 'c3', files: [preview, real], mode: 'copy', comfyOutputDir: comfy.output, metadata: {} });
    expect(await exists(path.join(comfy.temp, 'ComfyUI_temp_r_00001_.png'))).toBe(false);
    // copy mode never removes the collected file itself.
    expect(await exists(path.join(comfy.output, 'real_00001_.png'))).toBe(true);
  });

  it('is harmless to run twice: same files, same checksums, nothing duplicated', async () => {
    const bytes = png(10, 10);
    const ref = await comfyFile({ nodeId: '2', filename: 'a_00001_.png', subfolder: '', type: 'output' }, bytes);
    const collector = new OutputCollector({ dataDir });
    const request = { jobId: 'j5', conversationId: 'c5', files: [ref], mode: 'move' as const, comfyOutputDir: comfy.output, metadata };

    const first = await collector.collect(request);
    const second = await collector.collect(request);

    // The second run finds the first one's file: same facts, and it says so.
    expect(second.files).toEqual(first.files.map((file) => ({ ...file, via: 'already_present' })));
    expect(await readdir(path.join(dataDir, 'conversations/c5/images'))).toEqual(['j5.png', 'j5_metadata.json']);
  });

  it('finishes a job that crashed after renaming file 1 of 2', async () => {
    const one = png(4, 4, 10);
    const two = png(4, 4, 20);
    const files = [
      await comfyFile({ nodeId: '2', filename: 'b_00001_.png', subfolder: '', type: 'output' }, one),
      await comfyFile({ nodeId: '2', filename: 'b_00002_.png', subfolder: '', type: 'output' }, two),
    ];
    // The state a crash leaves: file 1 already renamed into place, file 2 untouched,
    // a half-written temp file of file 2, no sidecar.
    const images = path.join(dataDir, 'conversations/c6/images');
    await mkdir(images, { recursive: true });
    await writeFile(path.join(images, 'j6_1.png'), one);
    await rm(path.join(comfy.output, 'b_00001_.png'));
    await writeFile(path.join(images, '.j6_2.png.0badf00d.partial'), two.subarray(0, 10));

    const result = await new OutputCollector({ dataDir }).collect({
      jobId: 'j6',
      conversationId: 'c6',
      files,
      mode: 'move',
      comfyOutputDir: comfy.output,
      metadata,
    });

    expect(result.files.map((f) => f.sha256)).toEqual([sha256(one), sha256(two)]);
    expect((await readdir(images)).sort()).toEqual(['j6_1.png', 'j6_2.png', 'j6_metadata.json']);
    expect(await exists(path.join(comfy.output, 'b_00002_.png'))).toBe(false);
  });

  it('never moves ComfyUI input files, even in move mode', async () => {
    const ref = await comfyFile({ nodeId: '1', filename: 'upload.png', subfolder: '', type: 'input' }, png(2, 2));
    await new OutputCollector({ dataDir }).collect({
      jobId: 'j7',
      conversationId: 'c7',
      files: [ref],
      mode: 'move',
      comfyOutputDir: comfy.output,
      metadata: {},
    });
    expect(await exists(path.join(comfy.input, 'upload.png'))).toBe(true);
    expect(await exists(path.join(dataDir, 'conversations/c7/images/j7.png'))).toBe(true);
  });

  it('classifies an extensionless file by its magic bytes', async () => {
    const ref = await comfyFile({ nodeId: '2', filename: 'custom_output_0001', subfolder: '', type: 'output' }, png(5, 7));
    const text = await comfyFile({ nodeId: '3', filename: 'caption_0001.txt', subfolder: '', type: 'output', key: 'text' }, Buffer.from('hello'));
    const result = await new OutputCollector({ dataDir }).collect({
      jobId: 'j8',
      conversationId: 'c8',
      files: [ref, text],
      mode: 'copy',
      comfyOutputDir: comfy.output,
      metadata: {},
    });
    expect(result.files).toMatchObject([{ path: 'conversations/c8/images/j8.png', mediaType: 'image/png', width: 5, height: 7 }]);
  });
});

describe('OutputCollector, download mode', () => {
  let server: http.Server;
  let download: DownloadOutput;
  let requests: string[];

  beforeEach(async () => {
    requests = [];
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(url.search);
      const type = url.searchParams.get('type') ?? 'output';
      const file = path.join(comfy[type as keyof typeof comfy], url.searchParams.get('subfolder') ?? '', url.searchParams.get('filename') ?? '');
      readFile(file).then(
        (body) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    download = (file) =>
      new Promise<Readable>((resolve, reject) => {
        const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
        http
          .get(`http://127.0.0.1:${port}/view?${query}`, (res) => {
            if (res.statusCode === 200) return resolve(res);
            res.resume();
            reject(new ChorusError(res.statusCode === 404 ? 'OUTPUT_FILE_NOT_FOUND' : 'COMFY_UNAVAILABLE', `GET /view ${res.statusCode}`));
          })
          .on('error', reject);
      });
  });

  afterEach(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // The client agent keeps sockets alive; without this, close waits for their timeout.
    server.closeAllConnections();
    await closed;
  });

  it("streams every output over HTTP into place and leaves ComfyUI's files alone", async () => {
    const image = png(12, 9);
    const webm = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.from('....webm'), Buffer.alloc(300_000, 1)]);
    const files = [
      await comfyFile({ nodeId: '2', filename: 'x_00001_.png', subfolder: '', type: 'output' }, image),
      await comfyFile({ nodeId: '3', filename: 'media_webm_00001_.webm', subfolder: '', type: 'output', animated: true }, webm),
    ];
    const collector = new OutputCollector({ dataDir });
    const result = await collector.collect({ jobId: 'd1', conversationId: 'cd', files, mode: 'download', download, metadata });

    expect(result.files.map((f) => [f.path, f.bytes, f.sha256])).toEqual([
      ['conversations/cd/images/d1_1.png', image.length, sha256(image)],
      ['conversations/cd/videos/d1_2.webm', webm.length, sha256(webm)],
    ]);
    expect(result.files[0]).toMatchObject({ width: 12, height: 9 });
    // Buffer.equals: vitest's deep equality walks a large buffer byte by byte (seconds).
    expect((await readFile(path.join(dataDir, 'conversations/cd/videos/d1_2.webm'))).equals(webm)).toBe(true);
    expect(await exists(path.join(comfy.output, 'x_00001_.png'))).toBe(true);
    expect(requests).toContain('?filename=media_webm_00001_.webm&subfolder=&type=output');

    // A re-run downloads again, finds identical bytes and changes nothing.
    const again = await collector.collect({ jobId: 'd1', conversationId: 'cd', files, mode: 'download', download, metadata });
    expect(result.files.map((f) => f.via)).toEqual(['download', 'download']);
    expect(again.files).toEqual(result.files.map((file) => ({ ...file, via: 'already_present' })));
    expect(await readdir(path.join(dataDir, 'conversations/cd/videos'))).toEqual(['d1_2.webm']);
  });

  it('reports a 404 as OUTPUT_FILE_NOT_FOUND with the expected /view path', async () => {
    const ref: OutputFileRef = { nodeId: '2', key: 'images', filename: 'gone_00001_.png', subfolder: '', type: 'output' };
    const failure = await new OutputCollector({ dataDir })
      .collect({ jobId: 'd2', conversationId: 'cd', files: [ref], mode: 'download', download, metadata })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ChorusError);
    expect(failure).toMatchObject({ code: 'OUTPUT_FILE_NOT_FOUND', details: { expected_path: '/view?filename=gone_00001_.png&subfolder=&type=output' } });
  });

  it('auto moves a file it finds under the output folder and downloads one it does not, saying which way each came', async () => {
    const here = png(6, 6, 30);
    const elsewhere = png(7, 7, 60);
    const files = [
      await comfyFile({ nodeId: '2', filename: 'here_00001_.png', subfolder: '', type: 'output' }, here),
      await comfyFile({ nodeId: '3', filename: 'away_00001_.png', subfolder: 'sub', type: 'output' }, elsewhere),
    ];
    // The configured folder holds only the first file, as when ComfyUI writes somewhere else.
    const configured = path.join(root, 'configured-output');
    await mkdir(configured, { recursive: true });
    await writeFile(path.join(configured, 'here_00001_.png'), here);

    const result = await new OutputCollector({ dataDir }).collect({
      jobId: 'a1',
      conversationId: 'ca',
      files,
      mode: 'auto',
      comfyOutputDir: configured,
      download,
      metadata: { ...metadata, created_at: new Date(Date.now() - 5_000).toISOString() },
    });

    expect(result.files.map((f) => [f.path, f.via, f.sha256])).toEqual([
      ['conversations/ca/images/a1_1.png', 'move', sha256(here)],
      ['conversations/ca/images/a1_2.png', 'download', sha256(elsewhere)],
    ]);
    expect(await exists(path.join(configured, 'here_00001_.png'))).toBe(false);
    expect(requests).toEqual(['?filename=away_00001_.png&subfolder=sub&type=output']);
    const sidecar = JSON.parse(await readFile(path.join(dataDir, result.metadataPath), 'utf8'));
    expect(sidecar.collect_mode).toBe('auto');
    expect(sidecar.files.map((f: { via: string }) => f.via)).toEqual(['move', 'download']);
    expect(sidecar.timings.total_ms).toBeGreaterThanOrEqual(5_000);
  });

  it('auto with no output folder at all downloads everything; with localMode copy it leaves local files in place', async () => {
    const bytes = png(5, 5);
    const ref = await comfyFile({ nodeId: '2', filename: 'c_00001_.png', subfolder: '', type: 'output' }, bytes);
    const downloaded = await new OutputCollector({ dataDir }).collect({
      jobId: 'a2',
      conversationId: 'ca',
      files: [ref],
      mode: 'auto',
      download,
      metadata: {},
    });
    expect(downloaded.files[0]!.via).toBe('download');

    const copied = await new OutputCollector({ dataDir }).collect({
      jobId: 'a3',
      conversationId: 'ca',
      files: [ref],
      mode: 'auto',
      localMode: 'copy',
      comfyOutputDir: comfy.output,
      download,
      metadata: {},
    });
    expect(copied.files[0]!.via).toBe('copy');
    expect(await exists(path.join(comfy.output, 'c_00001_.png'))).toBe(true);
  });
});
