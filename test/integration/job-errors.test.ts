/**
 * Failures reach the caller as stable codes with messages a person can act on: each job
 * below fails for one reason, against the real simulator, store, collector and workflows.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateCommandSchema, type GenerateCommandInput } from '../../src/commands/command-schemas.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { ChorusError, ErrorCode, errorCatalogue } from '../../src/errors/index.js';
import { createJobRuntime, type JobRuntime } from '../../src/app/job-runtime.js';
import { finalStates, type JobView } from '../../src/contracts/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';

let sim: SimulatorHandle;
let root: string;
const runtimes: JobRuntime[] = [];

beforeAll(async () => {
  sim = await startSimulator({ stepDelayMs: 2, nodeDelayMs: 1 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  sim.faults.succeedWithoutOutputs(false);
  sim.faults.failNodeClass(null);
  sim.faults.executionDelayMs(0);
  if (root) await rm(root, { recursive: true, force: true });
});

async function runtimeWith(comfyui: Record<string, unknown> = {}): Promise<JobRuntime> {
  root = await mkdtemp(join(tmpdir(), 'cv-job-errors-'));
  const workflows = join(root, 'workflows');
  await mkdir(workflows);
  await copyFile('workflows/no_model_test.json', join(workflows, 'no_model_test.json'));
  // Valid for our structural checks, refused by ComfyUI: a LoRA the server does not have.
  await writeFile(
    join(workflows, 'missing_lora.json'),
    JSON.stringify({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
      '2': {
        class_type: 'LoraLoader',
        inputs: { model: ['1', 0], clip: ['1', 1], lora_name: 'no_such_lora.safetensors', strength_model: 1, strength_clip: 1 },
      },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'PROMPT_PLACEHOLDER', clip: ['2', 1] } },
      '4': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
      '5': {
        class_type: 'KSampler',
        inputs: {
          model: ['2', 0],
          positive: ['3', 0],
          negative: ['3', 0],
          latent_image: ['4', 0],
          seed: 1,
          steps: 2,
          cfg: 1,
          sampler_name: 'euler',
          scheduler: 'normal',
          denoise: 1,
        },
      },
      '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
      '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'bad' } },
    }),
  );
  // no_model_test with a width over EmptyImage's max: ComfyUI accepts the prompt (its text
  // preview is valid) and drops the SaveImage that depends on the EmptyImage.
  const tooWide = JSON.parse(await readFile('workflows/no_model_test.json', 'utf8')) as Record<string, { inputs?: Record<string, unknown> }>;
  tooWide['3']!.inputs!['width'] = 99999;
  await writeFile(join(workflows, 'too_wide.json'), JSON.stringify(tooWide));
  const config = parseServiceConfig({
    comfyui: {
      backends: [{ name: 'sim', url: sim.url, max_concurrent: 2, output_directory: sim.outputDir }],
      queue: { max_queue_size: 10 },
      polling: { initial_interval_seconds: 0.1, max_interval_seconds: 0.3 },
      ...comfyui,
    },
    data_dir: join(root, 'data'),
    workflows_dir: workflows,
    database: { url: `sqlite:${join(root, 'jobs.db')}` },
    nats: { enabled: false },
  });
  const runtime = await createJobRuntime(config, { cancelConfirmMs: 1_000 });
  runtimes.push(runtime);
  return runtime;
}

async function runToEnd(runtime: JobRuntime, command: GenerateCommandInput): Promise<JobView> {
  const { job } = await runtime.service.generate(generateCommandSchema.parse(command));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { job: now } = await runtime.service.get(job.id);
    if (finalStates.has(now.state)) return now;
    if (Date.now() > deadline) throw new Error(`job stuck in ${now.substate ?? now.state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const simple = (extra: Partial<GenerateCommandInput> = {}): GenerateCommandInput => ({
  conversation_id: 'c-err',
  workflow: 'no_model_test',
  prompt: 'a red square',
  ...extra,
});

describe('error codes a caller sees', () => {
  it('every code has a catalogue entry: recoverability and a suggestion', () => {
    for (const code of Object.values(ErrorCode)) {
      expect(errorCatalogue[code].suggestion.length).toBeGreaterThan(10);
      const error = new ChorusError(code, `something about ${code}`, { details: { x: 1 } });
      expect(ChorusError.fromJSON(JSON.parse(JSON.stringify(error)))).toMatchObject({ code, recoverable: errorCatalogue[code].recoverable, details: { x: 1 } });
    }
  });

  it("an error read from a reply keeps a code this build does not know, without a catalogue entry's defaults", () => {
    const read = ChorusError.fromJSON({ code: 'SOME_NEWER_CODE' as ErrorCode, message: 'from a newer service', recoverable: true });
    expect(read).toMatchObject({ code: 'SOME_NEWER_CODE', message: 'from a newer service', recoverable: true, suggestion: undefined });
    expect(read.toJSON()).toEqual({ code: 'SOME_NEWER_CODE', message: 'from a newer service', recoverable: true });
  });

  it('WORKFLOW_NOT_FOUND names the workflows that exist, and nothing is persisted', async () => {
    const runtime = await runtimeWith();
    const error = await runtime.service.generate(generateCommandSchema.parse(simple({ workflow: 'nope' }))).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', details: { available: expect.arrayContaining(['no_model_test']) } });
    expect((error as Error).message).toMatch(/nope/);
    expect(await runtime.store.countJobs()).toBe(0);
  });

  it('a name with a dot is that name: no_model_test.v2 is not no_model_test, for generate and validate alike', async () => {
    const runtime = await runtimeWith();
    for (const workflow of ['no_model_test.v2', 'no_model_test.evil']) {
      const error = await runtime.service.generate(generateCommandSchema.parse(simple({ workflow }))).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'WORKFLOW_NOT_FOUND', details: { workflow } });
      await expect((async () => runtime.commands.validate({ workflow }))()).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND', details: { workflow } });
    }
    expect(await runtime.store.countJobs()).toBe(0);
  });

  it('CHARACTER_NOT_FOUND for an unknown character', async () => {
    const runtime = await runtimeWith();
    const error = await runtime.service
      .generate(generateCommandSchema.parse({ conversation_id: 'c', character: 'zed', user_request: 'hi' }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CHARACTER_NOT_FOUND' });
    expect((error as Error).message).toMatch(/zed/);
  });

  it('QUEUE_FULL beyond max_queue_size, with nothing persisted', async () => {
    const runtime = await runtimeWith({ queue: { max_queue_size: 2 } });
    sim.faults.executionDelayMs(2_000);
    await runtime.service.generate(generateCommandSchema.parse(simple()));
    await runtime.service.generate(generateCommandSchema.parse(simple()));
    const error = await runtime.service.generate(generateCommandSchema.parse(simple())).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'QUEUE_FULL', recoverable: true, details: { max_queue_size: 2 } });
    expect(await runtime.store.countJobs()).toBe(2);
  });

  it('WORKFLOW_NODE_ERROR when ComfyUI refuses the graph, naming the node and input', async () => {
    const runtime = await runtimeWith();
    const job = await runToEnd(runtime, simple({ workflow: 'missing_lora' }));
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'WORKFLOW_NODE_ERROR', recoverable: false });
    expect(job.error!.message).toMatch(/node 2 \(LoraLoader\).*lora_name/);
    expect(job.error!.suggestion).toMatch(/LoRAs exist/);
  });

  it('WORKFLOW_NODE_ERROR, not NO_OUTPUT, when ComfyUI runs the prompt without its invalid image output', async () => {
    const runtime = await runtimeWith();
    const job = await runToEnd(runtime, simple({ workflow: 'too_wide' }));
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'WORKFLOW_NODE_ERROR', recoverable: false });
    expect(job.error!.message).toMatch(/node 3 \(EmptyImage\): width: Value 99999 bigger than max of 16384/);
  });

  it('EXECUTION_ERROR carries the node and the exception', async () => {
    const runtime = await runtimeWith();
    sim.faults.failNodeClass('EmptyImage');
    const job = await runToEnd(runtime, simple());
    expect(job.error).toMatchObject({ code: 'EXECUTION_ERROR' });
    expect(job.error!.message).toMatch(/EmptyImage/);
    expect(JSON.stringify(job.error!.details)).toMatch(/Simulated failure/);
  });

  it('NO_OUTPUT when ComfyUI succeeds without any file', async () => {
    const runtime = await runtimeWith();
    sim.faults.succeedWithoutOutputs(true);
    const job = await runToEnd(runtime, simple());
    expect(job.error).toMatchObject({ code: 'NO_OUTPUT' });
  });

  it('GENERATION_TIMEOUT counted from execution start: interrupts only this prompt', async () => {
    const runtime = await runtimeWith({ timeout_seconds: 0.5 });
    sim.faults.executionDelayMs(3_000);
    const job = await runToEnd(runtime, simple());
    expect(job.error).toMatchObject({ code: 'GENERATION_TIMEOUT' });
    expect(job.error!.message).toMatch(/0\.5|500/);
  });

  it('COMFY_LOST when ComfyUI restarts and forgets the prompt (no resubmits allowed)', async () => {
    const runtime = await runtimeWith({ max_resubmits: 0 });
    sim.faults.executionDelayMs(3_000);
    const { job } = await runtime.service.generate(generateCommandSchema.parse(simple()));
    for (let i = 0; i < 200 && (await runtime.service.get(job.id)).job.state !== 'processing'; i += 1) await new Promise((r) => setTimeout(r, 20));
    await sim.restart();
    sim.faults.executionDelayMs(0);
    let final: JobView = job;
    for (let i = 0; i < 500 && !finalStates.has(final.state); i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      final = (await runtime.service.get(job.id)).job;
    }
    expect(final.error).toMatchObject({ code: 'COMFY_LOST', recoverable: true });
  });
});
