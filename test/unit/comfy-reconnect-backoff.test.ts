import { describe, expect, it } from 'vitest';
import { backoffDelayMs, socketUrlOf } from '../../src/comfy/index.js';

describe('backoffDelayMs (exponential, full jitter)', () => {
  const policy = { initialMs: 100, maxMs: 2_000 };

  it('grows the ceiling exponentially up to the maximum', () => {
    const ceiling = (attempt: number) => backoffDelayMs(attempt, policy, () => 0.999999);
    expect(ceiling(0)).toBe(99);
    expect(ceiling(1)).toBe(199);
    expect(ceiling(3)).toBe(799);
    expect(ceiling(5)).toBe(1_999);
    expect(ceiling(500)).toBe(1_999);
  });

  it('draws uniformly from zero to the ceiling', () => {
    expect(backoffDelayMs(4, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(4, policy, () => 0.5)).toBe(800);
    const samples = Array.from({ length: 200 }, () => backoffDelayMs(2, policy));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(400);
    expect(new Set(samples).size).toBeGreaterThan(50);
  });
});

describe('socketUrlOf', () => {
  it('maps http(s) to ws(s), keeps a path prefix and sets clientId', () => {
    expect(socketUrlOf('http://127.0.0.1:8188', 'abc')).toBe('ws://127.0.0.1:8188/ws?clientId=abc');
    expect(socketUrlOf('https://host/comfy/', 'a b')).toBe('wss://host/comfy/ws?clientId=a+b');
  });
});
