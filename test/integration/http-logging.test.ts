import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogLevel } from '../../src/logging/logger.js';
import { rawRequest, startHttpHarness } from '../support/http-test-harness.js';

function captured() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe('structured logs', () => {
  it('writes JSON lines with ISO time, child ids and redacted secrets', () => {
    const { lines, destination } = captured();
    const logger = createLogger({ level: 'debug', base: { instance_id: 'i1' }, destination });
    logger.child({ job_id: 'job-1' }).info({ token: 'abc', nats: { pass: 'pw' } }, 'job submitted');
    logger.info(
      { config: { http: { token: 't2' }, llm: { api_key: 'k2' } }, req: { headers: { authorization: 'Bearer t3', cookie: 'c' } }, password: 'p' },
      'nested',
    );
    logger.debug('detail');
    logger.trace('hidden');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatchObject({
      config: { http: { token: '[redacted]' }, llm: { api_key: '[redacted]' } },
      req: { headers: { authorization: '[redacted]', cookie: '[redacted]' } },
      password: '[redacted]',
    });
    expect(lines[0]).toMatchObject({ msg: 'job submitted', job_id: 'job-1', instance_id: 'i1', token: '[redacted]', nats: { pass: '[redacted]' }, level: 30 });
    expect(String(lines[0]!['time'])).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('takes the level from the option, else LOG_LEVEL, else info; nonsense falls back to info', () => {
    expect(resolveLogLevel('warn', { LOG_LEVEL: 'debug' })).toBe('warn');
    expect(resolveLogLevel(undefined, { LOG_LEVEL: 'DEBUG' })).toBe('debug');
    expect(resolveLogLevel(undefined, {})).toBe('info');
    expect(resolveLogLevel(undefined, { LOG_LEVEL: 'loud' })).toBe('info');
  });

  it('logs a failing request as an error with its code, and the server keeps answering', async () => {
    const { lines, destination } = captured();
    const h = await startHttpHarness({ logger: createLogger({ level: 'info', destination }) });
    try {
      h.handler.list = async () => {
        throw new Error('disk on fire');
      };
      expect((await rawRequest(h.server.port, 'GET', '/api/jobs')).status).toBe(500);
      const failure = lines.find((l) => l['msg'] === 'request failed');
      expect(failure).toMatchObject({ component: 'http', code: 'INTERNAL', path: '/api/jobs', level: 50 });
      expect((await rawRequest(h.server.port, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});
