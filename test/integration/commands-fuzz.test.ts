/**
 * Fuzz: thousands of malformed requests (bad JSON, wrong types, huge strings, path-like
 * ids, unknown fields, null, arrays, deep nesting, invalid UTF-8) to every endpoint. Each
 * must get a structured INVALID_COMMAND reply, the service must keep answering, and no
 * request may reach the handler — so the database gets no job. Every payload is invalid by
 * construction; the generator is seeded so a failure replays exactly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_NAMES, errorReplySchema, startCommandService, type CommandName, type CommandService } from '../../src/commands/index.js';
import { createJobStore, type DatabaseJobStore } from '../../src/db/index.js';
import { connectNats } from '../../src/events/index.js';
import { FakeJobCommandHandler } from '../support/fake-job-command-handler.js';
import { NatsTestServer } from '../support/nats-server.js';

const PREFIX = 'fuzz.visual';
const PER_ENDPOINT = 360; // × 7 endpoints = 2,520 payloads

/** mulberry32: small, seeded, good enough to pick cases. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A valid command per endpoint: mutations start from here, so they break exactly one thing. */
const valid: Record<CommandName, Record<string, unknown>> = {
  generate: { request_id: 'r1', conversation_id: 'c1', character: 'nova', prompt: 'a cat', seed: 3, priority: 1 },
  regenerate: { job_id: 'job-1', seed: 7, request_id: 'r2' },
  cancel: { job_id: 'job-1' },
  get: { job_id: 'job-1', debug: false },
  list: { conversation_id: 'c1', limit: 10, offset: 0 },
  workflows: {},
  validate: { workflow: 'default' },
};

/** The id-like field of each endpoint, and values it must refuse. */
const idField: Partial<Record<CommandName, string>> = {
  generate: 'conversation_id',
  regenerate: 'job_id',
  cancel: 'job_id',
  get: 'job_id',
  list: 'conversation_id',
  validate: 'workflow',
};
const badIds = [
  '../x',
  '..',
  '../../etc/passwd',
  '/etc/passwd',
  'a/b',
  'a\\b',
  'C:\\x',
  '.hidden',
  'x/../y',
  'a..b',
  '',
  ' ',
  'x y',
  'id\n',
  'ünï',
  '%2e%2e%2f',
  'x'.repeat(129),
  'a;rm -rf /',
  '$(id)',
  '\u0000',
];
const wrongTypes: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, [], [1, 2], {}, { $gt: '' }, ['../x']];

function payloadFor(command: CommandName, r: () => number): Uint8Array | string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const base = structuredClone(valid[command]);
  const keys = Object.keys(base);
  switch (Math.floor(r() * 12)) {
    case 0: // bad JSON
      return pick([
        '',
        '{',
        '}',
        '{"a":',
        'nul',
        'undefined',
        "{'a':1}",
        '{"a":1,}',
        '[1,2',
        '\u0000',
        '{"job_id":"x"} trailing',
        JSON.stringify(base).slice(0, -1),
      ]);
    case 1: // not an object
      return JSON.stringify(pick([null, 0, 42, -3.5, true, 'string', [], [base], ['job_id', 'x']]));
    case 2: // unknown field (strict schemas refuse it, however harmless)
      return JSON.stringify({ ...base, [pick(['extra', '__proto__', 'constructor', 'jobId', 'Job_ID', '$where', ''])]: pick(['x', 1, null, {}]) });
    case 3: // prototype pollution attempt, written literally so JSON.parse sees the key
      return `{"__proto__":{"polluted":true},${JSON.stringify(base).slice(1)}`.replace(',}', '}');
    case 4: // wrong type in a known field
      if (keys.length === 0) return JSON.stringify({ unexpected: pick(wrongTypes) });
      {
        const key = pick(keys);
        return JSON.stringify({ ...base, [key]: pick(wrongTypes.filter((v) => typeof v !== typeof base[key])) });
      }
    case 5: // path-like or malformed id
      if (!idField[command]) return JSON.stringify({ workflow: pick(badIds) });
      return JSON.stringify({ ...base, [idField[command]!]: pick(badIds) });
    case 6: // huge string: over the size limit, or a huge field under it
      return r() < 0.5
        ? JSON.stringify({ ...base, prompt: 'x'.repeat(300 * 1024) })
        : JSON.stringify({ ...base, [idField[command] ?? 'big']: 'y'.repeat(100 * 1024) });
    case 7: {
      // deep nesting, as the whole payload or inside a field
      const depth = 5_000 + Math.floor(r() * 20_000);
      if (r() < 0.5) return '['.repeat(depth) + ']'.repeat(depth);
      return `{"${idField[command] ?? 'nested'}":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    }
    case 8: // invalid UTF-8 bytes
      return new Uint8Array([0x7b, 0x22, 0x6a, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]);
    case 9: // random bytes
      return Uint8Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256)).map((b, i) => (i === 0 ? 0xff : b));
    case 10: // a required field removed, or everything null
      if (command === 'list' || command === 'workflows' || r() < 0.5) return JSON.stringify(Object.fromEntries([...keys, 'x'].map((k) => [k, null])));
      return JSON.stringify(Object.fromEntries(Object.entries(base).filter(([k]) => k !== idField[command])));
    default: // out-of-range numbers and enum values
      return JSON.stringify({
        ...base,
        ...pick<Record<string, unknown>>([
          { limit: 0 },
          { limit: 10_000 },
          { offset: -1 },
          { seed: -1 },
          { priority: 1000 },
          { state: 'exploded' },
          { debug: 'yes' },
          { strict_llm: 1 },
          { parameters: { steps: 0 } },
        ]),
        ...(command === 'workflows' ? { x: 1 } : {}),
      });
  }
}

function toBytes(payload: Uint8Array | string): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}

describe('command fuzz', () => {
  let server: NatsTestServer;
  let dir: string;
  let store: DatabaseJobStore;
  let nc: NatsConnection;
  let client: NatsConnection;
  let handler: FakeJobCommandHandler;
  let service: CommandService;

  beforeAll(async () => {
    server = await NatsTestServer.start({ jetstream: false });
    dir = await mkdtemp(join(tmpdir(), 'chorus-fuzz-'));
    store = await createJobStore(`sqlite:${join(dir, 'jobs.db')}`);
    const cfg = {
      enabled: true,
      servers: [server.url],
      name: 'fuzz',
      subject_prefix: PREFIX,
      stream: { name: 'S', max_age_seconds: 60, max_msgs: 10, duplicate_window_seconds: 60 },
      progress_per_second: 4,
    };
    nc = await connectNats(cfg);
    client = await connectNats({ ...cfg, name: 'fuzz-client' });
    handler = new FakeJobCommandHandler(store);
    service = await startCommandService(nc, handler, { prefix: PREFIX, version: '0.1.0' });
  });
  afterAll(async () => {
    await service?.stop();
    await client?.close();
    await nc?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    await server.cleanup();
  });

  it(`answers ${PER_ENDPOINT * COMMAND_NAMES.length} malformed requests with structured errors and creates no job`, async () => {
    const r = rng(20261125);
    const cases = COMMAND_NAMES.flatMap((command) => Array.from({ length: PER_ENDPOINT }, () => ({ command, payload: toBytes(payloadFor(command, r)) })));
    const failures: string[] = [];
    const codes = new Map<string, number>();
    for (let i = 0; i < cases.length; i += 40) {
      await Promise.all(
        cases.slice(i, i + 40).map(async ({ command, payload }) => {
          const msg = await client.request(`${PREFIX}.cmd.${command}`, payload, { timeout: 10_000 });
          const text = new TextDecoder().decode(msg.data);
          const parsed = errorReplySchema.safeParse(JSON.parse(text));
          if (!parsed.success || parsed.data.error.code !== 'INVALID_COMMAND') {
            failures.push(`${command} ${new TextDecoder().decode(payload).slice(0, 120)} → ${text.slice(0, 200)}`);
            return;
          }
          expect(text).not.toMatch(/\n\s+at /); // never a stack trace
          expect(text.length).toBeLessThan(16_000); // details are capped, even for huge input
          codes.set(command, (codes.get(command) ?? 0) + 1);
        }),
      );
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(failures).toHaveLength(0);
    expect([...codes.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2_000);
    expect(handler.calls).toEqual([]);
    expect(await store.countJobs()).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Still up and still correct.
    const ok = await client.request(`${PREFIX}.cmd.workflows`, new TextEncoder().encode('{}'), { timeout: 5_000 });
    expect(ok.json()).toMatchObject({ ok: true });
    const pings = [];
    for await (const p of await client.services.client().ping('chorus-visual')) pings.push(p);
    expect(pings).toHaveLength(1);
  });
});
