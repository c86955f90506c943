import { describe, expect, it } from 'vitest';
import {
  generateCommandSchema,
  handleCommand,
  listCommandSchema,
  MAX_COMMAND_BYTES,
  parseCommandPayload,
  replyError,
  replyOk,
  type JobCommandHandler,
} from '../../src/commands/index.js';
import { ChorusError } from '../../src/errors/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function catchError(fn: () => unknown): ChorusError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ChorusError) return error;
    throw error;
  }
  throw new Error('expected a ChorusError');
}

describe('reply envelope', () => {
  it('wraps data and errors', () => {
    expect(replyOk({ job: { id: 'x' }, ok: false })).toEqual({ job: { id: 'x' }, ok: true });
    const reply = replyError(new ChorusError('JOB_NOT_FOUND', 'no job x', { details: { job_id: 'x' } }));
    expect(reply).toMatchObject({ ok: false, error: { code: 'JOB_NOT_FOUND', message: 'no job x', details: { job_id: 'x' }, recoverable: false } });
    expect(reply.error.suggestion).toMatch(/job id/);
  });
});

describe('parseCommandPayload', () => {
  const cases: Array<[string, string | Uint8Array, RegExp]> = [
    ['empty', '', /empty/],
    ['not JSON', '{"a":', /not valid UTF-8 JSON/],
    ['null', 'null', /got null/],
    ['array', '[1,2]', /got array/],
    ['number', '42', /got number/],
    ['too big', `{"prompt":"${'x'.repeat(MAX_COMMAND_BYTES)}"}`, /more than/],
  ];
  for (const [name, payload, message] of cases) {
    it(`refuses ${name} with INVALID_COMMAND`, () => {
      const error = catchError(() => parseCommandPayload(generateCommandSchema, typeof payload === 'string' ? bytes(payload) : payload, 'generate'));
      expect(error.code).toBe('INVALID_COMMAND');
      expect(error.message).toMatch(message);
      expect(Array.isArray(error.details)).toBe(true);
    });
  }

  it('refuses a request that is not UTF-8 with details.reason not_utf8, as the HTTP door does', () => {
    const error = catchError(() => parseCommandPayload(generateCommandSchema, new Uint8Array([0x7b, 0xff, 0x7d]), 'generate'));
    expect(error.code).toBe('INVALID_COMMAND');
    expect(error.message).toBe('generate: request is not valid UTF-8');
    expect(error.details).toEqual({ reason: 'not_utf8' });
    expect(error.suggestion).toMatch(/UTF-8/);
  });

  it('reports zod issues as paths and messages', () => {
    const error = catchError(() => parseCommandPayload(generateCommandSchema, bytes('{"conversation_id":"../x","seed":"1","extra":1}'), 'generate'));
    const details = error.details as Array<{ path: string; message: string }>;
    expect(details.map((d) => d.path)).toEqual(expect.arrayContaining(['conversation_id', 'seed', '(root)']));
    expect(JSON.stringify(details)).toMatch(/extra/);
  });

  it('refuses a prompt or request of only spaces, which would reach ComfyUI as an empty prompt', () => {
    for (const field of ['prompt', 'user_request']) {
      const error = catchError(() =>
        parseCommandPayload(generateCommandSchema, bytes(`{"conversation_id":"c1","workflow":"w","${field}":" \\n\\t "}`), 'generate'),
      );
      expect(error.details).toEqual([{ path: field, message: 'must not be blank' }]);
    }
    expect(parseCommandPayload(generateCommandSchema, bytes('{"conversation_id":"c1","workflow":"w","prompt":" a cat "}'), 'generate').prompt).toBe(' a cat ');
  });

  it('refuses an empty list of states and names the states for a wrong one', () => {
    const empty = catchError(() => parseCommandPayload(listCommandSchema, bytes('{"state":[]}'), 'list'));
    expect(empty.details).toEqual([{ path: 'state', message: expect.stringMatching(/>=1 items/) }]);
    for (const state of ['"bogus"', '["queued","bogus"]']) {
      const wrong = catchError(() => parseCommandPayload(listCommandSchema, bytes(`{"state":${state}}`), 'list'));
      expect(wrong.details).toEqual([
        { path: 'state', message: expect.stringContaining('queued, submitted, processing, moving, completed, failed, cancelled') },
      ]);
    }
  });

  it('returns the parsed command with defaults', () => {
    const cmd = parseCommandPayload(generateCommandSchema, bytes('{"conversation_id":"c1","character":"nova","prompt":"a cat"}'), 'generate');
    expect(cmd).toMatchObject({ conversation_id: 'c1', priority: 0, strict_llm: false, parameters: {} });
  });
});

describe('handleCommand', () => {
  const failing = {
    get: async () => {
      throw new Error('SQLITE_BUSY at /secret/path.db');
    },
    cancel: async () => {
      throw new ChorusError('JOB_NOT_FOUND', 'no job j1');
    },
  } as unknown as JobCommandHandler;

  it('turns a foreign error into INTERNAL without leaking it', async () => {
    const reply = await handleCommand('get', bytes('{"job_id":"j1"}'), failing);
    expect(reply).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(JSON.stringify(reply)).not.toMatch(/SQLITE|secret|at /);
  });

  it('passes ChorusErrors through', async () => {
    expect(await handleCommand('cancel', bytes('{"job_id":"j1"}'), failing)).toMatchObject({
      ok: false,
      error: { code: 'JOB_NOT_FOUND', message: 'no job j1' },
    });
  });
});
