/**
 * The latency benchmark's reference: the least a program can do to learn that a ComfyUI
 * prompt finished and hold its result. Its own WebSocket (`/ws?clientId=`), `POST /prompt`,
 * wait for `executing {node: null}` of that prompt (the end marker every version sends,
 * after which /history is always readable — comfyui-protocol.md §6.7, §8.1), then
 * `GET /history/{id}`. Nothing is stored, moved or published. chorus-visual does the same
 * and then makes the files durable and the transition committed before it announces.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import WebSocket from 'ws';
import { z } from 'zod';
import { nowMs } from './bench-environment.js';

const statusMessagesSchema = z.looseObject({
  status: z.looseObject({
    status_str: z.string().optional(),
    messages: z.array(z.tuple([z.string(), z.looseObject({ timestamp: z.number().optional() })])),
  }),
});
const fileSchema = z.looseObject({ filename: z.string(), subfolder: z.string(), type: z.string() });
const outputsSchema = z.looseObject({ outputs: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) });

/**
 * ComfyUI's own `execution_success` timestamp in a history entry (milliseconds since the epoch,
 * truncated to the millisecond: `int(time.time() * 1000)`), or undefined when the prompt did
 * not succeed or the server predates timestamps (< 2024-07).
 */
export function executionSuccessAt(entry: unknown): number | undefined {
  const parsed = statusMessagesSchema.safeParse(entry);
  if (!parsed.success) return undefined;
  return parsed.data.status.messages.find(([type]) => type === 'execution_success')?.[1].timestamp;
}

/** Every `type: output` file a history entry lists, under any output key (images, audio, gifs…). */
export function outputFilesOf(entry: unknown): Array<{ filename: string; subfolder: string }> {
  const parsed = outputsSchema.safeParse(entry);
  if (!parsed.success) return [];
  const files: Array<{ filename: string; subfolder: string }> = [];
  for (const node of Object.values(parsed.data.outputs)) {
    for (const value of Object.values(node)) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        const file = fileSchema.safeParse(item);
        if (file.success && file.data.type === 'output') files.push({ filename: file.data.filename, subfolder: file.data.subfolder });
      }
    }
  }
  return files;
}

export interface BareRun {
  promptId: string;
  /** nowMs() when the history entry was parsed: the result is in hand. */
  inHandAt: number;
  /** The history entry as ComfyUI returned it. */
  entry: unknown;
}

export async function readHistoryEntry(baseUrl: string, promptId: string): Promise<unknown> {
  const response = await fetch(`${baseUrl}/history/${encodeURIComponent(promptId)}`);
  if (!response.ok) throw new Error(`GET /history/${promptId}: HTTP ${response.status}`);
  return ((await response.json()) as Record<string, unknown>)[promptId];
}

export class BareComfyClient {
  /** End markers seen, by prompt id: they may arrive before the POST's response (§8.3). */
  private readonly ended = new Set<string>();
  private readonly waiters = new Map<string, () => void>();

  private constructor(
    private readonly baseUrl: string,
    readonly clientId: string,
    private readonly socket: WebSocket,
  ) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString()) as { type?: string; data?: { node?: unknown; prompt_id?: unknown } };
      if (message.type !== 'executing' || message.data?.node !== null || typeof message.data.prompt_id !== 'string') return;
      const promptId = message.data.prompt_id;
      const waiter = this.waiters.get(promptId);
      if (waiter) waiter();
      else this.ended.add(promptId);
    });
  }

  static async connect(baseUrl: string): Promise<BareComfyClient> {
    const clientId = randomUUID();
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws?clientId=${clientId}`);
    await once(socket, 'open');
    return new BareComfyClient(baseUrl, clientId, socket);
  }

  /** Submits the graph and resolves once its history entry is in hand. */
  async run(graph: Record<string, unknown>, timeoutMs = 60_000): Promise<BareRun> {
    const promptId = randomUUID();
    const finished = this.endMarkerOf(promptId, timeoutMs);
    const response = await fetch(`${this.baseUrl}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: graph, client_id: this.clientId, prompt_id: promptId }),
    });
    if (!response.ok) throw new Error(`POST /prompt: HTTP ${response.status} ${await response.text()}`);
    const answered = (await response.json()) as { prompt_id?: string };
    // Servers before 0.3.45 ignore our id and choose their own.
    if (answered.prompt_id !== undefined && answered.prompt_id !== promptId) throw new Error('server ignored prompt_id (ComfyUI < 0.3.45); not supported here');
    await finished;
    const entry = await readHistoryEntry(this.baseUrl, promptId);
    const inHandAt = nowMs();
    if (entry === undefined) throw new Error(`history of ${promptId} empty after its end marker`);
    return { promptId, inHandAt, entry };
  }

  close(): void {
    this.socket.close();
  }

  private endMarkerOf(promptId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(promptId);
        reject(new Error(`prompt ${promptId}: no end marker within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(promptId);
        resolve();
      };
      if (this.ended.delete(promptId)) done();
      else this.waiters.set(promptId, done);
    });
  }
}
