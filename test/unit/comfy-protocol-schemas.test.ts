import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  historyResponseSchema,
  parseWsMessage,
  promptIdOf,
  promptRejectionSchema,
  promptResponseSchema,
  queueResponseSchema,
  systemStatsSchema,
  uploadResponseSchema,
} from '../../src/comfy/index.js';

const transcriptDir = join(import.meta.dirname, '../fixtures/comfyui-transcripts');

interface TranscriptLine {
  dir: string;
  method?: string;
  path?: string;
  status?: number;
  body?: unknown;
  msg?: unknown;
}

function transcriptLines(): TranscriptLine[] {
  return readdirSync(transcriptDir)
    .filter((name) => name.endsWith('.jsonl'))
    .flatMap((name) => readFileSync(join(transcriptDir, name), 'utf8').split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as TranscriptLine);
}

const lines = transcriptLines();
const responses = (method: string, pathPattern: RegExp, status = 200) =>
  lines.filter((line) => line.dir === 'http-res' && line.method === method && pathPattern.test(line.path ?? '') && line.status === status);

describe('WebSocket message schemas against the recordings', () => {
  const messages = lines.filter((line) => line.dir === 'ws-in').map((line) => line.msg);

  it('parses every recorded text frame into a known type, with no schema problems', () => {
    expect(messages.length).toBeGreaterThan(500);
    const problems = messages.map((msg) => parseWsMessage(JSON.stringify(msg))).filter((parsed) => parsed.type === 'other');
    expect(problems).toEqual([]);
  });

  it('finds the prompt id of per-prompt messages and none on status', () => {
    const parsed = parseWsMessage(JSON.stringify({ type: 'execution_start', data: { prompt_id: 'p1', timestamp: 5 } }));
    expect(promptIdOf(parsed)).toBe('p1');
    expect(promptIdOf(parseWsMessage('{"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}},"sid":"x"}}'))).toBeUndefined();
  });

  it('accepts older servers: no timestamp, no display_node, executing without prompt_id', () => {
    const start = parseWsMessage('{"type":"execution_start","data":{"prompt_id":"p"}}');
    expect(start).toEqual({ type: 'execution_start', data: { prompt_id: 'p' } });
    const executing = parseWsMessage('{"type":"executing","data":{"node":"2"}}');
    expect(executing.type).toBe('executing');
    expect(promptIdOf(executing)).toBeUndefined();
    const executed = parseWsMessage('{"type":"executed","data":{"node":"2","output":null,"prompt_id":"p"}}');
    expect(executed).toMatchObject({ type: 'executed', data: { node: '2', output: null } });
  });

  it('keeps unknown types and malformed frames as "other" instead of throwing', () => {
    expect(parseWsMessage('{"type":"display_component","data":{"x":1}}')).toMatchObject({ type: 'other', messageType: 'display_component' });
    expect(parseWsMessage('not json')).toMatchObject({ type: 'other', problem: 'not JSON' });
    expect(parseWsMessage('{"type":"progress","data":{"value":"a"}}')).toMatchObject({ type: 'other', messageType: 'progress' });
  });
});

describe('HTTP response schemas against the recordings', () => {
  it('parses every POST /prompt 200, including string-ified and float numbers', () => {
    const bodies = responses('POST', /^\/(api\/)?prompt$/).map((line) => line.body);
    expect(bodies.length).toBeGreaterThan(30);
    for (const body of bodies) expect(promptResponseSchema.safeParse(body).success).toBe(true);
    expect(promptResponseSchema.parse({ prompt_id: 12345, number: 3.0, node_errors: {} }).prompt_id).toBe('12345');
  });

  it('parses every POST /prompt 400 rejection', () => {
    const bodies = responses('POST', /^\/(api\/)?prompt$/, 400).map((line) => line.body);
    expect(bodies.length).toBeGreaterThan(10);
    for (const body of bodies) expect(promptRejectionSchema.safeParse(body).success).toBe(true);
  });

  it('parses every history answer (one, all, empty) and queue answer', () => {
    const histories = responses('GET', /^\/(api\/)?history/)
      .map((line) => line.body)
      .filter((body) => !isTruncated(body));
    expect(histories.length).toBeGreaterThan(20);
    for (const body of histories) expect(historyResponseSchema.safeParse(body).success, JSON.stringify(body).slice(0, 200)).toBe(true);
    const queues = responses('GET', /^\/(api\/)?queue$/).map((line) => line.body);
    expect(queues.length).toBeGreaterThan(3);
    for (const body of queues) expect(queueResponseSchema.safeParse(body).success).toBe(true);
  });

  it('accepts a history entry from a server before 2024 (no status, no meta)', () => {
    const entry = { p: { prompt: [1, 'p', {}, {}, ['2']], outputs: { 2: { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] } } } };
    const parsed = historyResponseSchema.parse(entry);
    expect(parsed['p']?.status).toBeUndefined();
  });

  it('parses /system_stats and /upload/image answers', () => {
    const stats = responses('GET', /^\/(api\/)?system_stats$/).map((line) => line.body);
    expect(stats.length).toBeGreaterThan(0);
    for (const body of stats) expect(systemStatsSchema.parse(body).system.comfyui_version).toBe('0.3.64');
    expect(systemStatsSchema.parse({ system: {}, devices: [] }).system.comfyui_version).toBeUndefined();
    const uploads = responses('POST', /^\/(api\/)?upload\/image$/).map((line) => line.body);
    expect(uploads.length).toBeGreaterThan(0);
    for (const body of uploads) expect(uploadResponseSchema.safeParse(body).success).toBe(true);
  });
});

function isTruncated(body: unknown): boolean {
  return body === '<omitted>' || (typeof body === 'object' && body !== null && '_truncated' in body);
}
