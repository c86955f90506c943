/**
 * The ComfyUI HTTP API over a SimulatorCore (server.py routes), served bare and under /api.
 * Bodies and status codes follow the recordings, including the quirks: the counter moves for
 * rejected prompts too, empty 200s, `{}` for unknown ids and classes, 500s for Python crashes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorCore } from './simulator-core.js';
import { isPlainObject, parseJsonBody, replyEmpty, replyErrorText, replyJson, replyRawJson } from './http-reply.js';
import { handleUpload, handleView } from './file-routes.js';
import { modelFolderNames, modelsInFolder } from './simulated-models.js';
import { pyIdString } from './python-format.js';
import { UnhandledValidationCrash } from './prompt-validator.js';
import { serverFeatureFlags } from './socket-hub.js';
import type { QueueEntry } from './prompt-queue.js';

class PythonCrash extends Error {}

const systemStats = {
  system: {
    os: 'posix',
    ram_total: 25276026880,
    ram_free: 24430882816,
    comfyui_version: '0.3.64',
    required_frontend_version: '1.27.10',
    installed_templates_version: null,
    required_templates_version: '0.1.95',
    python_version: '3.11.2 (main, Apr 28 2025, 14:11:48) [GCC 12.2.0]',
    pytorch_version: '1.13.0a0',
    embedded_python: false,
    argv: ['main.py', '--cpu', '--listen', '127.0.0.1', '--port', '8188'],
  },
  devices: [
    { name: 'cpu', type: 'cpu', index: null, vram_total: 25276026880, vram_free: 24430882816, torch_vram_total: 25276026880, torch_vram_free: 24430882816 },
  ],
};

function jsonOrCrash(body: Buffer): unknown {
  const parsed = parseJsonBody(body);
  if (!parsed.ok) throw new PythonCrash('JSONDecodeError');
  return parsed.value;
}

function postPrompt(core: SimulatorCore, body: Buffer, res: ServerResponse, onAccepted: () => void): void {
  const json = jsonOrCrash(body);
  if (!isPlainObject(json)) throw new PythonCrash('request body is not a dict');
  let number: number;
  if ('number' in json) {
    number = Number(json['number']);
    if (!Number.isFinite(number)) throw new PythonCrash('float()');
  } else {
    number = json['front'] ? -core.number : core.number;
    core.number++;
  }
  if (!('prompt' in json)) {
    const error = { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} };
    return void replyJson(res, 400, { error, node_errors: {} });
  }
  const promptId = 'prompt_id' in json ? pyIdString(json['prompt_id']) : randomUUID();
  const targets = Array.isArray(json['partial_execution_targets']) ? json['partial_execution_targets'].map(String) : null;
  let result: ReturnType<SimulatorCore['validator']['validate']>;
  try {
    result = core.validator.validate(json['prompt'], targets);
  } catch (error) {
    if (error instanceof UnhandledValidationCrash) throw new PythonCrash(error.message);
    throw error;
  }
  const extraData: Record<string, unknown> = isPlainObject(json['extra_data']) ? { ...json['extra_data'] } : {};
  if ('client_id' in json) extraData['client_id'] = json['client_id'];
  if (!result.ok) return void replyJson(res, 400, { error: result.error, node_errors: result.nodeErrors });
  const entry: QueueEntry = [number, promptId, json['prompt'] as Record<string, unknown>, extraData, result.outputs];
  core.queue.put(entry);
  onAccepted();
  replyJson(res, 200, { prompt_id: promptId, number, node_errors: result.nodeErrors });
}

function idList(value: unknown): string[] {
  return Array.isArray(value) ? value.map((v) => pyIdString(v)) : [];
}

function getHistory(core: SimulatorCore, query: URLSearchParams, res: ServerResponse): void {
  const pythonInt = (text: string | null): number | null => {
    if (text === null) return null;
    if (!/^\s*[-+]?\d+\s*$/.test(text)) throw new PythonCrash('int()');
    return Number.parseInt(text, 10);
  };
  const maxItems = pythonInt(query.get('max_items'));
  const offset = pythonInt(query.get('offset')) ?? -1;
  replyJson(res, 200, core.history.list(maxItems, offset));
}

export async function handleComfyRoute(
  core: SimulatorCore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
  body: Buffer,
  onAccepted: () => void,
  onFree: () => void = () => {},
): Promise<void> {
  const method = req.method ?? 'GET';
  try {
    const historyMatch = /^\/history\/(.+)$/.exec(path);
    const objectInfoMatch = /^\/object_info\/(.+)$/.exec(path);
    const modelsMatch = /^\/models\/(.+)$/.exec(path);
    if (path === '/prompt' && method === 'POST') return postPrompt(core, body, res, onAccepted);
    if (path === '/prompt' && method === 'GET') return replyJson(res, 200, { exec_info: { queue_remaining: core.queue.remaining() } });
    if (path === '/queue' && method === 'GET') {
      const running = core.queue.runningEntry();
      return replyJson(res, 200, { queue_running: running ? [running] : [], queue_pending: core.queue.pendingRaw() });
    }
    if (path === '/queue' && method === 'POST') {
      const json = jsonOrCrash(body);
      if (!isPlainObject(json)) throw new PythonCrash('not a dict');
      if ('clear' in json && json['clear']) core.queue.clearPending();
      if ('delete' in json) for (const id of idList(json['delete'])) core.queue.deletePending(id);
      return replyEmpty(res);
    }
    if (path === '/interrupt' && method === 'POST') {
      const parsed = parseJsonBody(body);
      const json = parsed.ok ? parsed.value : {};
      if (!isPlainObject(json)) throw new PythonCrash("'NoneType' object has no attribute 'get'");
      const promptId = json['prompt_id'];
      if (promptId) {
        if (core.queue.runningEntry()?.[1] === promptId) core.executor.interrupt();
      } else {
        core.executor.interrupt();
      }
      return replyEmpty(res);
    }
    if (path === '/free' && method === 'POST') {
      const json = jsonOrCrash(body);
      onFree();
      if (isPlainObject(json) && json['free_memory']) core.executor.requestFreeMemory();
      if (isPlainObject(json) && json['unload_models']) core.executor.requestUnloadModels();
      return replyEmpty(res);
    }
    if (path === '/history' && method === 'GET') return getHistory(core, query, res);
    if (historyMatch && method === 'GET') {
      const id = decodeURIComponent(historyMatch[1]!);
      const entry = core.history.get(id);
      return replyJson(res, 200, entry ? { [id]: entry } : {});
    }
    if (path === '/history' && method === 'POST') {
      const json = jsonOrCrash(body);
      if (!isPlainObject(json)) throw new PythonCrash('not a dict');
      if ('clear' in json && json['clear']) core.history.clear();
      if ('delete' in json) for (const id of idList(json['delete'])) core.history.delete(id);
      return replyEmpty(res);
    }
    if (path === '/view' && method === 'GET') return await handleView(core.dirs, query, res);
    if (path === '/upload/image' && method === 'POST') return await handleUpload(core.dirs, req, body, res);
    if (path === '/object_info' && method === 'GET') return replyRawJson(res, 200, core.catalog.fullJson());
    if (objectInfoMatch && method === 'GET') return replyRawJson(res, 200, core.catalog.classJson(decodeURIComponent(objectInfoMatch[1]!)));
    if (path === '/system_stats' && method === 'GET') {
      // As a ComfyUI started with --output-directory reports it (the only place it tells).
      const argv = [...systemStats.system.argv, '--output-directory', core.dirs.output];
      return replyJson(res, 200, { ...systemStats, system: { ...systemStats.system, argv } });
    }
    if (path === '/features' && method === 'GET') return replyJson(res, 200, serverFeatureFlags);
    if (path === '/embeddings' && method === 'GET') return replyJson(res, 200, []);
    if (path === '/extensions' && method === 'GET') return replyJson(res, 200, []);
    if (path === '/models' && method === 'GET') return replyJson(res, 200, modelFolderNames);
    if (modelsMatch && method === 'GET') {
      const files = modelsInFolder(decodeURIComponent(modelsMatch[1]!));
      return files ? replyJson(res, 200, files) : replyEmpty(res, 404);
    }
    if ((path === '/' || path === '') && method === 'GET') {
      // The recorded server had no frontend installed and served a stub page; so do we.
      res.writeHead(200, { 'Content-Type': 'text/html', Server: 'Python/3.11 aiohttp/3.8.4' });
      return void res.end('<!doctype html><title>ComfyUI (simulated)</title><p>ComfyUI 0.3.64 protocol simulator</p>\n');
    }
    const knownPaths = [
      '/prompt',
      '/queue',
      '/interrupt',
      '/free',
      '/history',
      '/view',
      '/upload/image',
      '/object_info',
      '/system_stats',
      '/features',
      '/embeddings',
      '/models',
    ];
    return replyErrorText(res, knownPaths.includes(path) ? 405 : 404);
  } catch (error) {
    if (error instanceof PythonCrash) return replyErrorText(res, 500);
    throw error;
  }
}
