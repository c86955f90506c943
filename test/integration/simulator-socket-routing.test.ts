import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { RecordingSocket } from '../../src/simulator/recording-socket.js';

let sim: SimulatorHandle;
const sockets: RecordingSocket[] = [];
const open = async (clientId?: string) => {
  const socket = await RecordingSocket.open(sim.url, clientId);
  sockets.push(socket);
  return socket;
};

beforeEach(async () => {
  sim = await startSimulator({ stepDelayMs: 5, nodeDelayMs: 0 });
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
  await sim.close();
});

const probe = (steps: number) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: steps } },
  '2': { class_type: 'ProtocolProbeProgress', inputs: { image: ['1', 0], steps, delay: 0, send_preview: true } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'r' } },
});

async function submit(prompt: unknown, clientId?: string): Promise<string> {
  const body = clientId === undefined ? { prompt } : { prompt, client_id: clientId };
  const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify(body) });
  return ((await res.json()) as { prompt_id: string }).prompt_id;
}

describe('simulator socket routing', () => {
  it('says hello with a server-made 32-hex sid when no clientId is given', async () => {
    const socket = await open();
    const hello = await socket.waitFor((f) => f.kind === 'text' && f.type === 'status');
    expect((hello as { data: Record<string, unknown> }).data['sid']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sends per-prompt messages and progress only to the client; other sockets see status only', async () => {
    const a = await open('a');
    const b = await open('b');
    const id = await submit(probe(2), 'a');
    await a.waitForEnd(id);
    await b.waitFor((f) => f.kind === 'text' && f.type === 'status' && (f.data['status'] as any).exec_info.queue_remaining === 0, 2000, 1);
    expect(b.kinds().every((k) => k === 'status')).toBe(true);
    expect(a.kinds()).toContain('progress');
  });

  it('broadcasts progress, legacy previews and interrupts of a prompt without client_id, nothing else', async () => {
    const a = await open('a');
    const c = await open();
    const id = await submit(probe(400));
    await c.waitFor((f) => f.kind === 'text' && f.type === 'progress');
    await fetch(`${sim.url}/interrupt`, { method: 'POST' });
    await a.waitFor((f) => f.kind === 'text' && f.type === 'execution_interrupted');
    await c.waitFor((f) => f.kind === 'text' && f.type === 'execution_interrupted');
    for (const socket of [a, c]) {
      const kinds = new Set(socket.kinds());
      expect([...kinds].sort()).toEqual(['binary:1', 'execution_interrupted', 'progress', 'progress_state', 'status']);
    }
    expect(sim.stats().executions[id]).toBe(1);
  });

  it('greets a reconnecting client of the running prompt with executing {node} and no prompt_id', async () => {
    const first = await open('re');
    const id = await submit(probe(300), 're');
    await first.waitFor((f) => f.kind === 'text' && f.type === 'progress');
    await first.close();
    const again = await open('re');
    await again.waitFor((f) => f.kind === 'text' && f.type === 'executing');
    expect(again.texts().slice(0, 2)).toEqual([
      { type: 'status', data: { status: { exec_info: { queue_remaining: 1 } }, sid: 're' } },
      { type: 'executing', data: { node: '2' } },
    ]);
    await fetch(`${sim.url}/interrupt`, { method: 'POST', body: JSON.stringify({ prompt_id: id }) });
    await again.waitForEnd(id);
  });

  it('answers feature_flags only when it is the first message', async () => {
    const late = await open('late');
    late.ws.send(JSON.stringify({ type: 'hello', data: {} }));
    late.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    const early = await open('early');
    early.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    await early.waitFor((f) => f.kind === 'text' && f.type === 'feature_flags');
    await new Promise((r) => setTimeout(r, 50));
    expect(late.kinds()).toEqual(['status']);
    expect(early.texts()[1]).toEqual({ type: 'feature_flags', data: { supports_preview_metadata: true, max_upload_size: 104857600 } });
  });

  it('reproduces the duplicate-clientId pitfall: closing the older socket deafens the newer one', async () => {
    const older = await open('dup');
    const newer = await open('dup');
    await older.close();
    await new Promise((r) => setTimeout(r, 30));
    const id = await submit(probe(1), 'dup');
    await expect.poll(async () => Object.keys((await (await fetch(`${sim.url}/history/${id}`)).json()) as object)).toEqual([id]);
    await new Promise((r) => setTimeout(r, 50));
    expect(newer.kinds()).toEqual(['status']);
  });

  it('takeOverClientId: another socket opens with our clientId and closes; ours stays open and hears nothing again', async () => {
    const ours = await open('victim');
    const id1 = await submit(probe(1), 'victim');
    await ours.waitForEnd(id1);
    const heardBefore = ours.frames.length;
    await sim.faults.takeOverClientId('victim');
    expect(ours.ws.readyState).toBe(ours.ws.OPEN);
    const id2 = await submit(probe(1), 'victim');
    await expect.poll(async () => Object.keys((await (await fetch(`${sim.url}/history/${id2}`)).json()) as object)).toEqual([id2]);
    // Not even the broadcast status (transcript 09, after A closes): nothing at all.
    const other = await open('bystander');
    const id3 = await submit(probe(1), 'bystander');
    await other.waitForEnd(id3);
    expect(ours.frames.length).toBe(heardBefore);
    // A new socket with the same clientId is routed again.
    await ours.close();
    const again = await open('victim');
    const id4 = await submit(probe(1), 'victim');
    await again.waitForEnd(id4);
  });
});
