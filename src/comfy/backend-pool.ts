import { ChorusError, ErrorCode } from '../errors/index.js';
import type { BackendHealth, ComfyBackend } from './backend-port.js';

/**
 * The ComfyUI servers a service drives. Jobs go to the healthy backend with the most free
 * capacity (maxConcurrent minus what the caller says is in use there); unhealthy ones are
 * skipped until their socket and /system_stats recover.
 */
export class BackendPool {
  private readonly backends: ComfyBackend[];
  private readonly byName = new Map<string, ComfyBackend>();
  private readonly listeners = new Set<(health: BackendHealth) => void>();
  private readonly unsubscribes: (() => void)[] = [];

  constructor(backends: ComfyBackend[]) {
    for (const backend of backends) {
      if (this.byName.has(backend.name)) {
        throw new ChorusError(ErrorCode.CONFIG_INVALID, `Two ComfyUI backends are named "${backend.name}"`, {
          details: { key: 'comfyui.backends', name: backend.name },
        });
      }
      this.byName.set(backend.name, backend);
      const unsubscribe = backend.onHealthChange?.((health) => this.notify(health));
      if (unsubscribe) this.unsubscribes.push(unsubscribe);
    }
    this.backends = [...backends];
  }

  list(): ComfyBackend[] {
    return [...this.backends];
  }

  get(name: string): ComfyBackend | undefined {
    return this.byName.get(name);
  }

  healthy(): ComfyBackend[] {
    return this.backends.filter((backend) => backend.health().healthy);
  }

  /** The healthy backend with the most free slots; ties go to the one listed first. */
  choose(inUse: (name: string) => number): ComfyBackend | undefined {
    let best: ComfyBackend | undefined;
    let bestFree = 0;
    for (const backend of this.healthy()) {
      const free = backend.maxConcurrent - inUse(backend.name);
      if (free > bestFree) {
        best = backend;
        bestFree = free;
      }
    }
    return best;
  }

  /** Called when a backend's health or socket state changes. Returns the unsubscribe function. */
  onHealthChange(listener: (health: BackendHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    this.listeners.clear();
    await Promise.allSettled(this.backends.map((backend) => backend.close()));
  }

  private notify(health: BackendHealth): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(health);
      } catch {
        // One bad listener must not keep the others from hearing about it.
      }
    }
  }
}
