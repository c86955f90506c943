/**
 * Replays a recorded ComfyUI transcript (test/fixtures/comfyui-transcripts/*.jsonl) against a
 * server and lists every difference in status codes, content types, body shapes and, per
 * socket, the WebSocket message sequence (types, order, field names). Ids, file names and
 * timestamps differ by nature: values learned from responses are substituted into later requests.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

type TranscriptEvent = Record<string, unknown> & { dir: string };
type Received = { kind: string; data: unknown };

const isPrimitive = (v: unknown) => v === null || typeof v !== 'object';

/** A structural fingerprint: field names and value kinds, not values. */
export function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.every(isPrimitive) ? 'array' : value.map(shapeOf);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as object).sort()) {
      const name = /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(key) ? '<uuid>' : key;
      out[name] = shapeOf((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return typeof value;
}

const looksLikeId = (text: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9a-f]{32}$/.test(text);
const looksLikeFile = (text: string) => /^[\w\-. ()]+\.[a-z0-9]{2,5}$/i.test(text);

/** Pairs recorded ids and file names with the ones this server chose, walking both bodies. */
function learn(recorded: unknown, actual: unknown, map: Map<string, string>): void {
  if (typeof recorded === 'string' && typeof actual === 'string') {
    if (recorded !== actual && (looksLikeId(recorded) || looksLikeFile(recorded))) map.set(recorded, actual);
    return;
  }
  if (Array.isArray(recorded) && Array.isArray(actual)) {
    for (const [i, r] of recorded.entries()) learn(r, actual[i], map);
    return;
  }
  if (recorded && actual && typeof recorded === 'object' && typeof actual === 'object') {
    const r = recorded as Record<string, unknown>,
      a = actual as Record<string, unknown>;
    const actualIds = Object.keys(a).filter(looksLikeId);
    const recordedIds = Object.keys(r).filter(looksLikeId);
    for (const key of Object.keys(r)) {
      if (key in a) learn(r[key], a[key], map);
    }
    recordedIds.forEach((key, i) => {
      const other = actualIds[i];
      if (other === undefined || key in a) return;
      map.set(key, other);
      learn(r[key], a[other], map);
    });
  }
}

function substitute(text: string, map: Map<string, string>): string {
  let out = text;
  for (const [from, to] of map) out = out.split(from).join(to);
  return out;
}

function multipartUpload(filename: string, bytes: Buffer): { body: Buffer; contentType: string } {
  const boundary = 'replayboundary7d1';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

function helloSid(events: TranscriptEvent[], conn: string): string {
  const hello = events.find((e) => e.dir === 'ws-in' && e['conn'] === conn);
  return String((hello?.['msg'] as { data?: { sid?: unknown } } | undefined)?.data?.sid ?? '');
}

export interface ReplayOptions {
  /** Bytes to upload for a recorded `/upload/image` whose body was not kept. */
  uploadBytes?: (filename: string) => Buffer;
  waitTimeoutMs?: number;
  /** Compare runs of progress/progress_state/preview frames as one step: for scenarios whose
   *  number of ticks depends on how long the real node ran before an interrupt. */
  collapseProgress?: boolean;
}

const progressKinds = new Set(['progress', 'progress_state', 'binary:1', 'binary:4']);

function kindSequence(messages: Received[], collapse: boolean): string {
  const kinds: string[] = [];
  for (const m of messages) {
    const kind = collapse && progressKinds.has(m.kind) ? 'progress*' : m.kind;
    if (kind === 'progress*' && kinds[kinds.length - 1] === kind) continue;
    kinds.push(kind);
  }
  return kinds.join(' ');
}

export async function replayTranscript(file: string, baseUrl: string, options: ReplayOptions = {}): Promise<string[]> {
  const events = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TranscriptEvent);
  const timeout = options.waitTimeoutMs ?? 3000;
  const mismatches: string[] = [];
  const mapping = new Map<string, string>();
  const sockets = new Map<string, WebSocket>();
  const expected = new Map<string, Received[]>();
  const actual = new Map<string, Received[]>();
  const expectedSoFar = new Map<string, number>();
  const wsBase = baseUrl.replace(/^http/, 'ws');

  const syncSockets = () => waitFor(() => [...expectedSoFar].every(([conn, n]) => (actual.get(conn)?.length ?? 0) >= n), timeout);

  for (let index = 0; index < events.length; index++) {
    const event = events[index]!;
    const conn = String(event['conn'] ?? '');
    if (event.dir === 'ws-in' || event.dir === 'ws-bin') {
      const msg = event['msg'] as { type: string; data: unknown } | undefined;
      const entry = event.dir === 'ws-in' ? { kind: msg!.type, data: msg!.data } : { kind: `binary:${String(event['event_type'])}`, data: null };
      (expected.get(conn) ?? expected.set(conn, []).get(conn)!).push(entry);
      expectedSoFar.set(conn, (expectedSoFar.get(conn) ?? 0) + 1);
    } else if (event.dir === 'ws-connect' || (event.dir === 'ws-open' && !sockets.has(conn))) {
      // T18 logged only ws-open; its clientId is the sid of the first status message.
      await syncSockets();
      const url = event.dir === 'ws-connect' ? String(event['url']) : `/ws?clientId=${helloSid(events, conn)}`;
      const ws = new WebSocket(wsBase + substitute(url, mapping));
      const received: Received[] = [];
      actual.set(conn, received);
      ws.on('message', (data, isBinary) => {
        const buffer = data as Buffer;
        received.push(
          isBinary
            ? { kind: `binary:${buffer.readUInt32BE(0)}`, data: null }
            : (({ type, data: d }) => ({ kind: type, data: d }))(JSON.parse(buffer.toString()) as { type: string; data: unknown }),
        );
      });
      sockets.set(conn, ws);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
    } else if (event.dir === 'ws-out') {
      sockets.get(conn)?.send(substitute(JSON.stringify(event['msg']), mapping));
    } else if (event.dir === 'ws-close-by-client') {
      await syncSockets();
      const ws = sockets.get(conn);
      if (ws) {
        const closed = new Promise((resolve) => ws.once('close', resolve));
        ws.close();
        await closed;
        await new Promise((r) => setTimeout(r, 20)); // let the server run its cleanup too
      }
    } else if (event.dir === 'http-req') {
      await syncSockets();
      const method = String(event['method']);
      const path = substitute(String(event['path']), mapping);
      const headers: Record<string, string> = { ...((event['headers'] as Record<string, string> | undefined) ?? {}) };
      let body: Buffer | string | undefined;
      if ('body' in event) body = substitute(JSON.stringify(event['body']), mapping);
      const raw = event['raw_body'];
      const recordedRes = events.slice(index + 1).find((e) => e.dir === 'http-res' && e['path'] === event['path']);
      if (typeof raw === 'string' && /^<\d+ bytes>$/.test(raw) && String(event['path']).startsWith('/upload/image')) {
        const name = String((recordedRes?.['body'] as { name?: unknown } | undefined)?.name ?? 'upload.png');
        const form = multipartUpload(name, options.uploadBytes?.(name) ?? Buffer.from('not an image'));
        body = form.body;
        headers['Content-Type'] = form.contentType;
      } else if (typeof raw === 'string') {
        body = raw;
      }
      const res = await fetch(baseUrl + path, { method, headers, body: method === 'GET' ? undefined : body });
      if (process.env['REPLAY_DEBUG']) console.log(method, path, typeof body === 'string' ? body.slice(0, 400) : '', res.status);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (!recordedRes) continue;
      const label = `${method} ${String(event['path'])}`;
      if (res.status !== recordedRes['status']) mismatches.push(`${label}: status ${res.status} != recorded ${String(recordedRes['status'])}`);
      const contentType = res.headers.get('content-type');
      if (contentType !== recordedRes['content_type'])
        mismatches.push(`${label}: content-type ${contentType} != recorded ${String(recordedRes['content_type'])}`);
      const recordedBody = recordedRes['body'];
      if (typeof recordedBody === 'object' && recordedBody !== null && ('_binary' in recordedBody || '_truncated' in recordedBody)) continue;
      if (recordedBody === '<omitted>') continue;
      if (typeof recordedBody === 'string') {
        if (bytes.toString('utf8') !== recordedBody)
          mismatches.push(`${label}: body ${JSON.stringify(bytes.toString('utf8'))} != recorded ${JSON.stringify(recordedBody)}`);
        continue;
      }
      const actualBody: unknown = JSON.parse(bytes.toString('utf8'));
      learn(recordedBody, actualBody, mapping);
      const a = JSON.stringify(shapeOf(actualBody)),
        r = JSON.stringify(shapeOf(recordedBody));
      if (a !== r) mismatches.push(`${label}: body shape\n  actual   ${a}\n  recorded ${r}`);
    }
  }
  await syncSockets();
  await new Promise((r) => setTimeout(r, 50)); // anything extra the server sends shows up too
  for (const [conn, want] of expected) {
    const got = actual.get(conn) ?? [];
    const wantKinds = kindSequence(want, options.collapseProgress ?? false);
    const gotKinds = kindSequence(got, options.collapseProgress ?? false);
    if (wantKinds !== gotKinds) {
      mismatches.push(`socket ${conn}: message order\n  actual   ${gotKinds}\n  recorded ${wantKinds}`);
      continue;
    }
    if (options.collapseProgress) continue;
    want.forEach((m, i) => {
      const a = JSON.stringify(shapeOf(got[i]!.data)),
        r = JSON.stringify(shapeOf(m.data));
      if (a !== r) mismatches.push(`socket ${conn} message ${i} (${m.kind}): fields\n  actual   ${a}\n  recorded ${r}`);
    });
  }
  for (const ws of sockets.values()) ws.terminate();
  return mismatches;
}
