/**
 * Configuration printed anywhere goes through redactConfig/redactUrl; and the HTTP door is
 * only opened without a token on purpose.
 */
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseServiceConfig, readEnvOverrides, redactConfig, redactUrl } from '../../src/config/index.js';

describe('redactUrl', () => {
  it.each([
    ['nats://user:p%40ss@nats.internal:4222', 'nats://***@nats.internal:4222'],
    ['postgres://app:hunter2@db:5432/chorus?sslmode=require', 'postgres://***@db:5432/chorus?sslmode=require'],
    ['http://comfy.example/view?filename=a.png&token=abc&type=output', 'http://comfy.example/view?filename=a.png&token=[redacted]&type=output'],
    ['http://llm.example/v1?api_key=sk-1#top', 'http://llm.example/v1?api_key=[redacted]#top'],
    ['sqlite:data/chorus-visual.db', 'sqlite:data/chorus-visual.db'],
    ['http://127.0.0.1:8188', 'http://127.0.0.1:8188'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('redactConfig', () => {
  it('hides every credential and the userinfo of every URL, and keeps the rest', () => {
    const config = parseServiceConfig({
      comfyui: { backends: [{ name: 'a', url: 'http://u:comfy-secret@gpu:8188' }] },
      database: { url: 'postgres://app:db-secret@db/chorus' },
      nats: { servers: ['nats://n:nats-url-secret@nats:4222'], user: 'chorus', pass: 'nats-pass-secret', token: 'nats-token-secret' },
      llm: { base_url: 'http://k:llm-url-secret@llm/v1', api_key: 'llm-key-secret' },
      http: { token: 'http-token-secret', port: 9000 },
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toMatch(/secret/);
    expect(redactConfig(config).http.port).toBe(9000);
    expect(redactConfig(config).nats.servers).toEqual(['nats://***@nats:4222']);
    expect(config.http.token).toBe('http-token-secret'); // the original is untouched
  });
});

describe('a non-loopback bind address needs a token or allow_unauthenticated', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
    expect(parseServiceConfig({ http: { host } }).http.host).toBe(host);
  });

  it.each(['0.0.0.0', '::', '192.168.1.20', 'visual.example.com', 'localhost.evil.example'])('%s without a token is refused', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
    expect(() => parseServiceConfig({ http: { host } })).toThrow(/http\.host is .* an address other machines can reach, and http\.token is not set/);
    expect(parseServiceConfig({ http: { host, token: 't' } }).http.host).toBe(host);
    expect(parseServiceConfig({ http: { host, allow_unauthenticated: true } }).http.host).toBe(host);
    expect(parseServiceConfig({ http: { host, enabled: false } }).http.host).toBe(host);
  });

  it('names the variable that set the address', () => {
    const env = { CHORUS_VISUAL_HTTP_HOST: '0.0.0.0' };
    expect(() => parseServiceConfig({ http: { host: '0.0.0.0' } }, 'config', readEnvOverrides(env))).toThrow(
      /^CHORUS_VISUAL_HTTP_HOST \(http\.host\) is 0\.0\.0\.0/,
    );
  });
});
