import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfyBackendClient, type ApiPrompt, type ComfyBackendClientOptions, type PromptEvent } from '../../src/comfy/index.js';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '../../src/simulator/index.js';

const terminal = new Set(['succeeded', 'failed', 'interrupted', 'lost']);

function tinyPrompt(color = 0xff0000, prefix = 'itest'): ApiPrompt {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
  };
}

interface Watched {
  events: PromptEvent[];
  done: Promise<PromptEvent>;
}

/** Watches until the terminal event; `onEvent` lets a test act at a given moment. */
function watch(backend: ComfyBackendClient, promptId: string, onEvent?: (event: PromptEvent) => void): Watched {
  const events: PromptEvent[] = [];
  const done = new Promise<PromptEvent>((resolve) => {
    backend.watch(promptId, (event) => {
      events.push(event);
      onEvent?.(event);
      if (terminal.has(event.type)) resolve(event);
    });
  });
  return { events, done };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  simOptions: SimulatorOptions = {},
  clientOptions: ComfyBackendClientOptions = {},
  heartbeat = { heartbeat_interval_ms: 5_000, heartbeat_timeout_ms: 10_000 },
): Promise<{ sim: SimulatorHandle; backend: ComfyBackendClient }> {
  const sim = await startSimulator({ port: 0, stepDelayMs: 2, ...simOptions });
  cleanups.push(() => sim.close());
  const backend = new ComfyBackendClient(
    { name: 'sim', url: sim.url, max_concurrent: 2, request_timeout_ms: 2_000, ...heartbeat },
    { pollInitialMs: 100, pollMaxMs: 200, reconnectBackoff: { initialMs: 20, maxMs: 200 }, ...clientOptions },
  );
  cleanups.push(() => backend.close());
  await backend.start();
  expect(backend.health()).toMatchObject({ healthy: true, socket: 'open', comfyuiVersion: '0.3.64' });
  return { sim, backend };
}

describe('ComfyBackendClient health', () => {
  it("shows the backend's URL without its password or token (readyz, the inspector)", async () => {
    const backend = new ComfyBackendClient(
      {
        name: 'guarded',
        url: 'http://gpu-user:s3cret-pass@127.0.0.1:9/?token=t0ken-value',
        max_concurrent: 1,
        request_timeout_ms: 500,
        heartbeat_interval_ms: 5_000,
        heartbeat_timeout_ms: 10_000,
      },
      {},
    );
    cleanups.push(() => backend.close());
    const health = backend.health();
    expect(health.url).toBe('http://***@127.0.0.1:9/?token=[redacted]');
    expect(JSON.stringify(health)).not.toMatch(/s3cret-pass|t0ken-value|gpu-user/);
  });
});

describe('ComfyBackendClient against the simulator', () => {
  it('runs a prompt: our prompt_id, client_id and job id go out; events and every file come back; it ran once', async () => {
    const { sim, backend } = await setup();
    const promptId = randomUUID();
    const result = await backend.submit({ promptId, prompt: tinyPrompt(), jobId: 'job-normal' });
    expect(result).toEqual({ promptId, number: 0 });
    const { events, done } = watch(backend, promptId);
    const end = await done;
    expect(events.map((event) => event.type)).toEqual(['started', 'cached', 'executing', 'executing', 'executed', 'succeeded']);
    expect(end).toMatchObject({ type: 'succeeded', files: [{ nodeId: '2', key: 'images', type: 'output', subfolder: '' }] });
    const file = end.type === 'succeeded' ? end.files[0]! : undefined;
    expect(file?.filename).toMatch(/^itest_\d{5}_\.png$/);

    const chunks: Buffer[] = [];
    for await (const chunk of await backend.download(file!)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).subarray(1, 4).toString('ascii')).toBe('PNG');

    const entry = (await backend.http.getHistory(promptId))[promptId];
    expect(entry?.prompt?.[3]).toMatchObject({ chorus_job_id: 'job-normal', client_id: backend.socket.clientId });
    expect(sim.stats().executions[promptId]).toBe(1);
    expect(await backend.locate(promptId)).toMatchObject({ where: 'history', outcome: { type: 'succeeded' } });
  });

  it('streams sampler progress and decoded preview frames attributed to the prompt', async () => {
    const { backend } = await setup();
    const promptId = randomUUID();
    const prompt: ApiPrompt = {
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
      '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox', clip: ['4', 1] } },
      '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
      '3': {
        class_type: 'KSampler',
        inputs: {
          model: ['4', 0],
          seed: 1,
          steps: 3,
          cfg: 7,
          sampler_name: 'euler',
          scheduler: 'normal',
          positive: ['6', 0],
          negative: ['7', 0],
          latent_image: ['5', 0],
          denoise: 1,
        },
      },
      '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
      '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'sampler' } },
    };
    await backend.submit({ promptId, prompt, jobId: 'job-sampler' });
    const { events, done } = watch(backend, promptId);
    expect((await done).type).toBe('succeeded');
    const progress = events.filter((event) => event.type === 'progress');
    expect(progress.map((event) => event.type === 'progress' && [event.node, event.value, event.max])).toEqual([
      ['3', 1, 3],
      ['3', 2, 3],
      ['3', 3, 3],
    ]);
    const previews = events.filter((event) => event.type === 'preview');
    expect(previews.length).toBeGreaterThan(0);
    expect(previews[0]).toMatchObject({ promptId, node: '3', mediaType: expect.stringMatching(/^image\/(png|jpeg)$/) });
    expect(previews[0]?.type === 'preview' && previews[0].bytes.length).toBeGreaterThan(8);
  });

  it('reports a fully cached rerun with the cached nodes and the same files', async () => {
    const { backend } = await setup();
    const first = randomUUID();
    await backend.submit({ promptId: first, prompt: tinyPrompt(0x00ff00, 'cache'), jobId: 'job-a' });
    const firstEnd = await watch(backend, first).done;
    const second = randomUUID();
    await backend.submit({ promptId: second, prompt: tinyPrompt(0x00ff00, 'cache'), jobId: 'job-b' });
    const { events, done } = watch(backend, second);
    const secondEnd = await done;
    expect(events.find((event) => event.type === 'cached')).toMatchObject({ nodes: ['1', '2'] });
    expect(events.some((event) => event.type === 'executing')).toBe(false);
    expect(secondEnd.type === 'succeeded' && secondEnd.files).toEqual(firstEnd.type === 'succeeded' && firstEnd.files);
  });

  it('turns a validation error into WORKFLOW_NODE_ERROR naming the node and input', async () => {
    const { sim, backend } = await setup();
    const prompt = tinyPrompt();
    prompt['1']!.inputs['width'] = 0;
    const error = await backend.submit({ promptId: randomUUID(), prompt, jobId: 'job-invalid' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChorusError);
    expect(error).toMatchObject({ code: ErrorCode.WORKFLOW_NODE_ERROR, recoverable: false });
    expect((error as ChorusError).message).toContain('node 1 (EmptyImage): width: Value 0 smaller than min of 1');
    expect((error as ChorusError).details).toMatchObject({
      error: { type: 'prompt_outputs_failed_validation' },
      nodes: [{ node_id: '1', class_type: 'EmptyImage', errors: [{ type: 'value_smaller_than_min', input_name: 'width' }] }],
    });
    expect(sim.stats().totalExecutions).toBe(0);
  });

  it("refuses out-of-range numbers as ComfyUI's validation does (EmptyImage width, height, batch_size): WORKFLOW_NODE_ERROR", async () => {
    const { sim, backend } = await setup();
    const cases: Array<[string, number, string, string]> = [
      ['width', 99999, 'value_bigger_than_max', 'Value 99999 bigger than max of 16384'],
      ['height', 16385, 'value_bigger_than_max', 'Value 16385 bigger than max of 16384'],
      ['batch_size', 0, 'value_smaller_than_min', 'Value 0 smaller than min of 1'],
      ['batch_size', 4097, 'value_bigger_than_max', 'Value 4097 bigger than max of 4096'],
    ];
    for (const [input, value, type, message] of cases) {
      const prompt = tinyPrompt();
      prompt['1']!.inputs[input] = value;
      const error = await backend.submit({ promptId: randomUUID(), prompt, jobId: `job-${input}-${value}` }).catch((e: unknown) => e);
      expect(error, `${input} ${value}`).toMatchObject({ code: ErrorCode.WORKFLOW_NODE_ERROR, recoverable: false });
      expect((error as ChorusError).message).toContain(`node 1 (EmptyImage): ${input}: ${message}`);
      expect((error as ChorusError).details).toMatchObject({
        error: { type: 'prompt_outputs_failed_validation' },
        nodes: [{ node_id: '1', class_type: 'EmptyImage', errors: [{ type, input_name: input }] }],
      });
    }
    expect(sim.stats().totalExecutions).toBe(0);
  });

  it('withdraws a prompt ComfyUI accepted with an invalid output dropped (200 + node_errors) and refuses it as WORKFLOW_NODE_ERROR', async () => {
    // A first prompt holds the queue, so the partly valid one is still pending when withdrawn.
    const { sim, backend } = await setup({ nodeDelayMs: 250 });
    const first = randomUUID();
    await backend.submit({ promptId: first, prompt: tinyPrompt(8), jobId: 'job-first' });
    // The shape of workflows/no_model_test.json: the text preview is valid, the image is not.
    const prompt: ApiPrompt = {
      '1': { class_type: 'PrimitiveString', inputs: { value: 'a red square' } },
      '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
      '3': { class_type: 'EmptyImage', inputs: { width: 99999, height: 64, batch_size: 1, color: 0 } },
      '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'partial' } },
    };
    const promptId = randomUUID();
    const error = await backend.submit({ promptId, prompt, jobId: 'job-partial' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChorusError);
    expect(error).toMatchObject({ code: ErrorCode.WORKFLOW_NODE_ERROR, recoverable: false });
    expect((error as ChorusError).message).toBe(
      'ComfyUI sim dropped output node 4 of the prompt as invalid (the rest was withdrawn): node 3 (EmptyImage): width: Value 99999 bigger than max of 16384',
    );
    expect((error as ChorusError).details).toMatchObject({
      prompt_id: promptId,
      withdrawn: true,
      dropped_outputs: ['4'],
      nodes: [{ node_id: '3', class_type: 'EmptyImage', errors: [{ type: 'value_bigger_than_max', input_name: 'width' }] }],
    });
    expect(await backend.locate(promptId)).toEqual({ where: 'absent' });
    expect((await watch(backend, first).done).type).toBe('succeeded');
    expect(sim.stats().executions[promptId]).toBeUndefined();
  });

  it('reports an execution error with the exception details', async () => {
    const { sim, backend } = await setup();
    sim.faults.failNodeClass('SaveImage');
    const promptId = randomUUID();
    await backend.submit({ promptId, prompt: tinyPrompt(), jobId: 'job-fail' });
    const end = await watch(backend, promptId).done;
    expect(end).toMatchObject({ type: 'failed', failure: { nodeId: '2', nodeType: 'SaveImage' } });
    expect(end.type === 'failed' && end.failure.exceptionMessage).toContain('Simulated failure');
  });

  it('interrupts only the named prompt: a pending one is untouched, the running one stops', async () => {
    const { sim, backend } = await setup({ nodeDelayMs: 300 });
    const running = randomUUID();
    const pending = randomUUID();
    await backend.submit({ promptId: running, prompt: tinyPrompt(1), jobId: 'job-run' });
    await backend.submit({ promptId: pending, prompt: tinyPrompt(2), jobId: 'job-pend' });
    const runningWatch = watch(backend, running, (event) => {
      if (event.type === 'executing' && event.node === '1') {
        void backend.interrupt(pending).then(() => backend.interrupt(running));
      }
    });
    const pendingWatch = watch(backend, pending);
    expect(await runningWatch.done).toMatchObject({ type: 'interrupted', promptId: running });
    expect(await pendingWatch.done).toMatchObject({ type: 'succeeded', promptId: pending });
    expect(sim.stats().executions[pending]).toBe(1);
  });

  it('deletes a pending prompt from the queue; watching it then reports it lost', async () => {
    const { sim, backend } = await setup({ nodeDelayMs: 250 });
    const first = randomUUID();
    const second = randomUUID();
    await backend.submit({ promptId: first, prompt: tinyPrompt(3), jobId: 'job-1' });
    await backend.submit({ promptId: second, prompt: tinyPrompt(4), jobId: 'job-2' });
    expect(await backend.locate(second)).toEqual({ where: 'pending', position: 0 });
    await backend.deleteFromQueue(second);
    expect(await backend.locate(second)).toEqual({ where: 'absent' });
    const firstWatch = watch(backend, first);
    expect(await watch(backend, second).done).toEqual({ type: 'lost', promptId: second });
    expect((await firstWatch.done).type).toBe('succeeded');
    expect(sim.stats().executions[second]).toBeUndefined();
  });

  it('still sees completion through polling when the socket goes silent mid-run', async () => {
    const { sim, backend } = await setup({ nodeDelayMs: 150 });
    const promptId = randomUUID();
    await backend.submit({ promptId, prompt: tinyPrompt(5), jobId: 'job-silent' });
    let receivedAt = 0;
    const { events, done } = watch(backend, promptId, (event) => {
      if (event.type === 'executing' && event.node === '1') sim.faults.dropSocketsSilently();
      if (terminal.has(event.type)) receivedAt = Date.now();
    });
    const end = await done;
    expect(end.type).toBe('succeeded');
    // The socket never told us: no 'executed' after the drop, the outcome came from /history.
    expect(events.some((event) => event.type === 'executed')).toBe(false);
    expect(backend.socket.state).toBe('open');
    // `at` is the server's execution_success timestamp: seen within two (max) poll intervals.
    const lagMs = end.type === 'succeeded' ? receivedAt - end.at : Infinity;
    expect(lagMs).toBeLessThanOrEqual(2 * 200);
  });

  it('detects a prompt lost in a backend restart', async () => {
    const { sim, backend } = await setup({ nodeDelayMs: 2_000 });
    const promptId = randomUUID();
    await backend.submit({ promptId, prompt: tinyPrompt(6), jobId: 'job-restart' });
    const { events, done } = watch(backend, promptId, (event) => {
      if (event.type === 'started') void sim.restart();
    });
    expect(await done).toEqual({ type: 'lost', promptId });
    expect(events.filter((event) => terminal.has(event.type))).toHaveLength(1);
    expect(events[0]?.type).toBe('started');
    expect(await backend.locate(promptId)).toEqual({ where: 'absent' });
  });

  it('replays socket messages that arrived before the watch started, and reports old prompts from history', async () => {
    const { backend } = await setup();
    const promptId = randomUUID();
    await backend.submit({ promptId, prompt: tinyPrompt(7), jobId: 'job-late' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // long finished by now
    const { events, done } = watch(backend, promptId);
    expect((await done).type).toBe('succeeded');
    expect(events[0]?.type).toBe('started');
  });
});
