/**
 * A tiny OpenAI-compatible chat server on a free port, for the composer's tests. Each
 * request takes the next scripted answer (the last one repeats); every request body is
 * recorded so tests can assert what was sent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeAnswer = { content: string; model?: string; delayMs?: number } | { status: number; body: string; delayMs?: number } | { hang: true };

export interface FakeOpenAiServer {
  baseUrl: string;
  requests: { path: string; headers: IncomingMessage['headers']; body: any }[];
  script(...answers: FakeAnswer[]): void;
  close(): Promise<void>;
}

export async function startFakeOpenAiServer(): Promise<FakeOpenAiServer> {
  let answers: FakeAnswer[] = [{ content: 'a quiet portrait' }];
  let served = 0;
  const requests: FakeOpenAiServer['requests'] = [];
  const pending = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    requests.push({ path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : null });
    const answer = answers[Math.min(served++, answers.length - 1)]!;
    if ('hang' in answer) {
      pending.add(res);
      res.on('close', () => pending.delete(res));
      return;
    }
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (res.destroyed) return;
    if ('status' in answer) {
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
      return;
    }
    const body = {
      id: `chatcmpl-${served}`,
      object: 'chat.completion',
      model: answer.model ?? 'fake-model',
      choices: [{ index: 0, message: { role: 'assistant', content: answer.content }, finish_reason: 'stop' }],
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script(...next) {
      answers = next;
      served = 0;
    },
    async close() {
      for (const res of pending) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
