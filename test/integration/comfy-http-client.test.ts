import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfyBackendClient, ComfyHttpClient } from '../../src/comfy/index.js';
import { promptNotSent } from '../../src/comfy/comfy-http-errors.js';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(requestTimeoutMs = 2_000): Promise<{ sim: SimulatorHandle; http: ComfyHttpClient }> {
  const sim = await startSimulator({ port: 0, stepDelayMs: 1 });
  cleanups.push(() => sim.close());
  const http = new ComfyHttpClient({ url: sim.url, name: 'sim', requestTimeoutMs });
  cleanups.push(() => http.close());
  return { sim, http };
}

/** A port nothing listens on: bind one, note it, close it. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

async function failure(promise: Promise<unknown>): Promise<ChorusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChorusError);
  return error as ChorusError;
}

describe('ComfyHttpClient against the simulator', () => {
  it('reads system stats, object info (one class and unknown ones) and an empty queue', async () => {
    const { http } = await setup();
    expect((await http.systemStats()).system.comfyui_version).toBe('0.3.64');
    expect(Object.keys(await http.objectInfo('EmptyImage'))).toEqual(['EmptyImage']);
    expect(await http.objectInfo('NoSuchNode')).toEqual({});
    expect(Object.keys(await http.objectInfo()).length).toBeGreaterThan(300);
    expect(await http.getQueue()).toEqual({ running: [], pending: [] });
    expect(await http.getHistory('unknown-id')).toEqual({});
  });

  it('returns /queue pending in execution order (number, then prompt id), front first', async () => {
    const { sim, http } = await setup();
    sim.faults.executionDelayMs(1_500);
    const prompt = (color: number) => ({
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'order' } },
    });
    await http.submitPrompt({ prompt: prompt(1), prompt_id: 'running' });
    for (const id of ['c', 'b', 'a']) await http.submitPrompt({ prompt: prompt(id.charCodeAt(0)), prompt_id: id, number: 5 });
    await http.submitPrompt({ prompt: prompt(9), prompt_id: 'urgent', front: true });
    const queue = await http.getQueue();
    expect(queue.pending.map((entry) => entry[1])).toEqual(['urgent', 'a', 'b', 'c']);
    await http.deleteFromQueue(['a', 'b', 'c', 'urgent']);
    await http.interrupt('running');
    expect((await http.getQueue()).pending).toEqual([]);
  });

  it('uploads an image and reads history pages', async () => {
    const { http } = await setup();
    const uploaded = await http.uploadImage(Buffer.from('not really a png'), 'chorus_upload.png');
    expect(uploaded).toEqual({ name: 'chorus_upload.png', subfolder: '', type: 'input' });
    expect(await http.getHistory(undefined, { maxItems: 5, offset: 0 })).toEqual({});
    await http.free({ freeMemory: true });
  });

  it('maps /view 404 to OUTPUT_FILE_NOT_FOUND', async () => {
    const { http } = await setup();
    const error = await failure(http.view({ filename: 'missing.png', subfolder: '', type: 'output' }));
    expect(error.code).toBe(ErrorCode.OUTPUT_FILE_NOT_FOUND);
  });

  it('maps 5xx to recoverable COMFY_UNAVAILABLE with backend, url, path and status', async () => {
    const { sim, http } = await setup();
    sim.faults.failHttp(500, ['/queue']);
    const error = await failure(http.getQueue());
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, recoverable: true });
    expect(error.details).toEqual({ backend: 'sim', url: sim.url, path: '/queue', status: 500 });
    sim.faults.failHttp(null);
    expect(await http.getQueue()).toEqual({ running: [], pending: [] });
  });

  it('times out a slow server as COMFY_UNAVAILABLE', async () => {
    const { sim, http } = await setup(150);
    sim.faults.slowHttp(1_000);
    const error = await failure(http.systemStats());
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, recoverable: true });
    expect(error.message).toContain('timed out');
  });

  it('ends an exchange whose body trickles past the deadline (each gap shorter than it), and the next call works', async () => {
    // Headers at once, then a byte every 40 ms: neither undici's headers nor its body (idle)
    // timeout fires, only the whole-exchange deadline of 150 ms.
    let trickle = true;
    const server = createHttpServer((_req, res) => {
      if (!trickle) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"system":{},"devices":[]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      const timer = setInterval(() => res.write(' '), 40);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(async () => void server.closeAllConnections());
    const address = server.address();
    const http = new ComfyHttpClient({
      url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      name: 'trickle',
      requestTimeoutMs: 150,
    });
    cleanups.push(() => http.close());
    const started = performance.now();
    const error = await failure(http.systemStats());
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, recoverable: true });
    expect(error.message).toContain('timed out');
    expect(performance.now() - started).toBeLessThan(1_000);
    trickle = false;
    expect(await http.systemStats()).toMatchObject({ devices: [] });
  });

  it("never puts a password or token from the backend's URL into an error's message or details", async () => {
    const url = `http://gpu-user:s3cret-pass@127.0.0.1:${await deadPort()}/?token=t0ken-value`;
    const http = new ComfyHttpClient({ url, name: 'guarded' });
    cleanups.push(() => http.close());
    const error = await failure(http.submitPrompt({ prompt: {} }));
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, details: { backend: 'guarded', url: expect.stringContaining('***@127.0.0.1') } });
    const shown = `${error.message} ${JSON.stringify(error.toJSON())}`;
    expect(shown).not.toContain('s3cret-pass');
    expect(shown).not.toContain('t0ken-value');
    expect(shown).not.toContain('gpu-user');
  });

  it('maps a refused connection to COMFY_UNAVAILABLE and keeps the cause', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const http = new ComfyHttpClient({ url, name: 'nobody' });
    cleanups.push(() => http.close());
    const error = await failure(http.submitPrompt({ prompt: {} }));
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, recoverable: true, details: { backend: 'nobody', path: '/prompt' } });
    expect(error.message).toContain('connection refused');
    expect(error.cause).toBeDefined();
    // Nothing was written: a retry needs no look-up first.
    expect(error.details).toMatchObject({ sent: false });
    expect(promptNotSent(error)).toBe(true);
  });

  it('a POST /prompt that timed out after it was written may have reached ComfyUI', async () => {
    const { sim, http } = await setup(150);
    sim.faults.slowHttp(1_000);
    const error = await failure(http.submitPrompt({ prompt: {} }));
    expect(error).toMatchObject({ code: ErrorCode.COMFY_UNAVAILABLE, recoverable: true, details: { path: '/prompt' } });
    expect(error.message).toContain('timed out');
    expect(error.details).not.toHaveProperty('sent');
    expect(promptNotSent(error)).toBe(false);
  });
});

describe('older ComfyUI servers', () => {
  it('uses the prompt id the server chose when it ignores ours (before 0.3.45) and tolerates sparse stats', async () => {
    const received: unknown[] = [];
    const server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/prompt') {
          received.push(JSON.parse(body));
          res.end(JSON.stringify({ prompt_id: 'server-chosen', number: 7 }));
        } else if (req.url === '/system_stats') {
          res.end(JSON.stringify({ system: { os: 'posix' }, devices: [] }));
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const backend = new ComfyBackendClient({ name: 'old', url }, { clientId: 'old-client' });
    cleanups.push(() => backend.close());
    await backend.start();
    expect(backend.health()).toMatchObject({ healthy: false, socket: 'connecting' }); // no /ws here
    const result = await backend.submit({ promptId: 'ours', prompt: { '1': { class_type: 'X', inputs: {} } }, jobId: 'job-old' });
    expect(result).toEqual({ promptId: 'server-chosen', number: 7 });
    expect(received).toEqual([
      { prompt: { '1': { class_type: 'X', inputs: {} } }, prompt_id: 'ours', client_id: 'old-client', extra_data: { chorus_job_id: 'job-old' } },
    ]);
  });
});
