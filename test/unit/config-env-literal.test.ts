/**
 * Environment values are taken literally for text keys (tokens, passwords, URLs, names):
 * YAML parsing used to turn `abc #def` into `abc`, `&anchor secret` into `secret` and `''`
 * into an empty token that switched authentication off. Errors name the variable (or the
 * flag) that carried the bad value, not the YAML file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEnvOverrides, loadServiceConfig, parseServiceConfig, readEnvOverrides } from '../../src/config/index.js';
import { ChorusError } from '../../src/errors/index.js';

/** As loadServiceConfig does it: the overrides go along so errors can name their variable. */
const fromEnv = (env: Record<string, string>, source = 'config') => parseServiceConfig(applyEnvOverrides({}, env), source, readEnvOverrides(env));

function configError(fn: () => unknown): ChorusError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ChorusError);
    expect((error as ChorusError).code).toBe('CONFIG_INVALID');
    return error as ChorusError;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('CHORUS_VISUAL_* values for text keys are literal', () => {
  it.each([
    ['abc #def', 'a "#" is not a comment'],
    ['&anchor secret', 'a leading "&" is not a YAML anchor'],
    ['*alias', 'a leading "*" is not an alias'],
    ["''", 'two quotes are two characters, not an empty string'],
    ['"quoted"', 'double quotes are kept'],
    ['  padded  ', 'spaces are kept'],
    ['123', 'digits stay text'],
    ['true', '"true" stays text'],
    ['null', '"null" stays text'],
    ['a: b', 'a colon is not a mapping'],
    ['[not, a, list]', 'brackets are not a list'],
  ])('http.token = %j (%s)', (value) => {
    expect(fromEnv({ CHORUS_VISUAL_HTTP_TOKEN: value }).http.token).toBe(value);
  });

  it('keeps every text key literal: NATS credentials, LLM key, URLs and names', () => {
    const config = fromEnv({
      CHORUS_VISUAL_NATS_USER: '&me',
      CHORUS_VISUAL_NATS_PASS: 'p#ss word',
      CHORUS_VISUAL_NATS_TOKEN: "'tok'",
      CHORUS_VISUAL_LLM_API_KEY: 'sk-1 #2',
      CHORUS_VISUAL_LLM_BASE_URL: 'http://127.0.0.1:11434/v1#frag',
      CHORUS_VISUAL_DATABASE_URL: 'postgres://u:p#w@db/x',
      CHORUS_VISUAL_NATS_NAME: 'name # with hash',
    });
    expect(config.nats).toMatchObject({ user: '&me', pass: 'p#ss word', token: "'tok'", name: 'name # with hash' });
    expect(config.llm.api_key).toBe('sk-1 #2');
    expect(config.llm.base_url).toBe('http://127.0.0.1:11434/v1#frag');
    expect(config.database.url).toBe('postgres://u:p#w@db/x');
  });

  it('still parses numbers, booleans and lists', () => {
    const config = fromEnv({
      CHORUS_VISUAL_HTTP_PORT: '9001',
      CHORUS_VISUAL_HTTP_ALLOW_UNAUTHENTICATED: 'true',
      CHORUS_VISUAL_NATS_SERVERS: '["nats://a:4222", "nats://b:4222"]',
      CHORUS_VISUAL_HTTP_ALLOWED_HOSTS: 'visual.example.com, other.example',
      CHORUS_VISUAL_HTTP_ALLOWED_ORIGINS: 'https://visual.example.com',
    });
    expect(config.http.port).toBe(9001);
    expect(config.http.allow_unauthenticated).toBe(true);
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(config.http.allowed_hosts).toEqual(['visual.example.com', 'other.example']);
    expect(config.http.allowed_origins).toEqual(['https://visual.example.com']);
  });
});

describe('empty values and bad values name their variable', () => {
  it.each(['CHORUS_VISUAL_HTTP_TOKEN', 'CHORUS_VISUAL_NATS_PASS', 'CHORUS_VISUAL_LLM_API_KEY', 'CHORUS_VISUAL_HTTP_PORT'])(
    'an empty %s is a configuration error naming it, not "unset"',
    (variable) => {
      const error = configError(() => fromEnv({ [variable]: '' }));
      expect(error.message).toContain(variable);
      expect(error.message).toMatch(/empty/);
      expect(error.details).toMatchObject({ variable });
    },
  );

  it('an empty token in the YAML file is refused too (it would mean "auth off"), as are an empty NATS password, NATS token and LLM key', () => {
    const error = configError(() => parseServiceConfig({ http: { token: '' } }, 'my.yaml'));
    expect(error.message).toMatch(/my\.yaml is invalid: http\.token: must not be empty/);
    expect(configError(() => parseServiceConfig({ nats: { pass: '' } })).message).toMatch(/nats\.pass: must not be empty/);
    expect(configError(() => parseServiceConfig({ nats: { token: '' } })).message).toMatch(/nats\.token: must not be empty/);
    expect(configError(() => parseServiceConfig({ llm: { api_key: '' } })).message).toMatch(/llm\.api_key: must not be empty/);
  });

  it('a bad value from a variable blames the variable, not the file', () => {
    const error = configError(() => fromEnv({ CHORUS_VISUAL_HTTP_PORT: '99999' }, 'config/chorus-visual.yaml'));
    expect(error.message).toMatch(/^CHORUS_VISUAL_HTTP_PORT is invalid: CHORUS_VISUAL_HTTP_PORT \(http\.port\)/);
    expect(error.message).not.toContain('chorus-visual.yaml');
  });

  it('a bad list entry from a variable blames the variable', () => {
    const error = configError(() => fromEnv({ CHORUS_VISUAL_HTTP_ALLOWED_ORIGINS: 'https://ok.example,https://bad.example/path' }));
    expect(error.message).toMatch(/CHORUS_VISUAL_HTTP_ALLOWED_ORIGINS \(http\.allowed_origins\.1\)/);
  });
});

describe('loadServiceConfig: file, variables and flags', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'chorus-config-env-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('blames the file for its own bad values and the variable for its, in one message', async () => {
    const file = path.join(dir, 'both.yaml');
    await writeFile(file, 'comfyui:\n  timeout_seconds: -1\n');
    const error = await loadServiceConfig({ path: file, env: { CHORUS_VISUAL_HTTP_PORT: 'eighty' } }).catch((e: unknown) => e as ChorusError);
    expect(error).toBeInstanceOf(ChorusError);
    expect((error as ChorusError).message).toContain(`${file} is invalid`);
    expect((error as ChorusError).message).toContain('comfyui.timeout_seconds:');
    expect((error as ChorusError).message).toContain('CHORUS_VISUAL_HTTP_PORT (http.port)');
  });

  it('names the flag when the value came from one', async () => {
    const error = await loadServiceConfig({ env: { CHORUS_VISUAL_HTTP_PORT: 'eighty' }, labels: { CHORUS_VISUAL_HTTP_PORT: '--http-port' } }).catch(
      (e: unknown) => e as ChorusError,
    );
    expect((error as ChorusError).message).toMatch(/^--http-port is invalid: --http-port \(http\.port\)/);
    const empty = await loadServiceConfig({ env: { CHORUS_VISUAL_INSTANCE_ID: '' }, labels: { CHORUS_VISUAL_INSTANCE_ID: '--instance-id' } }).catch(
      (e: unknown) => e as ChorusError,
    );
    expect((empty as ChorusError).message).toMatch(/^--instance-id \(instance_id\) is set but empty/);
  });

  it('binds to loopback by default, with no token and no extra hosts or origins', async () => {
    const config = await loadServiceConfig({ path: 'config/chorus-visual.yaml', env: {} });
    expect(config.http.host).toBe('127.0.0.1');
    expect(parseServiceConfig({}).http).toEqual({
      enabled: true,
      host: '127.0.0.1',
      port: 8787,
      allowed_origins: [],
      allowed_hosts: [],
      allow_unauthenticated: false,
    });
  });
});
