/**
 * BackendOutageLog: the operator hears of a backend that cannot be used — at start, when it
 * goes down, again every repeat interval while it stays down (with a count), and once when
 * it is back — naming the backend, its URL and the cause; a healthy pool logs nothing.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { BackendOutageLog, outageCauseOf } from '../../src/comfy/backend-outage-log.js';
import type { BackendHealth } from '../../src/comfy/backend-port.js';
import { FakeComfyBackend } from '../support/fake-comfy-backend.js';

class DownBackend extends FakeComfyBackend {
  lastError: string | undefined = `ComfyUI gpu0 at ${this.url}: /system_stats: connection refused`;
  override health(): BackendHealth {
    const health = super.health();
    return this.healthy || this.lastError === undefined ? health : { ...health, lastError: this.lastError };
  }
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }, lines };
}

function poolOf(...backends: FakeComfyBackend[]) {
  const listeners = new Set<(health: BackendHealth) => void>();
  return {
    list: () => backends,
    onHealthChange(listener: (health: BackendHealth) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    tell: (backend: FakeComfyBackend) => {
      for (const listener of listeners) listener(backend.health());
    },
  };
}

beforeEach(() => vi.useFakeTimers({ now: Date.parse('2026-11-25T12:00:00Z') }));
afterEach(() => vi.useRealTimers());

it('warns at start naming backend, URL and cause; repeats each interval with a count; says when it is back', () => {
  const down = new DownBackend('gpu0');
  down.healthy = false;
  const up = new FakeComfyBackend('gpu1');
  const pool = poolOf(down, up);
  const { logger, lines } = recordingLogger();
  const log = new BackendOutageLog(pool, { logger, waitingJobs: () => 3 });
  log.start();

  expect(lines).toHaveLength(1);
  expect(lines[0]!.level).toBe('warn');
  expect(lines[0]!.obj).toMatchObject({ backend: 'gpu0', url: down.url, cause: '/system_stats: connection refused', warnings: 1, jobs_waiting: 3 });
  expect(lines[0]!.msg).toContain(`ComfyUI backend gpu0 at ${down.url} is unreachable at start: /system_stats: connection refused`);

  // Health events while it stays down add nothing: the rate is bounded by the interval.
  pool.tell(down);
  pool.tell(down);
  vi.advanceTimersByTime(59_000);
  expect(lines).toHaveLength(1);
  vi.advanceTimersByTime(1_000);
  expect(lines).toHaveLength(2);
  expect(lines[1]!.obj).toMatchObject({ backend: 'gpu0', warnings: 2, down_for_s: 60 });
  expect(lines[1]!.msg).toContain('is still unreachable (down 60 s, warning 2)');
  vi.advanceTimersByTime(60_000);
  expect(lines[2]!.obj).toMatchObject({ warnings: 3, down_for_s: 120 });

  down.healthy = true;
  pool.tell(down);
  expect(lines).toHaveLength(4);
  expect(lines[3]!.level).toBe('info');
  expect(lines[3]!.obj).toMatchObject({ backend: 'gpu0', url: down.url, down_for_s: 120 });
  expect(lines[3]!.msg).toContain('is reachable again after 120 s');
  vi.advanceTimersByTime(300_000);
  expect(lines).toHaveLength(4);
  log.close();
});

it('a backend that goes down later is warned about once, and its socket named when no HTTP call failed', () => {
  const backend = new DownBackend('gpu0');
  backend.lastError = undefined;
  const pool = poolOf(backend);
  const { logger, lines } = recordingLogger();
  const log = new BackendOutageLog(pool, { logger });
  log.start();
  expect(lines).toEqual([]);
  backend.healthy = false;
  pool.tell(backend);
  expect(lines).toHaveLength(1);
  expect(lines[0]!.obj).toMatchObject({ backend: 'gpu0', cause: 'its WebSocket is closed', warnings: 1 });
  expect(lines[0]!.msg).toContain('went down');
  log.close();
  vi.advanceTimersByTime(600_000);
  expect(lines).toHaveLength(1);
});

it('outageCauseOf keeps a cause that does not start with the backend head as it is', () => {
  expect(outageCauseOf({ name: 'a', url: 'http://x', healthy: false, socket: 'closed', lastError: 'boom' })).toBe('boom');
  expect(outageCauseOf({ name: 'a', url: 'http://x', healthy: false, socket: 'open' })).toBe('not answering /system_stats');
});
