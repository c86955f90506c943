/**
 * A small Ollama stand-in on a free port for the GPU handoff tests: `POST /v1/chat/completions`
 * writes a prompt (and loads the model), `GET /api/ps` lists loaded models, and `POST
 * /api/generate {model, keep_alive: 0}` unloads one. Every call is recorded, in order, into
 * a log the test may share with other recorders, so the order of what happened is checkable.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeOllamaCall {
  method: string;
  path: string;
  body: any;
}

export interface FakeOllamaServer {
  /** Ollama's own root (http://127.0.0.1:PORT); the OpenAI-compatible API is under /v1. */
  url: string;
  calls: FakeOllamaCall[];
  loaded: Set<string>;
  /** Answer unload calls with this status (null: normal). */
  refuseUnload(status: number | null): void;
  close(): Promise<void>;
}

export async function startFakeOllamaServer(log: string[] = []): Promise<FakeOllamaServer> {
  const calls: FakeOllamaCall[] = [];
  const loaded = new Set<string>();
  let refuseStatus: number | null = null;

  const reply = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? JSON.parse(text) : null;
    const path = req.url ?? '';
    calls.push({ method: req.method ?? 'GET', path, body });
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      log.push('ollama:chat');
      loaded.add(body.model);
      return reply(res, 200, {
        id: 'c1',
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'a quiet portrait by the window' }, finish_reason: 'stop' }],
      });
    }
    if (req.method === 'GET' && path === '/api/ps') {
      log.push('ollama:ps');
      return reply(res, 200, { models: [...loaded].map((name) => ({ name, model: name, size: 1 })) });
    }
    if (req.method === 'POST' && path === '/api/generate' && body?.keep_alive === 0 && !body.prompt) {
      log.push(`ollama:unload:${body.model}`);
      if (refuseStatus !== null) return reply(res, refuseStatus, { error: 'refused by the test' });
      loaded.delete(body.model);
      return reply(res, 200, { model: body.model, created_at: new Date().toISOString(), response: '', done: true, done_reason: 'unload' });
    }
    reply(res, 404, { error: 'not found' });
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    loaded,
    refuseUnload(status) {
      refuseStatus = status;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
