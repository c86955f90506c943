/** A scriptable ComfyBackend: records calls, lets a test play PromptEvents to watchers. */
import { Readable } from 'node:stream';
import type { BackendHealth, ComfyBackend, PromptEvent, PromptLocation, SubmitRequest, SubmitResult } from '../../src/comfy/backend-port.js';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';

export class FakeComfyBackend implements ComfyBackend {
  readonly url: string;
  readonly submits: SubmitRequest[] = [];
  readonly deletes: string[] = [];
  readonly interrupts: string[] = [];
  readonly locates: string[] = [];
  readonly locations = new Map<string, PromptLocation>();
  private readonly watchers = new Map<string, Set<(e: PromptEvent) => void>>();
  healthy = true;
  /** When set, submit is refused (COMFY_UNAVAILABLE, nothing sent) this many more times. */
  failSubmits = 0;
  /** When set, submit queues the prompt, then throws a timeout (COMFY_UNAVAILABLE) this many more times. */
  unansweredSubmits = 0;
  private counter = 0;
  /** While set, submit waits for it (a POST that is in flight when the service stops). */
  submitGate: Promise<void> | null = null;
  /** Called with each request before it is accepted (to inspect what was stored first). */
  onSubmit: ((request: SubmitRequest) => void) | null = null;

  constructor(
    readonly name: string,
    readonly maxConcurrent = 2,
  ) {
    this.url = `http://fake/${name}`;
  }

  async submit(request: SubmitRequest): Promise<SubmitResult> {
    if (this.failSubmits > 0) {
      this.failSubmits--;
      throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `${this.name} is down`, { details: { backend: this.name, path: '/prompt', sent: false } });
    }
    this.onSubmit?.(request);
    this.submits.push(request);
    if (this.submitGate) await this.submitGate;
    this.locations.set(request.promptId, { where: 'pending', position: this.counter });
    if (this.unansweredSubmits > 0) {
      this.unansweredSubmits--;
      this.counter++;
      throw new ChorusError(ErrorCode.COMFY_UNAVAILABLE, `${this.name}: /prompt: request timed out`, { details: { backend: this.name, path: '/prompt' } });
    }
    return { promptId: request.promptId, number: this.counter++ };
  }
  watch(promptId: string, onEvent: (event: PromptEvent) => void) {
    const set = this.watchers.get(promptId) ?? new Set();
    set.add(onEvent);
    this.watchers.set(promptId, set);
    return { stop: () => set.delete(onEvent) };
  }
  watching(promptId: string): number {
    return this.watchers.get(promptId)?.size ?? 0;
  }
  /** Plays an event to the prompt's watchers. */
  play(event: PromptEvent): void {
    if (event.type === 'started') this.locations.set(event.promptId, { where: 'running' });
    if (event.type === 'succeeded' || event.type === 'failed' || event.type === 'interrupted')
      this.locations.set(event.promptId, { where: 'history', outcome: event });
    for (const w of [...(this.watchers.get(event.promptId) ?? [])]) w(event);
  }
  async locate(promptId: string): Promise<PromptLocation> {
    this.locates.push(promptId);
    return this.locations.get(promptId) ?? { where: 'absent' };
  }
  async deleteFromQueue(promptId: string) {
    this.deletes.push(promptId);
    if (this.locations.get(promptId)?.where === 'pending') this.locations.delete(promptId);
  }
  async interrupt(promptId: string) {
    this.interrupts.push(promptId);
  }
  async download() {
    return Readable.from([Buffer.from('png')]);
  }
  async uploadImage() {
    return { name: 'x.png', subfolder: '', type: 'input' };
  }
  async objectInfo() {
    return {};
  }
  health(): BackendHealth {
    return { name: this.name, url: this.url, healthy: this.healthy, socket: this.healthy ? 'open' : 'closed' };
  }
  async close() {}
}
