/**
 * A deaf socket heals itself. Another client opens a socket with our clientId and closes it
 * (transcript 09): ComfyUI forgets the id, our socket stays open and answers pings, but no
 * message for our prompts arrives again. The backend notices from polling (a prompt of ours
 * ran, the socket said nothing), reopens the socket once, and later prompts are followed over
 * the socket again. Assertions are on how each outcome was learned, not on wall time.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfyBackendClient, type ApiPrompt, type PromptEvent } from '../../src/comfy/index.js';
import type { StructuredLogger } from '../../src/contracts/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

const terminal = new Set(['succeeded', 'failed', 'interrupted', 'lost']);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tinyPrompt(color: number): ApiPrompt {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'heal' } },
  };
}

function recordingLogger() {
  const lines: { level: string; object: object; message?: string }[] = [];
  const at = (level: string) => (object: object, message?: string) => void lines.push({ level, object, ...(message === undefined ? {} : { message }) });
  const logger: StructuredLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

async function setup(executionDelayMs = 0) {
  const sim: SimulatorHandle = await startSimulator({ port: 0, stepDelayMs: 2 });
  cleanups.push(() => sim.close());
  sim.faults.executionDelayMs(executionDelayMs);
  const { logger, lines } = recordingLogger();
  const clientId = `cv-${randomUUID()}`;
  // Polling is slow on purpose (1 s, then 2 s): an outcome learned by polling is unmistakable.
  const backend = new ComfyBackendClient(
    { name: 'sim', url: sim.url, max_concurrent: 1, request_timeout_ms: 2_000, heartbeat_interval_ms: 5_000, heartbeat_timeout_ms: 10_000 },
    { clientId, pollInitialMs: 1_000, pollMaxMs: 2_000, reconnectBackoff: { initialMs: 20, maxMs: 200 }, logger },
  );
  cleanups.push(() => backend.close());
  await backend.start();
  return { sim, backend, clientId, lines };
}

async function run(backend: ComfyBackendClient, color: number): Promise<{ events: PromptEvent[]; end: PromptEvent }> {
  const promptId = randomUUID();
  await backend.submit({ promptId, prompt: tinyPrompt(color), jobId: `job-${color}` });
  const events: PromptEvent[] = [];
  const end = await new Promise<PromptEvent>((resolve) => {
    backend.watch(promptId, (event) => {
      events.push(event);
      if (terminal.has(event.type)) resolve(event);
    });
  });
  return { events, end };
}

const heals = (lines: { level: string; object: object; message?: string }[]) =>
  lines.filter((l) => l.level === 'warn' && /socket is deaf/.test(l.message ?? ''));

describe('self-healing ComfyUI socket', () => {
  it('after a clientId takeover: the first prompt is found by polling and heals the socket; the next one is followed over the socket', async () => {
    const { sim, backend, clientId, lines } = await setup();
    const before = await run(backend, 1);
    expect(before.end).toMatchObject({ type: 'succeeded', via: 'socket' });

    await sim.faults.takeOverClientId(clientId);
    expect(backend.health().socket).toBe('open'); // nothing tells the client: only silence

    const first = await run(backend, 2);
    expect(first.end).toMatchObject({ type: 'succeeded', via: 'poll' });
    // Not one socket message about it: only what polling reports (started? then the outcome).
    expect(first.events.map((e) => e.type).filter((t) => !['started', 'queued'].includes(t))).toEqual(['succeeded']);

    // The heal closed the deaf socket and opened connection number 2 (same clientId).
    await expect.poll(() => backend.socket.connectionNumber, { timeout: 3_000 }).toBe(2);
    expect(backend.health().socket).toBe('open');
    const second = await run(backend, 3);
    expect(second.end).toMatchObject({ type: 'succeeded', via: 'socket' });
    expect(second.events.map((e) => e.type)).toContain('executed');

    expect(heals(lines)).toHaveLength(1);
    expect(heals(lines)[0]!.object).toMatchObject({ backend: 'sim', seen: 'finished', heals: 1 });
    expect(backend.health().socketHeals).toBe(1);
  });

  it('heals when /queue shows our prompt running and the socket has said nothing of it', async () => {
    const { sim, backend, clientId, lines } = await setup(3_500);
    await sim.faults.takeOverClientId(clientId);
    const slow = await run(backend, 4);
    // Seen running on two polls (1 s apart) before it finished: the heal came while it ran,
    // so its end arrived over the new socket.
    expect(heals(lines)).toHaveLength(1);
    expect(heals(lines)[0]!.object).toMatchObject({ seen: 'running' });
    expect(slow.end).toMatchObject({ type: 'succeeded' });
    sim.faults.executionDelayMs(0);
    await expect.poll(() => backend.socket.connectionNumber, { timeout: 3_000 }).toBe(2);
    const next = await run(backend, 5);
    expect(next.end).toMatchObject({ type: 'succeeded', via: 'socket' });
    expect(backend.health().socketHeals).toBe(1);
  });

  it('a healthy socket is never reopened, however many prompts run', async () => {
    const { backend, lines } = await setup();
    for (const color of [6, 7, 8, 9]) expect((await run(backend, color)).end).toMatchObject({ via: 'socket' });
    expect(heals(lines)).toHaveLength(0);
    expect(backend.health().socketHeals).toBe(0);
  });
});
