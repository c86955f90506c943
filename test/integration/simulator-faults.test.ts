import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

let sim: SimulatorHandle;
beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 2, nodeDelayMs: 0 });
});
afterEach(async () => {
  await sim.close();
});

const simple = (color: number) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'f' } },
});

async function submit(prompt: unknown, clientId = 'f'): Promise<string> {
  const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: clientId }) });
  return ((await res.json()) as { prompt_id: string }).prompt_id;
}

describe('simulator faults', () => {
  it('dropSocketsSilently: the socket stays open, receives nothing and answers no ping; new sockets work', async () => {
    const old = await RecordingSocket.open(sim.url, 'f');
    sim.faults.dropSocketsSilently();
    const before = old.frames.length;
    let ponged = false;
    old.ws.on('pong', () => (ponged = true));
    old.ws.ping();
    const fresh = await RecordingSocket.open(sim.url, 'other');
    const id = await submit(simple(1), 'other');
    await fresh.waitForEnd(id);
    await new Promise((r) => setTimeout(r, 50));
    expect(old.ws.readyState).toBe(WebSocket.OPEN);
    expect(old.frames.length).toBe(before);
    expect(ponged).toBe(false);
    old.ws.terminate();
    await fresh.close();
  });

  it('closeSockets: sockets end without a close frame', async () => {
    const socket = await RecordingSocket.open(sim.url, 'f');
    const code = new Promise<number>((resolve) => socket.ws.once('close', (c) => resolve(c)));
    sim.faults.closeSockets();
    expect(await code).toBe(1006);
  });

  it('refuseConnections: HTTP requests fail at the socket and upgrades are refused', async () => {
    sim.faults.refuseConnections(true);
    await expect(fetch(`${sim.url}/system_stats`)).rejects.toThrow();
    await expect(RecordingSocket.open(sim.url, 'f')).rejects.toThrow();
    sim.faults.refuseConnections(false);
    expect((await fetch(`${sim.url}/system_stats`)).status).toBe(200);
  });

  it('failHttp: answers the status with aiohttp text on chosen paths only, then recovers', async () => {
    sim.faults.failHttp(500, ['/history']);
    const failed = await fetch(`${sim.url}/api/history`);
    expect([failed.status, failed.headers.get('content-type'), await failed.text()]).toEqual([
      500,
      'text/plain; charset=utf-8',
      '500 Internal Server Error\n\nServer got itself in trouble',
    ]);
    expect((await fetch(`${sim.url}/queue`)).status).toBe(200);
    sim.faults.failHttp(503);
    expect((await fetch(`${sim.url}/queue`)).status).toBe(503);
    sim.faults.failHttp(null);
    expect((await fetch(`${sim.url}/history`)).status).toBe(200);
  });

  it('slowHttp: every answer is delayed', async () => {
    sim.faults.slowHttp(120);
    const started = Date.now();
    await fetch(`${sim.url}/queue`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  it('slowHttp with paths: only those answers are delayed', async () => {
    sim.faults.slowHttp(300, ['/view']);
    let started = Date.now();
    await fetch(`${sim.url}/queue`);
    expect(Date.now() - started).toBeLessThan(250);
    started = Date.now();
    await fetch(`${sim.url}/api/view?filename=none.png`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('succeedWithoutOutputs: success with no executed message and empty outputs', async () => {
    const socket = await RecordingSocket.open(sim.url, 'f');
    sim.faults.succeedWithoutOutputs(true);
    const id = await submit(simple(2));
    await socket.waitForEnd(id);
    const types = socket.forPrompt(id).map((m) => m.type);
    expect(types).toContain('execution_success');
    expect(types).not.toContain('executed');
    const entry = ((await (await fetch(`${sim.url}/history/${id}`)).json()) as Record<string, any>)[id];
    expect(entry.outputs).toEqual({});
    await socket.close();
  });

  it('failNodeClass: execution_error in that node', async () => {
    const socket = await RecordingSocket.open(sim.url, 'f');
    sim.faults.failNodeClass('SaveImage');
    const id = await submit(simple(3));
    await socket.waitForEnd(id);
    const error = socket.forPrompt(id).find((m) => m.type === 'execution_error');
    expect(error?.data).toMatchObject({ node_id: '2', node_type: 'SaveImage', exception_type: 'RuntimeError', executed: ['1'] });
    await socket.close();
  });

  it('executionDelayMs: a prompt takes at least that long', async () => {
    const socket = await RecordingSocket.open(sim.url, 'f');
    sim.faults.executionDelayMs(150);
    const started = Date.now();
    const id = await submit(simple(4));
    await socket.waitForEnd(id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await socket.close();
  });

  it('control routes drive faults, stats and restart from another process', async () => {
    const post = (path: string, body?: unknown) => fetch(sim.url + path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await post('/_sim/fault', { name: 'failHttp', args: [502, ['/queue']] })).status).toBe(200);
    expect((await fetch(`${sim.url}/queue`)).status).toBe(502);
    expect((await post('/_sim/fault', { name: 'failHttp', args: [null] })).status).toBe(200);
    expect((await post('/_sim/fault', { name: 'noSuchFault', args: [] })).status).toBe(400);
    expect((await post('/_sim/fault', { name: 'slowHttp', args: ['fast'] })).status).toBe(400);
    const socket = await RecordingSocket.open(sim.url, 'f');
    const id = await submit(simple(5));
    await socket.waitForEnd(id);
    const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { executions: Record<string, number>; submissions: number; totalExecutions: number };
    expect(stats).toMatchObject({ submissions: 1, totalExecutions: 1, executions: { [id]: 1 } });
    const closed = new Promise((resolve) => socket.ws.once('close', resolve));
    expect((await post('/_sim/restart')).status).toBe(200);
    await closed;
    await expect
      .poll(async () =>
        fetch(`${sim.url}/history`)
          .then((r) => r.json())
          .catch(() => null),
      )
      .toEqual({});
  });
});
