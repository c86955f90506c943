/**
 * `chorus-visual serve`'s log lines are for machines: each one a JSON object that names
 * each key once. pino writes a child's bindings and a call's fields side by side without
 * merging them, so `name` or `instance_id` given twice came out twice, and log parsers
 * disagree on which one counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.js';
import { duplicateJsonKeys } from '../support/json-duplicate-keys.js';
import { NatsTestServer } from '../support/nats-server.js';
import { startServiceProcess } from '../support/service-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('duplicateJsonKeys', () => {
  it('finds a key repeated at the top level or inside a nested object, and nothing in clean JSON', () => {
    expect(duplicateJsonKeys('{"name":"a","x":{"k":1,"k":[{"k":2}]},"name":"b"}')).toEqual(['$.x.k', '$.name']);
    expect(duplicateJsonKeys('{"a":"\\"a\\":","b":[1,{"a":2}],"c":{"a":-1.5e3,"b":null}}')).toEqual([]);
    expect(() => duplicateJsonKeys('{"a":1')).toThrow(SyntaxError);
  });
});

it('serve with NATS and an --instance-id logs no line with a key twice', { timeout: 90_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-loglines-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const sim = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 2 });
  cleanups.push(() => sim.close());
  const nats = await NatsTestServer.start();
  cleanups.push(() => nats.cleanup());
  const proc = startServiceProcess(['serve', '--instance-id', 'log-lines-1'], {
    CHORUS_VISUAL_COMFYUI_URL: sim.url,
    CHORUS_VISUAL_COMFYUI_FILE_MANAGEMENT_OUTPUT_DIRECTORY: sim.outputDir,
    CHORUS_VISUAL_DATA_DIR: join(root, 'data'),
    CHORUS_VISUAL_DATABASE_URL: `sqlite:${join(root, 'data', 'jobs.db')}`,
    CHORUS_VISUAL_NATS_SERVERS: JSON.stringify([nats.url]),
    CHORUS_VISUAL_HTTP_PORT: '0',
    CHORUS_VISUAL_LOG_LEVEL: 'debug',
  });
  cleanups.push(() => proc.kill('SIGKILL'));
  const url = (JSON.parse(await proc.waitForLine(/"msg":"chorus-visual listening"/, 60_000)) as { http: string }).http;
  await proc.waitForLine(/"msg":"NATS commands and events ready"/);

  // A job through HTTP to its end, a refused request, a NATS command: the lines a run writes.
  const created = (await (
    await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: 'c-log', workflow: 'no_model_test', prompt: 'log lines' }),
    })
  ).json()) as { job: { id: string } };
  await expect
    .poll(async () => ((await (await fetch(`${url}/api/jobs/${created.job.id}`)).json()) as { job: { state: string } }).job.state, {
      timeout: 20_000,
      interval: 50,
    })
    .toBe('completed');
  expect((await fetch(`${url}/api/jobs/nope`)).status).toBe(404);
  const nc = await connect({ servers: nats.url });
  cleanups.push(() => nc.close());
  await nc.request('chorus.visual.cmd.list', new TextEncoder().encode('{}'), { timeout: 5_000 });
  expect(await proc.kill('SIGTERM')).toBe(0);

  const lines = proc.lines.filter((line) => line.startsWith('{'));
  expect(lines.some((line) => line.includes('"msg":"connected to NATS"'))).toBe(true);
  expect(lines.length).toBeGreaterThan(5);
  const repeats = lines.map((line) => ({ line, keys: duplicateJsonKeys(line) })).filter((r) => r.keys.length > 0);
  expect(repeats).toEqual([]);
  // Every line says which instance wrote it, once.
  for (const line of lines) expect((JSON.parse(line) as { instance_id?: string }).instance_id, line).toBe('log-lines-1');
});
