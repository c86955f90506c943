import path from 'node:path';
import { Readable } from 'node:stream';
import type { OutputFileRef } from '../comfy/backend-port.js';
import { ChorusError, isChorusError } from '../errors/index.js';
import type { CollectorFileSystem, FileFacts } from './collector-file-system.js';
import type { DownloadOutput } from './collect-request.schema.js';
import { errnoCode } from './collector-errors.js';
import type { RootRealpaths } from './realpath-cache.js';
import { assertResolvedInside, isInside } from './safe-path-guard.js';
import { unsafePathError } from './collector-errors.js';

/** ComfyUI's three folders; `temp` and `input` default to siblings of `output`, as ComfyUI lays them out. */
export interface ComfyFolders {
  output: string;
  temp: string;
  input: string;
}

export function comfyFoldersFrom(outputDir: string, tempDir?: string, inputDir?: string): ComfyFolders {
  const output = path.resolve(outputDir);
  return {
    output,
    temp: path.resolve(tempDir ?? path.join(path.dirname(output), 'temp')),
    input: path.resolve(inputDir ?? path.join(path.dirname(output), 'input')),
  };
}

/** A ComfyUI file on this machine, as one collection sees it. */
export class LocalOutputSource {
  readonly kind = 'local';
  readonly expectedPath: string;
  private readonly base: string;
  private located: Promise<string | undefined> | undefined;
  /** The lstat of the located file (its identity), once locate() found it. */
  identity: FileFacts | undefined;

  constructor(
    private readonly fs: CollectorFileSystem,
    folders: ComfyFolders,
    readonly ref: OutputFileRef,
    /** Real paths of ComfyUI's folders, resolved once per process; absent: every time. */
    private readonly roots?: RootRealpaths,
  ) {
    this.base = folders[ref.type as keyof ComfyFolders];
    this.expectedPath = path.join(this.base, ...ref.subfolder.split('/').filter(Boolean), ref.filename);
    // The guard already refused `..`; this is the lexical belt to realpath's braces.
    if (!isInside(this.base, this.expectedPath)) throw unsafePathError('filename', ref.filename, 'escapes the ComfyUI folder');
  }

  /** ComfyUI's inputs are the user's uploads: copied, never moved away. */
  get movable(): boolean {
    return this.ref.type !== 'input';
  }

  /**
   * The file's real path, or undefined when it is not there. Refuses symlinks leading out.
   * Looked up once per source: auto mode's choice, sniffing and placement ask in turn, and
   * nothing else moves ComfyUI's file within one collection.
   */
  locate(): Promise<string | undefined> {
    this.located ??= this.lookUp();
    return this.located;
  }

  private async lookUp(): Promise<string | undefined> {
    try {
      // The lstat of the name as given runs beside the real-path lookups: when nothing on the
      // way is a symlink (the usual case) it is the file's own, and no second lstat follows.
      const [realBase, real, named] = await Promise.all([
        this.roots ? this.roots.of(this.base) : this.fs.realpath(this.base),
        this.fs.realpath(this.expectedPath),
        this.fs.lstat(this.expectedPath),
      ]);
      assertResolvedInside('filename', realBase, real);
      const facts = real === this.expectedPath ? named : await this.fs.lstat(real);
      if (!facts.isFile()) throw unsafePathError('filename', this.ref.filename, 'is not a regular file');
      this.identity = facts;
      return real;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
      throw error;
    }
  }
}

/** A ComfyUI file fetched through GET /view (ComfyUI runs on another machine). */
export class DownloadOutputSource {
  readonly kind = 'download';
  readonly expectedPath: string;
  readonly movable = false;

  constructor(
    private readonly download: DownloadOutput,
    readonly ref: OutputFileRef,
    /** `comfyui.file_management.max_output_bytes`: counted while streaming. */
    private readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {
    const query = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    this.expectedPath = `/view?${query.toString()}`;
  }

  /** The body stream, or undefined on 404; COMFY_UNAVAILABLE and others propagate. */
  async open(): Promise<Readable | undefined> {
    try {
      const body = await this.download({ filename: this.ref.filename, subfolder: this.ref.subfolder, type: this.ref.type });
      return Number.isFinite(this.maxBytes) ? Readable.from(capped(body, this.maxBytes, this.expectedPath)) : body;
    } catch (error) {
      if (isChorusError(error) && error.code === 'OUTPUT_FILE_NOT_FOUND') return undefined;
      throw error;
    }
  }
}

export type OutputSource = LocalOutputSource | DownloadOutputSource;

/**
 * Passes the body through until it exceeds `maxBytes`, then fails with FILE_MOVE_FAILED and
 * closes the download: a server streaming without end must not fill the data folder (the
 * temp file is removed by the writer, nothing is kept).
 */
async function* capped(body: Readable, maxBytes: number, expectedPath: string): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      bytes += buffer.length;
      if (bytes > maxBytes) {
        throw new ChorusError('FILE_MOVE_FAILED', `${expectedPath} is larger than comfyui.file_management.max_output_bytes (${maxBytes}); not kept`, {
          details: { reason: 'too_large', max_output_bytes: maxBytes, expected_path: expectedPath },
        });
      }
      yield buffer;
    }
  } finally {
    body.destroy();
  }
}

/** The first bytes of a source (for sniffing unnamed media), or undefined when it is missing. */
export async function readSourceHead(fs: CollectorFileSystem, source: OutputSource, bytes: number): Promise<Buffer | undefined> {
  if (source.kind === 'local') {
    const real = await source.locate();
    return real === undefined ? undefined : fs.readHead(real, bytes);
  }
  const stream = await source.open();
  if (stream === undefined) return undefined;
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buffer);
      length += buffer.length;
      if (length >= bytes) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}
