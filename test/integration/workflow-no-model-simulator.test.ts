/**
 * The shipped no-model workflows, injected, really run on the simulator (which speaks the
 * recorded 0.3.64 protocol) and produce a file of their type, twice in a row: the seed in
 * the file name keeps ComfyUI's cache from replaying the first run's file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { injectWorkflow, WorkflowLibrary } from '../../src/workflows/index.js';

let simulator: SimulatorHandle;
let library: WorkflowLibrary;

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
  library = await WorkflowLibrary.load(new URL('../../workflows', import.meta.url).pathname);
});
afterAll(async () => {
  await simulator.close();
});

async function runToHistory(prompt: unknown): Promise<Record<string, any>> {
  const posted = await request(`${simulator.url}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
  const reply = (await posted.body.json()) as { prompt_id?: string };
  expect(posted.statusCode, JSON.stringify(reply)).toBe(200);
  // /history is the simplest completion signal without a socket; the simulator finishes in milliseconds.
  for (let i = 0; i < 200; i++) {
    const res = await request(`${simulator.url}/history/${reply.prompt_id}`);
    const history = (await res.body.json()) as Record<string, any>;
    const entry = history[reply.prompt_id!];
    if (entry?.status?.completed !== undefined && entry.status.status_str !== undefined) return entry;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('prompt did not finish');
}

function files(entry: Record<string, any>): string[] {
  return Object.values(entry.outputs as Record<string, Record<string, unknown>>).flatMap((out) =>
    Object.values(out).flatMap((list) =>
      Array.isArray(list) ? list.filter((f) => f && typeof f === 'object' && 'filename' in f).map((f) => f.filename as string) : [],
    ),
  );
}

describe('shipped no-model workflows on the simulator', () => {
  it.each([
    ['no_model_test', /\.png$/],
    ['no_model_video_test', /\.webm$/],
    ['no_model_tts_test', /\.flac$/],
  ])('%s runs and saves a new file on each run', async (name, extension) => {
    const def = library.get(name);
    const first = injectWorkflow(def, { prompt: 'a "quoted" prompt ✨', text: 'Hello there.' });
    const second = injectWorkflow(def, { prompt: 'a "quoted" prompt ✨', text: 'Hello there.' });
    const a = await runToHistory(first.prompt);
    const b = await runToHistory(second.prompt);
    expect(a.status.status_str).toBe('success');
    expect(b.status.status_str).toBe('success');
    const saved = [...files(a), ...files(b)].filter((f) => extension.test(f));
    expect(saved).toHaveLength(2);
    expect(new Set(saved).size).toBe(2);
  });
});
