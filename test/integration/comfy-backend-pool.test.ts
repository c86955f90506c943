import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendPool, ComfyBackendClient, startBackendPool, type BackendHealth } from '../../src/comfy/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function simulator(): Promise<SimulatorHandle> {
  const sim = await startSimulator({ port: 0, stepDelayMs: 1 });
  cleanups.push(() => sim.close());
  return sim;
}

function backend(name: string, url: string, maxConcurrent: number): ComfyBackendClient {
  return new ComfyBackendClient(
    { name, url, max_concurrent: maxConcurrent, request_timeout_ms: 1_000, heartbeat_interval_ms: 1_000, heartbeat_timeout_ms: 5_000 },
    { pollInitialMs: 100, pollMaxMs: 200, statsIntervalMs: 200, reconnectBackoff: { initialMs: 20, maxMs: 100 } },
  );
}

async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 1}`;
}

describe('BackendPool', () => {
  it('chooses the healthy backend with the most free capacity, and skips one that goes down', async () => {
    const [simA, simB] = await Promise.all([simulator(), simulator()]);
    const a = backend('a', simA.url, 2);
    const b = backend('b', simB.url, 3);
    const dead = backend('dead', await deadUrl(), 10);
    const pool = new BackendPool([a, b, dead]);
    cleanups.push(() => pool.close());
    await Promise.all([a.start(), b.start(), dead.start()]);

    expect(pool.list().map((x) => x.name)).toEqual(['a', 'b', 'dead']);
    expect(pool.get('b')).toBe(b);
    expect(pool.healthy().map((x) => x.name)).toEqual(['a', 'b']);
    expect(dead.health()).toMatchObject({ healthy: false });
    expect(dead.health().lastError).toContain('connection refused');

    const inUse: Record<string, number> = { a: 0, b: 0 };
    expect(pool.choose((name) => inUse[name] ?? 0)?.name).toBe('b'); // 3 free vs 2
    inUse['b'] = 2;
    expect(pool.choose((name) => inUse[name] ?? 0)?.name).toBe('a'); // 2 free vs 1
    inUse['a'] = 2;
    inUse['b'] = 3;
    expect(pool.choose((name) => inUse[name] ?? 0)).toBeUndefined(); // all full

    const changes: BackendHealth[] = [];
    const wentDown = new Promise<void>((resolve) =>
      pool.onHealthChange((health) => {
        changes.push(health);
        if (health.name === 'b' && !health.healthy) resolve();
      }),
    );
    simB.faults.refuseConnections(true);
    simB.faults.closeSockets();
    await wentDown;
    expect(pool.healthy().map((x) => x.name)).toEqual(['a']);
    expect(pool.choose(() => 0)?.name).toBe('a');

    const cameBack = new Promise<void>((resolve) =>
      pool.onHealthChange((health) => {
        if (health.name === 'b' && health.healthy) resolve();
      }),
    );
    simB.faults.refuseConnections(false);
    await cameBack;
    expect(pool.choose(() => 0)?.name).toBe('b');
    expect(changes.find((health) => health.name === 'b')).toMatchObject({ healthy: false, socket: 'connecting' });
  });

  it('starts a pool from the service config, with a stable clientId when instance_id is set', async () => {
    const sim = await simulator();
    const config = parseServiceConfig({
      comfyui: { url: sim.url, polling: { initial_interval_seconds: 0.1, max_interval_seconds: 0.2 } },
      instance_id: 'itest',
    });
    const pool = await startBackendPool(config);
    cleanups.push(() => pool.close());
    const only = pool.get('default');
    expect(only).toBeInstanceOf(ComfyBackendClient);
    expect((only as ComfyBackendClient).socket.clientId).toBe('itest-default');
    expect(pool.healthy()).toEqual([only]);
  });

  it('refuses two backends with the same name', () => {
    const fake = { name: 'x', health: () => ({ healthy: true }) } as unknown as ComfyBackendClient;
    expect(() => new BackendPool([fake, fake])).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG_INVALID }));
  });
});
