import { describe, expect, it } from 'vitest';
import { PromptMessageBuffer, parseWsMessage } from '../../src/comfy/index.js';

const message = (type: string, promptId: string, extra: object = {}) => parseWsMessage(JSON.stringify({ type, data: { prompt_id: promptId, ...extra } }));

describe('PromptMessageBuffer', () => {
  it('returns the messages of one prompt in arrival order', () => {
    const buffer = new PromptMessageBuffer();
    buffer.add('a', message('execution_start', 'a'));
    buffer.add('b', message('execution_start', 'b'));
    buffer.add('a', message('execution_success', 'a'));
    expect(buffer.messagesFor('a').map((m) => m.type)).toEqual(['execution_start', 'execution_success']);
    expect(buffer.messagesFor('zzz')).toEqual([]);
  });

  it('forgets messages older than maxAgeMs', () => {
    let now = 1_000;
    const buffer = new PromptMessageBuffer({ maxAgeMs: 100 }, () => now);
    buffer.add('a', message('execution_start', 'a'));
    now += 150;
    buffer.add('b', message('execution_start', 'b'));
    expect(buffer.messagesFor('a')).toEqual([]);
    expect(buffer.size).toBe(1);
  });

  it('evicts the least recently touched prompt when full', () => {
    let now = 0;
    const buffer = new PromptMessageBuffer({ maxPrompts: 2 }, () => now++);
    buffer.add('a', message('execution_start', 'a'));
    buffer.add('b', message('execution_start', 'b'));
    buffer.add('a', message('executing', 'a', { node: '1' }));
    buffer.add('c', message('execution_start', 'c'));
    expect(buffer.messagesFor('b')).toEqual([]);
    expect(buffer.messagesFor('a')).toHaveLength(2);
    expect(buffer.messagesFor('c')).toHaveLength(1);
  });

  it('drops progress ticks first when a prompt has too many messages', () => {
    const buffer = new PromptMessageBuffer({ maxMessagesPerPrompt: 3 });
    buffer.add('a', message('execution_start', 'a'));
    for (let value = 0; value < 10; value += 1) buffer.add('a', message('progress', 'a', { value, max: 10, node: '2' }));
    buffer.add('a', message('execution_success', 'a'));
    expect(buffer.messagesFor('a').map((m) => m.type)).toEqual(['execution_start', 'progress', 'execution_success']);
  });
});
