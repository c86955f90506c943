import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { historyResponseSchema, parseWsMessage, PromptWatcher, type HistoryEntry, type PromptEvent, type QueueSnapshot } from '../../src/comfy/index.js';
import { silentLogger } from '../../src/contracts/index.js';

const id = 'p-1';
const msg = (type: string, data: object = {}) => parseWsMessage(JSON.stringify({ type, data: { prompt_id: id, ...data } }));
const successEntry = historyResponseSchema.parse({
  [id]: {
    outputs: { '2': { images: [{ filename: 'out_00001_.png', subfolder: '', type: 'output' }] } },
    status: { status_str: 'success', completed: true, messages: [['execution_success', { prompt_id: id, timestamp: 777 }]] },
  },
})[id]!;
const queueEntry = (number: number, promptId: string) => [number, promptId, {}, {}, []] as QueueSnapshot['running'][number];

interface Harness {
  watcher: PromptWatcher;
  events: PromptEvent[];
  history: { entry: HistoryEntry | undefined; calls: number };
  queue: { value: QueueSnapshot; calls: number };
  socket: { open: boolean };
  ended: () => number;
}

function harness(options: { socketOpen?: boolean; pollInitialMs?: number; pollMaxMs?: number; unannounced?: string[] } = {}): Harness {
  const events: PromptEvent[] = [];
  const history = { entry: undefined as HistoryEntry | undefined, calls: 0 };
  const queue = { value: { running: [], pending: [] } as QueueSnapshot, calls: 0 };
  const socket = { open: options.socketOpen ?? true };
  let endCount = 0;
  const watcher = new PromptWatcher(id, (event) => events.push(event), {
    fetchHistory: async () => {
      history.calls += 1;
      return history.entry;
    },
    fetchQueue: async () => {
      queue.calls += 1;
      return queue.value;
    },
    socketOpen: () => socket.open,
    pollInitialMs: options.pollInitialMs ?? 100,
    pollMaxMs: options.pollMaxMs ?? 400,
    logger: silentLogger,
    onEnd: () => (endCount += 1),
    onUnannounced: (seen) => options.unannounced?.push(seen),
  });
  return { watcher, events, history, queue, socket, ended: () => endCount };
}

const types = (events: PromptEvent[]) => events.map((event) => event.type);

describe('PromptWatcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('follows the socket to success and reads every output from history after executing {node:null}', async () => {
    const h = harness();
    h.watcher.begin([]);
    h.history.entry = successEntry;
    for (const m of [
      msg('execution_start', { timestamp: 111 }),
      msg('execution_cached', { nodes: [] }),
      msg('executing', { node: '1' }),
      msg('progress', { value: 1, max: 2, node: '1' }),
      msg('executed', { node: '2', output: { images: [{ filename: 'out_00001_.png', subfolder: '', type: 'output' }] } }),
      msg('execution_success', { timestamp: 777 }),
      msg('executing', { node: null }),
    ])
      h.watcher.handleMessage(m);
    await vi.advanceTimersByTimeAsync(1);
    expect(types(h.events)).toEqual(['started', 'cached', 'executing', 'progress', 'executed', 'succeeded']);
    expect(h.events[0]).toMatchObject({ at: 111 });
    expect(h.events.at(-1)).toMatchObject({ type: 'succeeded', at: 777, files: [{ nodeId: '2', filename: 'out_00001_.png' }] });
    // Late duplicates change nothing: exactly one terminal event, one end.
    h.watcher.handleMessage(msg('execution_success'));
    h.watcher.handleMessage(msg('executing', { node: null }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(types(h.events).filter((t) => t === 'succeeded')).toHaveLength(1);
    expect(h.ended()).toBe(1);
  });

  it('retries an empty history right after execution_success, then succeeds', async () => {
    const h = harness({ pollInitialMs: 1_000, pollMaxMs: 1_000 });
    h.watcher.begin([msg('execution_start')]);
    h.watcher.handleMessage(msg('execution_success'));
    await vi.advanceTimersByTimeAsync(101); // settle time without executing {node:null}
    expect(h.history.calls).toBe(1);
    h.history.entry = successEntry;
    await vi.advanceTimersByTimeAsync(10);
    expect(h.events.at(-1)).toMatchObject({ type: 'succeeded', files: [{ filename: 'out_00001_.png' }] });
  });

  it('falls back to the executed outputs seen on the socket when history stays empty', async () => {
    const h = harness();
    h.watcher.begin([]);
    h.watcher.handleMessage(msg('executed', { node: '7', output: { audio: [{ filename: 'a.flac', subfolder: 'audio', type: 'output' }] } }));
    h.watcher.handleMessage(msg('execution_success'));
    h.watcher.handleMessage(msg('executing', { node: null }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.events.at(-1)).toMatchObject({ type: 'succeeded', files: [{ nodeId: '7', key: 'audio', filename: 'a.flac' }] });
  });

  it('reports an execution error with the exception details', async () => {
    const h = harness();
    h.watcher.begin([]);
    h.watcher.handleMessage(
      msg('execution_error', { node_id: '3', node_type: 'LoadImage', exception_type: 'OSError', exception_message: 'bad file\n', traceback: ['x'] }),
    );
    h.watcher.handleMessage(msg('executing', { node: null }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.events.at(-1)).toMatchObject({
      type: 'failed',
      failure: { nodeId: '3', nodeType: 'LoadImage', exceptionType: 'OSError', exceptionMessage: 'bad file', traceback: ['x'] },
    });
  });

  it('replays buffered messages given to begin (the socket beat the HTTP answer)', async () => {
    const h = harness();
    h.history.entry = successEntry;
    h.watcher.begin([msg('execution_start'), msg('execution_success'), msg('executing', { node: null })]);
    await vi.advanceTimersByTimeAsync(1);
    expect(types(h.events)).toEqual(['started', 'succeeded']);
  });

  it('ends on execution_interrupted at once', () => {
    const h = harness();
    h.watcher.begin([msg('execution_start')]);
    h.watcher.handleMessage(msg('execution_interrupted', { node_id: '3', timestamp: 9 }));
    expect(h.events.at(-1)).toEqual({ type: 'interrupted', promptId: id, nodeId: '3', at: 9, via: 'socket' });
    expect(h.ended()).toBe(1);
  });

  it('polls while the socket is closed: queued position, started, then success from history', async () => {
    const h = harness({ socketOpen: false });
    h.queue.value = { running: [queueEntry(1, 'other')], pending: [queueEntry(2, 'x'), queueEntry(3, id)] };
    h.watcher.begin([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.events).toEqual([{ type: 'queued', promptId: id, position: 1 }]);
    h.queue.value = { running: [queueEntry(3, id)], pending: [] };
    await vi.advanceTimersByTimeAsync(100);
    expect(types(h.events)).toEqual(['queued', 'started']);
    h.queue.value = { running: [], pending: [] };
    h.history.entry = successEntry;
    await vi.advanceTimersByTimeAsync(100);
    expect(types(h.events)).toEqual(['queued', 'started', 'succeeded']);
  });

  it('backs off while nothing changes, up to pollMaxMs', async () => {
    const h = harness({ socketOpen: false, pollInitialMs: 100, pollMaxMs: 400 });
    h.queue.value = { running: [queueEntry(1, id)], pending: [] };
    h.watcher.begin([]);
    await vi.advanceTimersByTimeAsync(1);
    const callsAt = (ms: number) => vi.advanceTimersByTimeAsync(ms).then(() => h.queue.calls);
    expect(h.queue.calls).toBe(1);
    expect(await callsAt(100)).toBe(2); // the first look found it running (a change): stay fast
    expect(await callsAt(200)).toBe(3); // no change: 200
    expect(await callsAt(400)).toBe(4); // 400 = max
    expect(await callsAt(400)).toBe(5);
    h.watcher.recheckSoon(); // a reconnect: look now and be fast again
    await vi.advanceTimersByTimeAsync(1);
    expect(h.queue.calls).toBe(6);
    h.watcher.stop();
  });

  it('declares the prompt lost after two looks finding it nowhere', async () => {
    const h = harness({ socketOpen: false });
    h.watcher.begin([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.events).toEqual([]); // the first look at start does not count: it may not be queued yet
    await vi.advanceTimersByTimeAsync(200);
    expect(h.events).toEqual([]);
    await vi.advanceTimersByTimeAsync(400);
    expect(h.events).toEqual([{ type: 'lost', promptId: id }]);
    expect(h.ended()).toBe(1);
  });

  it('does not poll while the socket is open and the prompt is active; polls once it goes quiet', async () => {
    const h = harness({ socketOpen: true, pollInitialMs: 100 });
    h.watcher.begin([msg('execution_start')]);
    for (let i = 0; i < 5; i += 1) {
      await vi.advanceTimersByTimeAsync(60);
      h.watcher.handleMessage(msg('progress', { value: i, max: 5, node: '2' }));
    }
    expect(h.queue.calls).toBe(0);
    h.history.entry = successEntry;
    await vi.advanceTimersByTimeAsync(150); // the socket went silent (dropped without FIN)
    expect(h.events.at(-1)).toMatchObject({ type: 'succeeded' });
  });

  it('emits nothing after stop()', async () => {
    const h = harness({ socketOpen: false });
    h.watcher.begin([]);
    h.watcher.stop();
    h.history.entry = successEntry;
    h.watcher.handleMessage(msg('execution_start'));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.events).toEqual([]);
    expect(h.ended()).toBe(1);
  });

  describe('deaf-socket evidence (onUnannounced)', () => {
    it('reports "finished" when polling finds it in history and the open socket never said a word', async () => {
      const unannounced: string[] = [];
      const h = harness({ unannounced });
      h.watcher.begin([]);
      await vi.advanceTimersByTimeAsync(1); // the look at start never counts: messages may be in flight
      expect(unannounced).toEqual([]);
      h.history.entry = successEntry;
      await vi.advanceTimersByTimeAsync(400);
      expect(unannounced).toEqual(['finished']);
      expect(h.events.at(-1)).toMatchObject({ type: 'succeeded', via: 'poll' });
    });

    it('reports "running" only on the second poll in a row that finds it running unannounced', async () => {
      const unannounced: string[] = [];
      const h = harness({ unannounced, pollInitialMs: 100 });
      h.watcher.begin([]);
      await vi.advanceTimersByTimeAsync(1);
      h.queue.value = { running: [queueEntry(1, id)], pending: [] };
      const untilLook = async (n: number) => {
        while (h.queue.calls < n) await vi.advanceTimersByTimeAsync(10);
      };
      await untilLook(2);
      expect(unannounced).toEqual([]);
      await untilLook(3);
      expect(unannounced).toEqual(['running']);
      h.watcher.stop();
    });

    it('says nothing when the socket spoke about the prompt, or is closed', async () => {
      const heard: string[] = [];
      const a = harness({ unannounced: heard });
      a.watcher.begin([msg('execution_start')]);
      a.queue.value = { running: [queueEntry(1, id)], pending: [] };
      await vi.advanceTimersByTimeAsync(1_000);
      a.history.entry = successEntry;
      a.queue.value = { running: [], pending: [] };
      await vi.advanceTimersByTimeAsync(1_000);
      expect(a.events.at(-1)).toMatchObject({ type: 'succeeded', via: 'poll' });
      const closed: string[] = [];
      const b = harness({ socketOpen: false, unannounced: closed });
      b.watcher.begin([]);
      b.queue.value = { running: [queueEntry(1, id)], pending: [] };
      await vi.advanceTimersByTimeAsync(1_000);
      b.history.entry = successEntry;
      b.queue.value = { running: [], pending: [] };
      await vi.advanceTimersByTimeAsync(1_000);
      expect(b.events.at(-1)).toMatchObject({ type: 'succeeded' });
      expect([...heard, ...closed]).toEqual([]);
    });
  });
});
