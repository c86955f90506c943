import { wsMessageDataSchemas, type ComfyWsMessage, type KnownWsMessage } from './ws-message-schemas.js';
import { checkedWsData } from './ws-message-checks.js';

function isKnownType(type: string): type is keyof typeof wsMessageDataSchemas {
  return Object.hasOwn(wsMessageDataSchemas, type);
}

/**
 * Parses one WebSocket text frame. Never throws: a frame that is not JSON or not a
 * `{type, data}` envelope comes back as `other` with a `problem`, so one odd message from a
 * custom node cannot take the socket down.
 */
export function parseWsMessage(text: string): ComfyWsMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { type: 'other', messageType: '', data: text, problem: 'not JSON' };
  }
  // The envelope is checked by hand: it is one string and one key, on every frame.
  if (!isEnvelope(json)) {
    return { type: 'other', messageType: '', data: json, problem: 'not a {type, data} envelope' };
  }
  const { type, data } = json;
  if (!isKnownType(type)) return { type: 'other', messageType: type, data };
  // The frames of every prompt are checked by hand; the rest, and any frame a check refuses, by zod.
  const checked = checkedWsData(type, data);
  if (checked !== undefined) return { type, data: checked } as KnownWsMessage;
  const parsed = wsMessageDataSchemas[type].safeParse(data);
  if (!parsed.success) {
    return { type: 'other', messageType: type, data, problem: parsed.error.message };
  }
  return { type, data: parsed.data } as KnownWsMessage;
}

function isEnvelope(json: unknown): json is { type: string; data: unknown } {
  return typeof json === 'object' && json !== null && !Array.isArray(json) && typeof (json as { type?: unknown }).type === 'string';
}

/** The prompt a message belongs to, when it names one. */
export function promptIdOf(message: ComfyWsMessage): string | undefined {
  if (message.type === 'other' || message.type === 'status' || message.type === 'feature_flags') return undefined;
  return message.data.prompt_id ?? undefined;
}
