import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

let sim: SimulatorHandle;
let socket: RecordingSocket;

beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 10, nodeDelayMs: 0 });
  socket = await RecordingSocket.open(sim.url, 'q');
});
afterEach(async () => {
  await socket.close();
  await sim.close();
});

/** EmptyImage → ProtocolProbeProgress(steps) → SaveImage: a prompt that runs for steps × 10 ms. */
const slow = (steps: number, color = 1) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
  '2': { class_type: 'ProtocolProbeProgress', inputs: { image: ['1', 0], steps, delay: 0, send_preview: false } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'slow' } },
});

async function post(path: string, body?: unknown): Promise<Response> {
  return fetch(sim.url + path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });
}

async function submit(prompt: unknown, extra: Record<string, unknown> = {}): Promise<{ prompt_id: string; number: number }> {
  return (await (await post('/prompt', { prompt, client_id: 'q', ...extra })).json()) as { prompt_id: string; number: number };
}

const history = async (id: string) => ((await (await fetch(`${sim.url}/history/${id}`)).json()) as Record<string, any>)[id];

describe('simulator queue, interrupt and restart', () => {
  it('targeted interrupt of a pending prompt does nothing; of the running one stops it mid-node', async () => {
    const running = await submit(slow(200));
    const pending = await submit(slow(2, 2));
    await socket.waitFor((f) => f.kind === 'text' && f.type === 'progress' && f.data['prompt_id'] === running.prompt_id);
    const noop = await post('/interrupt', { prompt_id: pending.prompt_id });
    expect([noop.status, noop.headers.get('content-type'), await noop.text()]).toEqual([200, 'application/octet-stream', '']);
    await post('/interrupt', { prompt_id: running.prompt_id });
    await socket.waitForEnd(running.prompt_id);
    const interrupted = socket.forPrompt(running.prompt_id).find((m) => m.type === 'execution_interrupted')!;
    expect(interrupted.data).toMatchObject({ node_id: '2', node_type: 'ProtocolProbeProgress', executed: ['1'] });
    await socket.waitForEnd(pending.prompt_id);
    expect((await history(running.prompt_id)).status).toMatchObject({ status_str: 'error', completed: false });
    expect((await history(pending.prompt_id)).status.status_str).toBe('success');
  });

  it('global interrupt (no body) hits the next node boundary of a node without progress', async () => {
    sim.faults.executionDelayMs(150); // the first node takes 150 ms and reports no progress
    const { prompt_id } = await submit({
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 3 } },
      '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 1 } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'g' } },
    });
    await socket.waitFor((f) => f.kind === 'text' && f.type === 'executing' && f.data['node'] === '1');
    expect((await fetch(`${sim.url}/interrupt`, { method: 'POST' })).status).toBe(200);
    await socket.waitForEnd(prompt_id);
    const kinds = socket.forPrompt(prompt_id).map((m) => m.type);
    expect(kinds.slice(-3)).toEqual(['executing', 'execution_interrupted', 'executing']);
    expect(socket.forPrompt(prompt_id).find((m) => m.type === 'execution_interrupted')!.data['node_id']).toBe('2');
  });

  it('deletes a pending prompt, which then never runs nor appears in history', async () => {
    const running = await submit(slow(30));
    const doomed = await submit(slow(2, 5));
    const queue = (await (await fetch(`${sim.url}/queue`)).json()) as { queue_running: unknown[][]; queue_pending: unknown[][] };
    expect(queue.queue_running[0]?.[1]).toBe(running.prompt_id);
    expect(queue.queue_pending.map((e) => e[1])).toEqual([doomed.prompt_id]);
    expect((await post('/queue', { delete: [doomed.prompt_id, 'unknown-id'] })).status).toBe(200);
    await socket.waitForEnd(running.prompt_id);
    expect(await history(doomed.prompt_id)).toBeUndefined();
    expect(sim.stats().executions[doomed.prompt_id]).toBeUndefined();
  });

  it('keeps client-chosen ids (no duplicate check), front and explicit numbers', async () => {
    const blocker = await submit(slow(20));
    const a = await submit(slow(1, 9), { prompt_id: 'same-id' });
    const b = await submit(slow(1, 10), { prompt_id: 'same-id' });
    const front = await submit(slow(1, 11), { front: true });
    const explicit = await submit(slow(1, 12), { number: 2.5 });
    const numeric = await submit(slow(1, 13), { prompt_id: 12345 });
    expect([a.prompt_id, b.prompt_id, numeric.prompt_id]).toEqual(['same-id', 'same-id', '12345']);
    expect(front.number).toBe(-3);
    expect(explicit.number).toBe(2.5);
    const from = socket.frames.length;
    await socket.waitFor((f) => f.kind === 'text' && f.type === 'status' && (f.data['status'] as any).exec_info.queue_remaining === 0, 5000, from);
    const starts = socket
      .texts()
      .filter((m) => m.type === 'execution_start')
      .map((m) => m.data['prompt_id']);
    // heap order: number first (front = -3, then 1, 2, 2.5, 4)
    expect(starts).toEqual([blocker.prompt_id, front.prompt_id, 'same-id', 'same-id', explicit.prompt_id, '12345']);
    expect(sim.stats().executions['same-id']).toBe(2);
  });

  it('answers history queries with max_items and offset, and deletes entries', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { prompt_id } = await submit(slow(1, 100 + i));
      await socket.waitForEnd(prompt_id);
      ids.push(prompt_id);
    }
    const keys = async (q: string) => Object.keys((await (await fetch(`${sim.url}/history${q}`)).json()) as object);
    expect(await keys('')).toEqual(ids);
    expect(await keys('?max_items=2')).toEqual(ids.slice(1));
    expect(await keys('?max_items=1&offset=1')).toEqual([ids[1]]);
    expect(await keys('?offset=2')).toEqual([ids[2]]);
    expect((await fetch(`${sim.url}/history?max_items=abc`)).status).toBe(500);
    await post('/history', { delete: [ids[0]] });
    expect(await keys('')).toEqual(ids.slice(1));
    expect(await (await fetch(`${sim.url}/api/history/nope`)).json()).toEqual({});
  });

  it('restart loses queue, history and the counter, keeps files, and serves the same port', async () => {
    const done = await submit(slow(1, 42));
    await socket.waitForEnd(done.prompt_id);
    const running = await submit(slow(500, 43));
    await socket.waitFor((f) => f.kind === 'text' && f.type === 'progress');
    const closed = new Promise((resolve) => socket.ws.once('close', resolve));
    await sim.restart();
    await closed;
    const fresh = await RecordingSocket.open(sim.url, 'q');
    expect(fresh.texts()[0]?.data).toMatchObject({ status: { exec_info: { queue_remaining: 0 } }, sid: 'q' });
    expect(await (await fetch(`${sim.url}/history`)).json()).toEqual({});
    expect(await (await fetch(`${sim.url}/queue`)).json()).toEqual({ queue_running: [], queue_pending: [] });
    const view = await fetch(`${sim.url}/view?filename=slow_00001_.png&type=output`);
    expect(view.status).toBe(200);
    const after = (await (await post('/prompt', { prompt: slow(1, 44), client_id: 'q' })).json()) as { number: number; prompt_id: string };
    expect(after.number).toBe(0);
    await fresh.waitForEnd(after.prompt_id);
    expect((await history(after.prompt_id)).outputs['3'].images[0].filename).toBe('slow_00002_.png');
    expect(sim.stats().executions[running.prompt_id]).toBe(1);
    await fresh.close();
  });
});
