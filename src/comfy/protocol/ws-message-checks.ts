/**
 * Hand checks for the WebSocket frames every prompt produces (issue 16: zod's parse of them
 * was ~0.15 ms of CPU per job). Each accepts exactly what its zod schema in
 * ws-message-schemas.ts accepts for a value out of JSON.parse (the only input they get) and
 * produces the same data: ids as strings, a missing `nodes` list as []. They are allowed to be
 * stricter, never looser: a frame a check refuses goes to the zod schema, which decides (and
 * words the problem). Checked against zod frame by frame in test/unit/comfy-ws-message-checks.test.ts.
 */
import type { KnownWsMessage } from './ws-message-schemas.js';

type Data = Record<string, unknown>;

const isObject = (value: unknown): value is Data => typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string | number => typeof value === 'string' || typeof value === 'number';
const isNumber = (value: unknown): value is number => typeof value === 'number';
const isString = (value: unknown): value is string => typeof value === 'string';
const optional = (value: unknown, check: (value: unknown) => boolean) => value === undefined || check(value);
const nullish = (value: unknown, check: (value: unknown) => boolean) => value === undefined || value === null || check(value);
const isIdList = (value: unknown): value is Array<string | number> => Array.isArray(value) && value.every(isId);

/** `z.union([z.string(), z.number()]).transform(String)`, after the check passed. */
function idsAsStrings(data: Data, keys: readonly string[]): Data {
  let out = data;
  for (const key of keys) {
    const value = data[key];
    if (typeof value === 'number') {
      if (out === data) out = { ...data };
      out[key] = String(value);
    }
  }
  return out;
}

type Check = (data: unknown) => Data | undefined;

const checks: Partial<Record<KnownWsMessage['type'], Check>> = {
  status: (data) => {
    if (!isObject(data) || !nullish(data['sid'], isString)) return undefined;
    const status = data['status'];
    if (status === undefined || status === null) return data;
    if (!isObject(status)) return undefined;
    const execInfo = status['exec_info'];
    if (execInfo === undefined || execInfo === null) return data;
    return isObject(execInfo) && nullish(execInfo['queue_remaining'], isNumber) ? data : undefined;
  },
  execution_start: (data) =>
    isObject(data) && optional(data['prompt_id'], isId) && nullish(data['timestamp'], isNumber) ? idsAsStrings(data, ['prompt_id']) : undefined,
  execution_success: (data) =>
    isObject(data) && optional(data['prompt_id'], isId) && nullish(data['timestamp'], isNumber) ? idsAsStrings(data, ['prompt_id']) : undefined,
  execution_cached: (data) => {
    if (!isObject(data) || !optional(data['prompt_id'], isId) || !nullish(data['timestamp'], isNumber)) return undefined;
    const nodes = data['nodes'];
    if (nodes === undefined || nodes === null) return { ...idsAsStrings(data, ['prompt_id']), nodes: [] };
    return isIdList(nodes) ? { ...idsAsStrings(data, ['prompt_id']), nodes: nodes.map(String) } : undefined;
  },
  executing: (data) =>
    isObject(data) && (data['node'] === null || isId(data['node'])) && nullish(data['display_node'], isId) && optional(data['prompt_id'], isId)
      ? idsAsStrings(data, ['node', 'display_node', 'prompt_id'])
      : undefined,
  executed: (data) =>
    isObject(data) &&
    isId(data['node']) &&
    nullish(data['display_node'], isId) &&
    (data['output'] === null || isObject(data['output'])) &&
    optional(data['prompt_id'], isId)
      ? idsAsStrings(data, ['node', 'display_node', 'prompt_id'])
      : undefined,
  progress: (data) =>
    isObject(data) && isNumber(data['value']) && isNumber(data['max']) && nullish(data['prompt_id'], isId) && nullish(data['node'], isId)
      ? idsAsStrings(data, ['prompt_id', 'node'])
      : undefined,
  progress_state: (data) => {
    if (!isObject(data) || !optional(data['prompt_id'], isId)) return undefined;
    const nodes = data['nodes'];
    if (!isObject(nodes)) return undefined;
    for (const key in nodes) {
      const node = nodes[key];
      if (!isObject(node) || !isNumber(node['value']) || !isNumber(node['max']) || !isString(node['state'])) return undefined;
    }
    return idsAsStrings(data, ['prompt_id']);
  },
};

/** The frame's data as its zod schema would return it, or undefined: let the schema decide. */
export function checkedWsData(type: KnownWsMessage['type'], data: unknown): Data | undefined {
  return checks[type]?.(data);
}
