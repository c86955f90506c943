/**
 * Asks the chat LLM's server to give its GPU memory back (GPU handoff, docs/gpu-sharing.md).
 * Ollama unloads a model when sent `POST /api/generate {model, keep_alive: 0}` without a
 * prompt and lists loaded models at `GET /api/ps`; llama-swap, LM Studio and others are
 * reached by one configured HTTP call. Every failure is thrown with a reason the caller logs
 * as a warning: an LLM that keeps its memory must not stop the job.
 */
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { GpuHandoffConfig, ServiceConfig } from '../config/index.js';

export interface LlmUnloadResult {
  /** `done` when something was unloaded, `skipped` when nothing was loaded. */
  outcome: 'done' | 'skipped';
  detail: string;
}

export interface LlmUnloader {
  readonly describe: string;
  unload(): Promise<LlmUnloadResult>;
}

const psSchema = z.looseObject({
  models: z
    .array(z.looseObject({ name: z.string(), model: z.string().optional() }))
    .nullable()
    .default([]),
});

interface HttpAnswer {
  status: number;
  text: string;
}

async function call(method: string, url: string, timeoutMs: number, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const hasBody = body !== undefined && method !== 'GET';
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: method as 'GET',
      headers: hasBody ? { 'content-type': 'application/json', ...headers } : headers,
      ...(hasBody ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (error as Error).message;
    throw new Error(`${method} ${url} failed: ${reason}`, { cause: error });
  }
  const text = await response.body.text();
  if (response.statusCode < 200 || response.statusCode >= 300) {
    throw new Error(`${method} ${url} answered HTTP ${response.statusCode}: ${text.trim().slice(0, 200) || 'no body'}`);
  }
  return { status: response.statusCode, text };
}

/** Ollama's own API root: the configured one, or the OpenAI-compatible base URL without `/v1`. */
export function ollamaUrlOf(handoff: GpuHandoffConfig, llm: Pick<ServiceConfig['llm'], 'base_url'>): string {
  const configured = handoff.ollama.url ?? (llm.base_url ? llm.base_url.replace(/\/+$/, '').replace(/\/v1$/, '') : 'http://127.0.0.1:11434');
  return configured.replace(/\/+$/, '');
}

export class OllamaUnloader implements LlmUnloader {
  readonly describe: string;
  constructor(
    private readonly url: string,
    /** null: every model `GET /api/ps` lists. */
    private readonly models: string[] | null,
    private readonly timeoutMs: number,
  ) {
    this.describe = `ollama at ${url} (${models === null ? 'all loaded models' : models.join(', ')})`;
  }

  async unload(): Promise<LlmUnloadResult> {
    const models = this.models ?? (await this.loadedModels());
    if (models.length === 0) return { outcome: 'skipped', detail: 'ollama has no model loaded' };
    // keep_alive 0 with no prompt: Ollama unloads the model and does not load one that is not loaded.
    for (const model of models) await call('POST', `${this.url}/api/generate`, this.timeoutMs, { model, keep_alive: 0 });
    return { outcome: 'done', detail: `ollama unloaded ${models.join(', ')}` };
  }

  private async loadedModels(): Promise<string[]> {
    const answer = await call('GET', `${this.url}/api/ps`, this.timeoutMs);
    let json: unknown;
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw new Error(`GET ${this.url}/api/ps did not answer JSON`);
    }
    const parsed = psSchema.safeParse(json);
    if (!parsed.success) throw new Error(`GET ${this.url}/api/ps answered an unexpected shape`);
    return (parsed.data.models ?? []).map((m) => m.name);
  }
}

export class HttpUnloader implements LlmUnloader {
  readonly describe: string;
  constructor(
    private readonly spec: NonNullable<GpuHandoffConfig['http']>,
    private readonly timeoutMs: number,
  ) {
    this.describe = `${spec.method} ${spec.url}`;
  }

  async unload(): Promise<LlmUnloadResult> {
    const answer = await call(this.spec.method, this.spec.url, this.timeoutMs, this.spec.body, this.spec.headers);
    return { outcome: 'done', detail: `${this.describe} answered HTTP ${answer.status}` };
  }
}

/** The unloader a backend's `gpu_handoff` names; null for `llm: none`. */
export function createLlmUnloader(handoff: GpuHandoffConfig, llm: Pick<ServiceConfig['llm'], 'base_url' | 'model'>): LlmUnloader | null {
  switch (handoff.llm) {
    case 'none':
      return null;
    case 'http':
      return new HttpUnloader(handoff.http!, handoff.timeout_ms);
    case 'ollama': {
      const models = handoff.ollama.unload === 'loaded' ? null : (handoff.ollama.models ?? [llm.model]);
      return new OllamaUnloader(ollamaUrlOf(handoff, llm), models, handoff.timeout_ms);
    }
  }
}
