import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseWsMessage } from '../../src/comfy/protocol/parse-ws-message.js';
import { checkedWsData } from '../../src/comfy/protocol/ws-message-checks.js';
import { wsMessageDataSchemas, type KnownWsMessage } from '../../src/comfy/protocol/ws-message-schemas.js';

const transcripts = join(import.meta.dirname, '../fixtures/comfyui-transcripts');
const handChecked = ['status', 'execution_start', 'execution_success', 'execution_cached', 'executing', 'executed', 'progress', 'progress_state'] as const;

/** Every recorded text frame of a type we check by hand. */
function recordedFrames(): Array<{ type: KnownWsMessage['type']; data: unknown }> {
  const frames: Array<{ type: KnownWsMessage['type']; data: unknown }> = [];
  for (const file of readdirSync(transcripts).filter((name) => name.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(transcripts, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as { dir?: string; msg?: { type?: unknown; data?: unknown } };
      const type = entry.msg?.type;
      if (entry.dir === 'ws-in' && typeof type === 'string' && (handChecked as readonly string[]).includes(type)) {
        frames.push({ type: type as KnownWsMessage['type'], data: entry.msg?.data });
      }
    }
  }
  return frames;
}

const odd: unknown[] = [null, 0, 7, 1.5, -1, '', 'x', '12', true, false, [], ['1', 2], [true], {}, { value: 1 }, { a: { value: 1, max: 2, state: 's' } }];

/** The frame's data with one field changed to each odd JSON value, or removed, one level down too. */
function variants(data: unknown): unknown[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return [];
  const out: unknown[] = [];
  const record = data as Record<string, unknown>;
  for (const key of [...Object.keys(record), 'prompt_id', 'node', 'nodes', 'value', 'max', 'timestamp', 'output', 'sid', 'status']) {
    const { [key]: _removed, ...without } = record;
    out.push(without);
    for (const value of odd) out.push({ ...record, [key]: value });
    const inner = record[key];
    if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
      for (const nested of variants(inner)) out.push({ ...record, [key]: nested });
    }
  }
  return out;
}

/** Through JSON, as every frame is: the checks only ever see JSON.parse output. */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('hand checks of the frequent WebSocket frames', () => {
  const frames = recordedFrames();

  it('the transcripts hold frames of every hand-checked type', () => {
    for (const type of handChecked)
      expect(
        frames.some((frame) => frame.type === type),
        type,
      ).toBe(true);
  });

  it('accept every recorded frame zod accepts, with the same data', () => {
    for (const { type, data } of frames) {
      const zod = wsMessageDataSchemas[type].safeParse(asJson(data));
      const hand = checkedWsData(type, asJson(data));
      if (zod.success) expect(hand, `${type} ${JSON.stringify(data)}`).toEqual(zod.data);
      else expect(hand).toBeUndefined();
    }
  });

  it('are never looser than zod: on thousands of altered frames, what a check accepts zod accepts alike', () => {
    // A few distinct frames of each type are enough to reach every field.
    const samples = new Map<string, { type: KnownWsMessage['type']; data: unknown }>();
    for (const frame of frames) {
      const key = `${frame.type}:${Object.keys((frame.data as object) ?? {}).join(',')}`;
      if (!samples.has(key)) samples.set(key, frame);
    }
    let compared = 0;
    let accepted = 0;
    const looser: string[] = [];
    for (const { type, data } of samples.values()) {
      for (const text of new Set([data, ...variants(data)].map((v) => JSON.stringify(v)))) {
        const hand = checkedWsData(type, JSON.parse(text));
        const zod = wsMessageDataSchemas[type].safeParse(JSON.parse(text));
        compared++;
        if (hand === undefined) continue;
        accepted++;
        if (!zod.success || !isDeepStrictEqual(hand, zod.data)) looser.push(`${type} ${text}`);
      }
    }
    expect(looser).toEqual([]);
    expect(compared).toBeGreaterThan(2_000);
    expect(accepted).toBeGreaterThan(500);
  });

  it('a frame a check refuses still gets zod’s verdict and words', () => {
    const message = parseWsMessage(JSON.stringify({ type: 'executing', data: { prompt_id: 'p' } }));
    expect(message).toMatchObject({ type: 'other', messageType: 'executing' });
    expect((message as { problem?: string }).problem).toMatch(/node/);
    expect(parseWsMessage(JSON.stringify({ type: 'execution_cached', data: { prompt_id: 3, nodes: [1, '2'] } }))).toEqual({
      type: 'execution_cached',
      data: { prompt_id: '3', nodes: ['1', '2'] },
    });
  });
});
