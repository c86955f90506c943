import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkedHistory, checkedPromptResponse } from '../../src/comfy/protocol/history-check.js';
import { historyResponseSchema, promptResponseSchema } from '../../src/comfy/protocol/http-schemas.js';

const transcripts = join(import.meta.dirname, '../fixtures/comfyui-transcripts');

/** Every recorded /history answer with a body. */
function recordedHistories(): unknown[] {
  const bodies: unknown[] = [];
  for (const file of readdirSync(transcripts).filter((name) => name.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(transcripts, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as { dir?: string; path?: string; body?: unknown };
      if (entry.dir === 'http-res' && entry.path?.startsWith('/history') && typeof entry.body === 'object' && entry.body !== null) bodies.push(entry.body);
    }
  }
  return bodies;
}

const odd: unknown[] = [null, 0, 3, 1.5, '', 'x', true, [], ['a'], [1], [['m', {}]], [['m']], [[1, {}]], {}, { a: 1 }, { a: null }, { a: [] }];

/** The value with one field (at any depth up to `depth`) changed to each odd JSON value or removed. */
function variants(value: unknown, depth: number): unknown[] {
  if (depth === 0 || typeof value !== 'object' || value === null) return [];
  const out: unknown[] = [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  for (const key of keys) {
    const copy = (): Record<string | number, unknown> => (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
    const removed = copy();
    if (Array.isArray(removed)) removed.length = Number(key);
    else delete removed[key];
    out.push(removed);
    for (const v of odd) out.push(Object.assign(copy(), { [key]: v }));
    for (const nested of variants((value as Record<string | number, unknown>)[key], depth - 1)) out.push(Object.assign(copy(), { [key]: nested }));
  }
  return out;
}

describe('hand check of GET /history answers', () => {
  const bodies = recordedHistories();

  it('accepts every recorded answer zod accepts, with the same data', () => {
    expect(bodies.length).toBeGreaterThan(3);
    for (const body of bodies) {
      const zod = historyResponseSchema.safeParse(body);
      expect(zod.success).toBe(true);
      expect(checkedHistory(structuredClone(body))).toEqual(zod.data);
    }
  });

  it('is never looser than zod: on thousands of altered answers, what it accepts zod accepts alike', () => {
    const looser: string[] = [];
    let compared = 0;
    let accepted = 0;
    for (const body of bodies.slice(0, 3)) {
      // One entry of each answer, altered field by field down to the graph's nodes.
      const [id, entry] = Object.entries(body as object)[0] as [string, unknown];
      for (const text of new Set(variants(entry, 4).map((v) => JSON.stringify({ [id]: v })))) {
        const hand = checkedHistory(JSON.parse(text));
        const zod = historyResponseSchema.safeParse(JSON.parse(text));
        compared++;
        if (hand === undefined) continue;
        accepted++;
        if (!zod.success || !isDeepStrictEqual(hand, zod.data)) looser.push(text.slice(0, 300));
      }
    }
    expect(looser).toEqual([]);
    expect(compared).toBeGreaterThan(2_000);
    expect(accepted).toBeGreaterThan(500);
  });

  it('fills in what zod defaults: outputs, messages, extra data, outputs to execute; ids as strings', () => {
    const answer = { p: { prompt: [1, 7, { '1': {} }, null, null], status: { status_str: 'success', completed: true } } };
    expect(checkedHistory(answer)).toEqual(historyResponseSchema.parse(answer));
    expect(checkedHistory(answer)).toEqual({
      p: { prompt: [1, '7', { '1': {} }, {}, []], outputs: {}, status: { status_str: 'success', completed: true, messages: [] } },
    });
    expect(checkedHistory({})).toEqual({});
  });
});

describe('hand check of the POST /prompt answer', () => {
  it('accepts what promptResponseSchema accepts, with the same data, and nothing it refuses', () => {
    const base = { prompt_id: 'p1', number: 3, node_errors: {} };
    const cases: unknown[] = [base, { ...base, extra: [1] }, null, [], 'x'];
    for (const key of ['prompt_id', 'number', 'node_errors']) {
      const { [key]: _gone, ...without } = base as Record<string, unknown>;
      cases.push(without);
      for (const value of odd) cases.push({ ...base, [key]: value });
    }
    let accepted = 0;
    for (const value of cases) {
      const zod = promptResponseSchema.safeParse(structuredClone(value));
      const hand = checkedPromptResponse(structuredClone(value));
      expect(hand === undefined, JSON.stringify(value)).toBe(!zod.success);
      if (hand !== undefined) {
        accepted++;
        expect(hand).toEqual(zod.data);
      }
    }
    expect(accepted).toBeGreaterThan(8);
  });
});
