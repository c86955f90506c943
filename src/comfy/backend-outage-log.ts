import type { StructuredLogger } from '../contracts/structured-logger.js';
import type { BackendHealth, ComfyBackend } from './backend-port.js';

/**
 * Why a backend cannot be used, in words: its last HTTP failure without the `ComfyUI <name>
 * at <url>: ` head the log line already has (e.g. `/system_stats: connection refused`,
 * `/system_stats (HTTP 401): Unauthorized`), else the state of its socket.
 */
export function outageCauseOf(health: BackendHealth): string {
  const error = health.lastError;
  if (error !== undefined) {
    const head = `ComfyUI ${health.name} at ${health.url}: `;
    return error.startsWith(head) ? error.slice(head.length) : error;
  }
  return health.socket === 'open' ? 'not answering /system_stats' : `its WebSocket is ${health.socket}`;
}

export interface BackendOutageLogOptions {
  logger: StructuredLogger;
  /** While a backend stays down, its warning is repeated this often (default 60 s). */
  repeatMs?: number;
  /** Jobs waiting for a slot (the scheduler's count), said in every line. */
  waitingJobs?: () => number;
  now?: () => number;
}

interface Outage {
  since: number;
  /** Warnings logged for this outage so far. */
  warnings: number;
}

type PoolView = { list(): ComfyBackend[]; onHealthChange?(listener: (health: BackendHealth) => void): () => void };

/**
 * The one owner of the log lines about backends that cannot be used: a warning naming the
 * backend, its URL and the cause when it is unreachable at start or goes down, the same again
 * every `repeatMs` while it stays down (with how long, and the count), and one info line when
 * it is back. Only says: jobs keep waiting for a slot (their queue wait timeout still holds),
 * and nothing is sent to ComfyUI because of it.
 */
export class BackendOutageLog {
  private readonly outages = new Map<string, Outage>();
  private readonly logger: StructuredLogger;
  private readonly repeatMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly pool: PoolView,
    private readonly options: BackendOutageLogOptions,
  ) {
    this.logger = options.logger;
    this.repeatMs = options.repeatMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Reports the backends that are down now, then follows their health. */
  start(): void {
    for (const backend of this.pool.list()) this.observe(backend.health(), 'at start');
    this.unsubscribe = this.pool.onHealthChange?.((health) => this.observe(health, 'went down'));
    this.timer = setInterval(() => this.repeat(), this.repeatMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private observe(health: BackendHealth, when: 'at start' | 'went down'): void {
    const outage = this.outages.get(health.name);
    if (health.healthy) {
      if (outage) this.back(health, outage);
      return;
    }
    if (outage) return;
    const started = { since: this.now(), warnings: 0 };
    this.outages.set(health.name, started);
    this.warn(health, started, when === 'at start' ? 'is unreachable at start' : 'went down');
  }

  /** Backends still down are said again; one that recovered without a health event is said back. */
  private repeat(): void {
    for (const backend of this.pool.list()) {
      const outage = this.outages.get(backend.name);
      if (!outage) continue;
      const health = backend.health();
      if (health.healthy) this.back(health, outage);
      else this.warn(health, outage, 'is still unreachable');
    }
  }

  private warn(health: BackendHealth, outage: Outage, what: string): void {
    outage.warnings += 1;
    const cause = outageCauseOf(health);
    const downForS = Math.round((this.now() - outage.since) / 1000);
    const waiting = this.options.waitingJobs?.();
    const fields = {
      backend: health.name,
      url: health.url,
      cause,
      socket: health.socket,
      down_for_s: downForS,
      warnings: outage.warnings,
      ...(waiting === undefined ? {} : { jobs_waiting: waiting }),
    };
    const since = outage.warnings > 1 ? ` (down ${downForS} s, warning ${outage.warnings})` : '';
    this.logger.warn(
      fields,
      `ComfyUI backend ${health.name} at ${health.url} ${what}${since}: ${cause}; jobs wait for a slot until it is back (up to comfyui.queue_wait_timeout_seconds)`,
    );
  }

  private back(health: BackendHealth, outage: Outage): void {
    this.outages.delete(health.name);
    const downForS = Math.round((this.now() - outage.since) / 1000);
    this.logger.info(
      { backend: health.name, url: health.url, down_for_s: downForS, comfyui_version: health.comfyuiVersion ?? null },
      `ComfyUI backend ${health.name} at ${health.url} is reachable again after ${downForS} s`,
    );
  }
}
