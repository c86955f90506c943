import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyResponseSchema, outcomeFromHistory, outputFilesOf, type HistoryEntry } from '../../src/comfy/index.js';

const transcriptDir = join(import.meta.dirname, '../fixtures/comfyui-transcripts');

/** Every non-empty /history/{id} answer recorded in one scenario, by prompt id. */
function recordedHistory(scenarioPrefix: string): Map<string, HistoryEntry> {
  const name = readdirSync(transcriptDir).find((file) => file.startsWith(scenarioPrefix));
  if (!name) throw new Error(`no transcript ${scenarioPrefix}`);
  const entries = new Map<string, HistoryEntry>();
  for (const line of readFileSync(join(transcriptDir, name), 'utf8').split('\n').filter(Boolean)) {
    const event = JSON.parse(line) as { dir: string; method?: string; path?: string; body?: unknown };
    if (event.dir !== 'http-res' || event.method !== 'GET' || !/^\/(api\/)?history\/./.test(event.path ?? '')) continue;
    for (const [id, entry] of Object.entries(historyResponseSchema.parse(event.body))) entries.set(id, entry);
  }
  return entries;
}

describe('outcomeFromHistory', () => {
  it('reads a success with its files and the server timestamp (T01)', () => {
    const [[id, entry]] = [...recordedHistory('01-')] as [[string, HistoryEntry]];
    const outcome = outcomeFromHistory(id, entry);
    expect(outcome).toMatchObject({ type: 'succeeded', promptId: id, at: 1795618955768 });
    // execution_start 1795618955743 → execution_success 1795618955768, both on the server's clock.
    expect(outcome).toMatchObject({ ranMs: 25 });
    expect(outcome.type === 'succeeded' && outcome.files).toEqual([
      { nodeId: '2', key: 'images', filename: 'proto_s01_00001_.png', subfolder: '', type: 'output' },
    ]);
  });

  it('reads an execution error with exception details and the outputs finished before it (T06)', () => {
    const failed = [...recordedHistory('06-')].map(([id, entry]) => outcomeFromHistory(id, entry)).find((o) => o.type === 'failed');
    expect(failed).toMatchObject({
      type: 'failed',
      failure: { nodeId: '3', nodeType: 'LoadImage', exceptionType: 'PIL.UnidentifiedImageError' },
      outputs: { '2': { images: [{ type: 'temp' }] } },
    });
    expect(failed?.type === 'failed' && failed.failure.exceptionMessage).toMatch(/^cannot identify image file/);
    expect(failed?.type === 'failed' && failed.failure.traceback?.length).toBeGreaterThan(0);
  });

  it('tells an interrupt from an error although both say status_str "error" (T04)', () => {
    const outcomes = [...recordedHistory('04-')].map(([id, entry]) => outcomeFromHistory(id, entry));
    expect(outcomes.find((o) => o.type === 'interrupted')).toMatchObject({ nodeId: '3', at: 1795618982066 });
  });

  it('treats an entry without status (servers before 2024) as a success', () => {
    const entry = historyResponseSchema.parse({ p: { outputs: { '9': { images: [{ filename: 'x.png', subfolder: 's', type: 'output' }] } } } })['p']!;
    const outcome = outcomeFromHistory('p', entry, 42);
    expect(outcome).toMatchObject({ type: 'succeeded', at: 42, files: [{ nodeId: '9', filename: 'x.png', subfolder: 's' }] });
    expect(outcome).not.toHaveProperty('ranMs'); // no stamps: ComfyUI did not say how long it ran
  });
});

describe('outputFilesOf', () => {
  it('takes every file under every key, flags animated video and keeps audio (T18)', () => {
    const files = [...recordedHistory('18-')].flatMap(([id, entry]) => {
      const outcome = outcomeFromHistory(id, entry);
      return outcome.type === 'succeeded' ? outcome.files : [];
    });
    expect(files.some((file) => file.key === 'images' && file.animated === true && /\.(mp4|webm|webp)$/.test(file.filename))).toBe(true);
    expect(files.some((file) => file.key === 'audio' && /\.(flac|mp3)$/.test(file.filename) && !file.animated)).toBe(true);
  });

  it('ignores text outputs and entries without a filename, includes custom keys', () => {
    const files = outputFilesOf({
      '3': { text: ['40'] },
      '5': { gifs: [{ filename: 'a.gif', subfolder: 'vhs', type: 'output', format: 'image/gif' }], animated: [true] },
      '6': { images: [{ subfolder: '' }, { filename: 'b.png', subfolder: '', type: 'temp' }] },
    });
    expect(files).toEqual([
      { nodeId: '5', key: 'gifs', filename: 'a.gif', subfolder: 'vhs', type: 'output', animated: true },
      { nodeId: '6', key: 'images', filename: 'b.png', subfolder: '', type: 'temp' },
    ]);
  });
});
