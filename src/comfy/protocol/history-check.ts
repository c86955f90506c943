/**
 * A hand check of GET /history answers, read once per prompt (issue 16: zod's parse walked
 * every node of the stored graph and cost ~0.15 ms of CPU per job). It accepts only what
 * `historyResponseSchema` (http-schemas.ts) accepts for a value out of JSON.parse, and returns
 * the same data (the prompt id as a string; `outputs`, `messages`, extra data and outputs to
 * execute defaulted as zod defaults them). It may be stricter, never looser: an answer it
 * refuses goes to the zod schema, which decides. Held to zod by test/unit/comfy-history-check.test.ts
 * (as is the POST /prompt answer's check below).
 */
import type { HistoryEntry, PromptResponse } from './http-schemas.js';

type Data = Record<string, unknown>;

const isObject = (value: unknown): value is Data => typeof value === 'object' && value !== null && !Array.isArray(value);
const isAbsent = (value: unknown): value is null | undefined => value === undefined || value === null;

/** `[number, id, graph, extra_data?, outputs_to_execute?, ...]` with the defaults filled in. */
function checkedQueueEntry(entry: unknown): unknown[] | undefined {
  // Shorter tuples are left to zod (its rules for missing trailing items are its own).
  if (!Array.isArray(entry) || entry.length < 5) return undefined;
  const [number, id, graph, extra, toExecute] = entry;
  if (typeof number !== 'number' || (typeof id !== 'string' && typeof id !== 'number') || !isObject(graph)) return undefined;
  if (!isAbsent(extra) && !isObject(extra)) return undefined;
  if (!isAbsent(toExecute) && !(Array.isArray(toExecute) && toExecute.every((item) => typeof item === 'string'))) return undefined;
  const out = [...entry];
  out[1] = String(id);
  out[3] = extra ?? {};
  out[4] = toExecute ?? [];
  return out;
}

function checkedStatus(status: unknown): Data | null | undefined | false {
  if (isAbsent(status)) return status;
  if (!isObject(status)) return false;
  const { status_str: statusStr, completed, messages } = status;
  if (!isAbsent(statusStr) && typeof statusStr !== 'string') return false;
  if (!isAbsent(completed) && typeof completed !== 'boolean') return false;
  if (messages === undefined) return { ...status, messages: [] };
  if (!Array.isArray(messages)) return false;
  for (const message of messages) {
    if (!Array.isArray(message) || message.length < 2 || typeof message[0] !== 'string') return false;
  }
  return status;
}

function checkedEntry(entry: unknown): Data | undefined {
  if (!isObject(entry)) return undefined;
  const out: Data = { ...entry };
  if (entry['prompt'] !== undefined) {
    const prompt = checkedQueueEntry(entry['prompt']);
    if (!prompt) return undefined;
    out['prompt'] = prompt;
  }
  const outputs = entry['outputs'];
  if (outputs === undefined) out['outputs'] = {};
  else if (!isObject(outputs)) return undefined;
  else {
    for (const key in outputs) {
      const output = outputs[key];
      if (output !== null && !isObject(output)) return undefined;
    }
  }
  const status = checkedStatus(entry['status']);
  if (status === false) return undefined;
  if (status !== undefined || 'status' in entry) out['status'] = status;
  const meta = entry['meta'];
  if (!isAbsent(meta) && !isObject(meta)) return undefined;
  return out;
}

/** The history answer as `historyResponseSchema` would return it, or undefined: let zod decide. */
export function checkedHistory(json: unknown): Record<string, HistoryEntry> | undefined {
  if (!isObject(json)) return undefined;
  const out: Record<string, HistoryEntry> = {};
  for (const id in json) {
    const entry = checkedEntry(json[id]);
    if (!entry) return undefined;
    out[id] = entry as HistoryEntry;
  }
  return out;
}

/**
 * The 200 answer of POST /prompt as `promptResponseSchema` returns it (the id as a string,
 * `node_errors` defaulted to {}), or undefined: let zod decide. Once per job.
 */
export function checkedPromptResponse(json: unknown): PromptResponse | undefined {
  if (!isObject(json)) return undefined;
  const { prompt_id: id, number, node_errors: nodeErrors } = json;
  if ((typeof id !== 'string' && typeof id !== 'number') || typeof number !== 'number') return undefined;
  if (!isAbsent(nodeErrors) && !isObject(nodeErrors)) return undefined;
  return { ...json, prompt_id: String(id), number, node_errors: nodeErrors ?? {} };
}
