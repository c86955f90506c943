import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runFakeLifecycle } from '../support/fake-http-ports.js';
import { startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';

let h: HttpHarness;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  h = await startHttpHarness({ token: 'tok' });
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await h.close();
});

/** Opens the feed and collects messages; resolves once the hello arrived. */
async function openFeed(
  query = '?token=tok',
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; messages: any[]; waitFor(pred: (m: any) => boolean): Promise<any> }> {
  const ws = new WebSocket(`${h.server.url.replace('http', 'ws')}/api/live${query}`, { headers });
  sockets.push(ws);
  const messages: any[] = [];
  const waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    messages.push(msg);
    for (const w of [...waiters])
      if (w.pred(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
  });
  const waitFor = (pred: (m: any) => boolean) => {
    const found = messages.find(pred);
    return found ? Promise.resolve(found) : new Promise<any>((resolve) => waiters.push({ pred, resolve }));
  };
  await waitFor((m) => m.type === 'hello');
  return { ws, messages, waitFor };
}

describe('WS /api/live', () => {
  it('greets, then streams transitions and progress in order', async () => {
    const feed = await openFeed();
    expect(feed.messages[0]).toMatchObject({ type: 'hello', instance_id: 'test-instance' });
    const { job } = await h.handler.generate({ conversation_id: 'c9', character: 'nova', prompt: 'x', priority: 0, strict_llm: false, parameters: {} });
    await runFakeLifecycle(h.handler, job.id, h.dataDir, async () => {}, 3);
    await feed.waitFor((m) => m.type === 'transition' && m.to === 'completed');
    const kinds = feed.messages.slice(1).map((m) => (m.type === 'transition' ? m.to : `p${m.progress.value}`));
    expect(kinds).toEqual(['queued', 'queued', 'submitted', 'processing', 'p1', 'p2', 'p3', 'moving', 'completed']);
    const completed = feed.messages.at(-1);
    expect(completed.job.result.files[0].path).toBe(`conversations/c9/images/${job.id}.png`);
    expect(feed.messages.find((m) => m.type === 'progress')).toMatchObject({ job_id: job.id, conversation_id: 'c9', progress: { max: 3, node: '3' } });
  });

  it('fans out to several clients and unsubscribes from the feed on close', async () => {
    const a = await openFeed();
    const b = await openFeed('', { authorization: 'Bearer tok' });
    h.feed.emit({ type: 'progress', job_id: 'j', conversation_id: 'c', progress: { value: 1, max: 2, node: null } });
    await Promise.all([a.waitFor((m) => m.type === 'progress'), b.waitFor((m) => m.type === 'progress')]);
    expect(h.feed.listenerCount()).toBe(2); // one for the sockets, one for metrics
    await h.server.close();
    expect(h.feed.listenerCount()).toBe(0);
    h.server.close = async () => {};
  });

  it('refuses an upgrade without the token (401 UNAUTHORIZED) and on other paths (404 naming the endpoint)', async () => {
    const refusal = (url: string) =>
      new Promise<{ status: number; error: Record<string, unknown> }>((resolve, reject) => {
        const ws = new WebSocket(url);
        sockets.push(ws);
        ws.on('unexpected-response', (_req, res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, error: JSON.parse(text).error }));
        });
        ws.on('open', () => reject(new Error('should not open')));
        ws.on('error', () => {});
      });
    const base = h.server.url.replace('http', 'ws');
    for (const url of [`${base}/api/live`, `${base}/api/live?token=wrong`]) {
      const { status, error } = await refusal(url);
      expect({ status, code: error['code'] }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    }
    const elsewhere = await refusal(`${base}/elsewhere?token=tok`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.error['suggestion']).toBe('Connect to /api/live.');
  });
});
