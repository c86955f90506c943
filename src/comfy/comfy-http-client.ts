import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { FormData, Pool, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { redactUrl } from '../config/redact-config.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { describeNetworkFailure, promptRejectedError, unavailableError, type RequestContext } from './comfy-http-errors.js';
import { checkedHistory, checkedPromptResponse } from './protocol/history-check.js';
import {
  historyResponseSchema,
  objectInfoSchema,
  promptRejectionSchema,
  promptResponseSchema,
  queueResponseSchema,
  systemStatsSchema,
  uploadResponseSchema,
  type HistoryEntry,
  type PromptResponse,
  type QueueEntry,
  type SystemStats,
} from './protocol/http-schemas.js';

export interface ComfyHttpClientOptions {
  url: string;
  /** Used in error messages and details; defaults to the URL's host. */
  name?: string;
  requestTimeoutMs?: number;
  connections?: number;
}

export interface SubmitPromptBody {
  prompt: Record<string, unknown>;
  prompt_id?: string;
  client_id?: string;
  extra_data?: Record<string, unknown>;
  front?: boolean;
  number?: number;
}

export interface QueueSnapshot {
  running: QueueEntry[];
  /** Sorted into execution order: ComfyUI returns its heap as-is (§3.3). */
  pending: QueueEntry[];
}

export interface FileLocation {
  filename: string;
  subfolder: string;
  type: string;
}

interface RawResponse {
  status: number;
  text: string;
}

interface CallInit {
  method?: 'GET' | 'POST';
  body?: string | FormData;
  headers?: Record<string, string>;
}

/** Execution order of ComfyUI's pending heap: by `number`, ties broken by prompt id. */
export function compareQueueEntries(a: QueueEntry, b: QueueEntry): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

/**
 * ComfyUI's HTTP API over one undici Pool. Every call has a timeout, every JSON answer is
 * zod-parsed, and every failure is a ChorusError: COMFY_UNAVAILABLE for the network, timeouts
 * and 5xx; WORKFLOW_NODE_ERROR for a rejected prompt; OUTPUT_FILE_NOT_FOUND for /view 404.
 */
export class ComfyHttpClient {
  readonly url: string;
  readonly name: string;
  /** The URL as errors show it: a password or token in it never reaches a job's error, an event or a log. */
  private readonly shownUrl: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly timeoutMs: number;

  constructor(options: ComfyHttpClientOptions) {
    const base = new URL(options.url);
    this.url = options.url;
    this.shownUrl = redactUrl(options.url);
    this.name = options.name ?? base.host;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.pool = new Pool(base.origin, {
      connections: options.connections ?? 4,
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async submitPrompt(body: SubmitPromptBody): Promise<PromptResponse> {
    const path = '/prompt';
    const response = await this.call(path, { method: 'POST', body: JSON.stringify(body), headers: jsonHeaders });
    if (response.status === 400) {
      const rejection = promptRejectionSchema.safeParse(safeJson(response.text));
      const context = this.context(path, 400);
      if (rejection.success) throw promptRejectedError(rejection.data, context);
      throw new ChorusError(ErrorCode.WORKFLOW_NODE_ERROR, `ComfyUI ${this.name} rejected the prompt: ${response.text.slice(0, 500)}`, {
        details: { error: { type: 'unknown', message: response.text, details: '', extra_info: {} }, node_errors: {}, nodes: [] },
      });
    }
    return this.parse(path, this.expectOk(path, response), promptResponseSchema, checkedPromptResponse);
  }

  /** One entry (`{}` when unknown, as ComfyUI answers) or the whole history, oldest first. */
  async getHistory(promptId?: string, opts: { maxItems?: number; offset?: number } = {}): Promise<Record<string, HistoryEntry>> {
    const query = new URLSearchParams();
    if (opts.maxItems !== undefined) query.set('max_items', String(Math.trunc(opts.maxItems)));
    if (opts.offset !== undefined) query.set('offset', String(Math.trunc(opts.offset)));
    const path = promptId === undefined ? '/history' : `/history/${encodeURIComponent(promptId)}`;
    const search = query.size > 0 ? `?${query.toString()}` : '';
    // Checked by hand first (once per prompt, the graph included); zod decides what that refuses.
    return this.getJson(path + search, historyResponseSchema, checkedHistory);
  }

  async getQueue(): Promise<QueueSnapshot> {
    const queue = await this.getJson('/queue', queueResponseSchema);
    return { running: queue.queue_running, pending: [...queue.queue_pending].sort(compareQueueEntries) };
  }

  async deleteFromQueue(ids: string[]): Promise<void> {
    await this.postEmpty('/queue', { delete: ids });
  }

  /** With an id, only that prompt is interrupted if it is running (0.3.57+); without, whatever runs. */
  async interrupt(promptId?: string): Promise<void> {
    await this.postEmpty('/interrupt', promptId === undefined ? {} : { prompt_id: promptId });
  }

  async free(opts: { unloadModels?: boolean; freeMemory?: boolean }): Promise<void> {
    await this.postEmpty('/free', { unload_models: opts.unloadModels ?? false, free_memory: opts.freeMemory ?? false });
  }

  async objectInfo(classType?: string): Promise<Record<string, unknown>> {
    const path = classType === undefined ? '/object_info' : `/object_info/${encodeURIComponent(classType)}`;
    return this.getJson(path, objectInfoSchema);
  }

  async systemStats(): Promise<SystemStats> {
    return this.getJson('/system_stats', systemStatsSchema);
  }

  async uploadImage(
    bytes: Uint8Array,
    filename: string,
    opts: { type?: 'input' | 'temp' | 'output'; subfolder?: string; overwrite?: boolean } = {},
  ): Promise<{ name: string; subfolder: string; type: string }> {
    const form = new FormData();
    form.append('image', new Blob([bytes]), filename);
    form.append('type', opts.type ?? 'input');
    if (opts.subfolder) form.append('subfolder', opts.subfolder);
    if (opts.overwrite) form.append('overwrite', 'true');
    const path = '/upload/image';
    const response = await this.call(path, { method: 'POST', body: form });
    return this.parse(path, this.expectOk(path, response), uploadResponseSchema);
  }

  /** GET /view as a stream; the body timeout is per idle gap, so large files are fine. */
  async view(file: FileLocation): Promise<Readable> {
    const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
    const path = `/view?${query.toString()}`;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({ path: this.basePath + path, method: 'GET' });
    } catch (error) {
      throw unavailableError(this.context(path), describeNetworkFailure(error), error);
    }
    if (response.statusCode === 200) return response.body;
    await response.body.dump().catch(() => undefined);
    if (response.statusCode === 404 || response.statusCode === 400 || response.statusCode === 403) {
      const where = [file.type, file.subfolder, file.filename].filter(Boolean).join('/');
      throw new ChorusError(ErrorCode.OUTPUT_FILE_NOT_FOUND, `ComfyUI ${this.name} has no file ${where} (HTTP ${response.statusCode})`, {
        details: { ...this.context(path, response.statusCode), file },
      });
    }
    throw this.statusError(path, response.statusCode, '');
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private context(path: string, status?: number): RequestContext {
    const context: RequestContext = { backend: this.name, url: this.shownUrl, path };
    if (status !== undefined) context.status = status;
    return context;
  }

  private async call(path: string, init: CallInit = {}): Promise<RawResponse> {
    // One deadline for the whole exchange (headers and body), cleared the moment it is over.
    const deadline = new ExchangeDeadline(this.timeoutMs);
    try {
      const response = await this.pool.request({
        path: this.basePath + path,
        method: init.method ?? 'GET',
        headers: init.headers,
        body: init.body,
        signal: deadline,
      });
      return { status: response.statusCode, text: await response.body.text() };
    } catch (error) {
      throw unavailableError(this.context(path), describeNetworkFailure(error), error);
    } finally {
      deadline.clear();
    }
  }

  private expectOk(path: string, response: RawResponse): string {
    if (response.status >= 200 && response.status < 300) return response.text;
    throw this.statusError(path, response.status, response.text);
  }

  /** 5xx may pass; other statuses mean this server does not speak what we expect (e.g. no /free). */
  private statusError(path: string, status: number, text: string): ChorusError {
    const reason = text.trim().split('\n')[0]?.slice(0, 200) || 'unexpected status';
    return unavailableError(this.context(path, status), reason, undefined, status >= 500);
  }

  private async getJson<S extends z.ZodType>(path: string, schema: S, check?: (json: unknown) => z.infer<S> | undefined): Promise<z.infer<S>> {
    const response = await this.call(path);
    return this.parse(path, this.expectOk(path, response), schema, check);
  }

  private parse<S extends z.ZodType>(path: string, text: string, schema: S, check?: (json: unknown) => z.infer<S> | undefined): z.infer<S> {
    const json = safeJson(text);
    const checked = check?.(json);
    if (checked !== undefined) return checked;
    const parsed = schema.safeParse(json);
    if (parsed.success) return parsed.data;
    throw unavailableError(this.context(path), `unexpected response: ${parsed.error.message.slice(0, 300)}`, parsed.error, false);
  }

  private async postEmpty(path: string, body: unknown): Promise<void> {
    const response = await this.call(path, { method: 'POST', body: JSON.stringify(body), headers: jsonHeaders });
    this.expectOk(path, response);
  }
}

const jsonHeaders = { 'content-type': 'application/json' };

/**
 * The whole-exchange deadline as the signal undici takes: an EventEmitter that emits 'abort'
 * (undici accepts one in place of an AbortSignal, and reads `aborted` and `reason` from
 * either). An AbortController per request — two per job — cost an EventTarget built and a
 * listener added to it and removed again, ~0.08 ms of CPU per job (profile, issue 16); an
 * emitter is a few fields. (AbortSignal.timeout, before that, also left its timer and a
 * finalization-registry entry behind until it fired.) Expiry is the same TimeoutError.
 */
class ExchangeDeadline extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number) {
    super();
    this.#timer = setTimeout(() => this.#expire(), ms);
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
  }

  #expire(): void {
    this.aborted = true;
    this.reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    this.emit('abort');
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
