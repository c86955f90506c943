/**
 * A WebSocket client that keeps every frame it receives, for tests and hand checks against a
 * (simulated or real) ComfyUI: wait for a message by predicate instead of sleeping.
 */
import WebSocket from 'ws';

export type RecordedFrame = { kind: 'text'; type: string; data: Record<string, unknown> } | { kind: 'binary'; event: number; bytes: Buffer };

export class RecordingSocket {
  readonly frames: RecordedFrame[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      if (isBinary) this.frames.push({ kind: 'binary', event: bytes.readUInt32BE(0), bytes });
      else {
        const msg = JSON.parse(bytes.toString()) as { type: string; data: Record<string, unknown> };
        this.frames.push({ kind: 'text', type: msg.type, data: msg.data });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async open(baseUrl: string, clientId?: string, path = '/ws'): Promise<RecordingSocket> {
    const query = clientId === undefined ? '' : `?clientId=${encodeURIComponent(clientId)}`;
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}${query}`);
    const socket = new RecordingSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  texts(): Array<{ type: string; data: Record<string, unknown> }> {
    return this.frames.flatMap((f) => (f.kind === 'text' ? [{ type: f.type, data: f.data }] : []));
  }

  /** Message kinds in order: text types, binary frames as `binary:N`. */
  kinds(): string[] {
    return this.frames.map((f) => (f.kind === 'text' ? f.type : `binary:${f.event}`));
  }

  /** Resolves with the first frame (from `from` on) matching, or rejects after timeoutMs. */
  async waitFor(match: (frame: RecordedFrame) => boolean, timeoutMs = 5000, from = 0): Promise<RecordedFrame> {
    const deadline = Date.now() + timeoutMs;
    let next = from;
    for (;;) {
      for (; next < this.frames.length; next++) {
        const frame = this.frames[next]!;
        if (match(frame)) return frame;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; got: ${this.kinds().join(' ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `executing {node: null, prompt_id}`, the end marker of a prompt. */
  waitForEnd(promptId: string, timeoutMs = 5000): Promise<RecordedFrame> {
    return this.waitFor((f) => f.kind === 'text' && f.type === 'executing' && f.data['node'] === null && f.data['prompt_id'] === promptId, timeoutMs);
  }

  /** Text messages that belong to one prompt (by prompt_id), in order. */
  forPrompt(promptId: string): Array<{ type: string; data: Record<string, unknown> }> {
    return this.texts().filter((m) => m.data['prompt_id'] === promptId);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}
