import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfyHttpClient, ComfySocket, type ComfyWsMessage } from '../../src/comfy/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(heartbeat: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number }): Promise<{ sim: SimulatorHandle; socket: ComfySocket }> {
  const sim = await startSimulator({ port: 0, stepDelayMs: 1 });
  cleanups.push(() => sim.close());
  const socket = new ComfySocket({ url: sim.url, clientId: 'socket-test', backoff: { initialMs: 10, maxMs: 50 }, ...heartbeat });
  cleanups.push(() => socket.close());
  return { sim, socket };
}

/** Resolves with the first message matching `test`. */
function nextMessage(socket: ComfySocket, test: (message: ComfyWsMessage) => boolean): Promise<ComfyWsMessage> {
  return new Promise((resolve) => {
    const listener = (message: ComfyWsMessage) => {
      if (!test(message)) return;
      socket.off('message', listener);
      resolve(message);
    };
    socket.on('message', listener);
  });
}

async function runPromptFor(sim: SimulatorHandle, clientId: string): Promise<string> {
  const http = new ComfyHttpClient({ url: sim.url });
  try {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: Math.floor(Math.random() * 1e6) } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'sock' } },
    };
    return (await http.submitPrompt({ prompt, client_id: clientId })).prompt_id;
  } finally {
    await http.close();
  }
}

describe('ComfySocket against the simulator', () => {
  it("opens with our clientId, negotiates feature flags and receives this client's prompt messages", async () => {
    const { sim, socket } = await setup({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 2_000 });
    const hello = nextMessage(socket, (message) => message.type === 'status');
    const flags = nextMessage(socket, (message) => message.type === 'feature_flags');
    socket.start();
    expect(await hello).toMatchObject({ type: 'status', data: { sid: 'socket-test' } });
    expect(await flags).toMatchObject({ data: { supports_preview_metadata: true } });
    const started = nextMessage(socket, (message) => message.type === 'execution_start');
    const promptId = await runPromptFor(sim, 'socket-test');
    expect(await started).toMatchObject({ data: { prompt_id: promptId } });
  });

  it('notices a silently dead peer through the heartbeat and reconnects with a working socket', async () => {
    const { sim, socket } = await setup({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 });
    socket.start();
    await once(socket, 'open');
    const droppedAt = Date.now();
    sim.faults.dropSocketsSilently();
    await once(socket, 'close');
    expect(Date.now() - droppedAt).toBeLessThan(1_000);
    const [reopen] = (await once(socket, 'open')) as [{ reconnected: boolean }];
    expect(reopen.reconnected).toBe(true);
    // The old socket was closed before the new one opened, so the new one is not deaf (§5.2).
    const started = nextMessage(socket, (message) => message.type === 'execution_start');
    const promptId = await runPromptFor(sim, 'socket-test');
    expect(await started).toMatchObject({ data: { prompt_id: promptId } });
  });

  it('reconnects after the server drops it and after a restart, and stays closed after close()', async () => {
    const { sim, socket } = await setup({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 2_000 });
    socket.start();
    await once(socket, 'open');
    sim.faults.closeSockets();
    await once(socket, 'open');
    await sim.restart();
    await once(socket, 'open');
    expect(socket.state).toBe('open');
    await socket.close();
    expect(socket.state).toBe('closed');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(socket.state).toBe('closed');
  });
});
