/**
 * GPU handoff against real servers: the ComfyUI simulator, a small fake Ollama that records
 * every call, SQLite in a temp folder. The order compose → unload → submit → … → /free holds;
 * back-to-back jobs unload once; when_idle frees once after the last job of a burst; a refused
 * unload does not fail the job; with handoff off nothing of this happens.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp } from '../../src/app/chorus-visual-app.js';
import type { JobRuntime } from '../../src/app/job-runtime.js';
import { ComfyBackendClient, type ComfyBackend } from '../../src/comfy/index.js';
import { parseServiceConfig, type ResolvedConfig } from '../../src/config/index.js';
import type { JobView } from '../../src/contracts/index.js';
import type { JobService } from '../../src/jobs/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { startFakeOllamaServer, type FakeOllamaServer } from '../support/fake-ollama-server.js';

interface Rig {
  sim: SimulatorHandle;
  ollama: FakeOllamaServer;
  runtime: JobRuntime;
  /** ollama:* and comfy:* calls in the order they happened. */
  log: string[];
  /** The service's HTTP API (for /metrics). */
  httpUrl: string;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The real backend client, recording submit and /free into the shared log. */
function recording(client: ComfyBackend, log: string[]): ComfyBackend {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'submit') {
        return (request: Parameters<ComfyBackend['submit']>[0]) => {
          log.push('comfy:submit');
          return target.submit(request);
        };
      }
      if (prop === 'freeMemory') {
        return () => {
          log.push('comfy:free');
          return target.freeMemory!();
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function rig(opts: { handoff?: Record<string, unknown> | ((ollamaUrl: string) => Record<string, unknown>); maxConcurrent?: number } = {}): Promise<Rig> {
  const log: string[] = [];
  const sim = await startSimulator({ stepDelayMs: 1, nodeDelayMs: 1, previews: false });
  cleanups.push(() => sim.close());
  const ollama = await startFakeOllamaServer(log);
  cleanups.push(() => ollama.close());
  const handoff = typeof opts.handoff === 'function' ? opts.handoff(ollama.url) : opts.handoff;
  const dir = await mkdtemp(join(tmpdir(), 'gpu-handoff-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const config: ResolvedConfig = parseServiceConfig({
    comfyui: {
      backends: [
        { name: 'sim', url: sim.url, max_concurrent: opts.maxConcurrent ?? 1, output_directory: sim.outputDir, ...(handoff ? { gpu_handoff: handoff } : {}) },
      ],
      timeout_seconds: 30,
    },
    llm: { base_url: `${ollama.url}/v1`, model: 'llama3.1', timeout_ms: 5_000 },
    data_dir: join(dir, 'data'),
    database: { url: `sqlite:${join(dir, 'jobs.db')}` },
    nats: { enabled: false },
    http: { port: 0 },
  });
  const client = new ComfyBackendClient(config.resolvedBackends[0]!, { pollInitialMs: 200, pollMaxMs: 1_000 });
  await client.start();
  cleanups.push(() => client.close());
  const app = await startApp({ config, bus: 'memory', http: true, runtime: { backends: [recording(client, log)] } });
  cleanups.push(() => app.stop());
  return { sim, ollama, runtime: app.runtime, log, httpUrl: app.http!.url };
}

async function finished(service: JobService, jobId: string): Promise<JobView> {
  return new Promise<JobView>((resolve, reject) => {
    let off = () => {};
    const check = (job: JobView) => {
      if (job.state === 'completed' || job.state === 'failed' || job.state === 'cancelled') {
        off();
        resolve(job);
      }
    };
    off = service.on('transition', (n) => n.jobId === jobId && check(n.job));
    service.get(jobId).then(({ job }) => check(job), reject);
  });
}

const composed = {
  conversation_id: 'c1',
  character: 'nova',
  user_request: 'reading by the window',
  priority: 0,
  strict_llm: false,
  parameters: { width: 64, height: 64 },
};
const callerPrompt = (i: number) => ({
  conversation_id: 'c1',
  workflow: 'nova_portrait',
  prompt: `a lighthouse, take ${i}`,
  priority: 0,
  strict_llm: false,
  parameters: { width: 64, height: 64 },
});
const handoffOn = { llm: 'ollama', free_comfyui: 'after_each' };

async function debugOf(service: JobService, jobId: string) {
  const { debug, events } = await service.get(jobId, { debug: true });
  return {
    steps: (debug?.['gpu_handoff'] ?? []) as Array<{ step: string; outcome: string; ms: number; detail: string | null }>,
    events: events.map((e) => e.type),
  };
}

describe('GPU handoff with the simulator and a fake Ollama', () => {
  it('runs compose → unload the LLM → submit → … → collect → POST /free, each step on the timeline', async () => {
    const { runtime, log, sim, httpUrl } = await rig({ handoff: handoffOn });
    const { job } = await runtime.service.generate(composed);
    const done = await finished(runtime.service, job.id);
    expect(done.state).toBe('completed');
    expect(done.prompt_source).toBe('llm');
    expect(log).toEqual(['ollama:chat', 'ollama:unload:llama3.1', 'comfy:submit', 'comfy:free']);
    expect(sim.stats().frees).toBe(1);

    const { steps, events } = await debugOf(runtime.service, job.id);
    expect(steps.map((s) => [s.step, s.outcome])).toEqual([
      ['llm_unload', 'done'],
      ['comfy_free', 'done'],
    ]);
    for (const s of steps) expect(s.ms).toBeGreaterThanOrEqual(0);
    // The timeline: the handoff steps are transitions of their own, so each has a duration.
    expect(events.indexOf('freeing_llm')).toBeGreaterThan(events.indexOf('waiting'));
    expect(events.indexOf('submitting')).toBe(events.indexOf('freeing_llm') + 1);
    expect(events.indexOf('freeing_comfy')).toBe(events.indexOf('moving') + 1);
    expect(events.at(-1)).toBe('completed');

    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    expect(text).toMatch(/chorus_visual_gpu_handoff_seconds_total\{[^}]*backend="sim",step="llm_unload"[^}]*\} [0-9.e-]+/);
    expect(text).toMatch(/chorus_visual_gpu_handoff_steps_total\{[^}]*backend="sim",step="llm_unload",outcome="done"[^}]*\} 1/);
    expect(text).toMatch(/chorus_visual_gpu_handoff_steps_total\{[^}]*step="comfy_free",outcome="done"[^}]*\} 1/);
    expect(text).toMatch(/chorus_visual_slot_grants_total\{[^}]*backend="sim"[^}]*\} 1/);
    expect(text).toMatch(/chorus_visual_model_switches_total\{[^}]*backend="sim"[^}]*\} 0/);
    expect(text).toMatch(/chorus_visual_affinity_grants_ahead_total\{[^}]*backend="sim"[^}]*\} 0/);
  });

  it('a job that fails in ComfyUI still ends the burst: when_idle frees ComfyUI after it', async () => {
    const { runtime, log, sim } = await rig({ handoff: { llm: 'ollama' } });
    sim.faults.failNodeClass('KSampler');
    const { job } = await runtime.service.generate(callerPrompt(1));
    const done = await finished(runtime.service, job.id);
    expect(done.error?.code).toBe('EXECUTION_ERROR');
    await expect.poll(() => sim.stats().frees, { timeout: 5_000 }).toBe(1);
    expect(log).toEqual(['ollama:unload:llama3.1', 'comfy:submit', 'comfy:free']);
    expect(runtime.service.handoff?.counters()).toContainEqual(expect.objectContaining({ step: 'comfy_free', outcome: 'done', count: 1 }));
  });

  it('llm: http makes the configured call (here a GET, as for llama-swap) before the prompt is sent', async () => {
    const { runtime, ollama, log } = await rig({ handoff: (url) => ({ llm: 'http', http: { method: 'GET', url: `${url}/api/ps` }, free_comfyui: 'never' }) });
    const { job } = await runtime.service.generate(callerPrompt(1));
    expect((await finished(runtime.service, job.id)).state).toBe('completed');
    expect(log).toEqual(['ollama:ps', 'comfy:submit']);
    expect(ollama.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /api/ps']);
    expect((await debugOf(runtime.service, job.id)).steps[0]).toMatchObject({
      step: 'llm_unload',
      outcome: 'done',
      detail: expect.stringContaining('answered HTTP 200'),
    });
  });

  it('llm: http to a server that refuses the connection: a failed step with the reason, the job completes', async () => {
    const { runtime } = await rig({ handoff: { llm: 'http', http: { method: 'GET', url: 'http://127.0.0.1:1/unload' }, free_comfyui: 'never' } });
    const { job } = await runtime.service.generate(callerPrompt(1));
    expect((await finished(runtime.service, job.id)).state).toBe('completed');
    const failed = (await debugOf(runtime.service, job.id)).steps[0];
    expect(failed).toMatchObject({ step: 'llm_unload', outcome: 'failed' });
    expect(failed?.detail).toContain('GET http://127.0.0.1:1/unload failed');
  });

  it('unload: loaded with nothing loaded asks /api/ps and skips the unload', async () => {
    const { runtime, ollama, log } = await rig({ handoff: { llm: 'ollama', ollama: { unload: 'loaded' }, free_comfyui: 'never' } });
    const { job } = await runtime.service.generate(callerPrompt(1));
    expect((await finished(runtime.service, job.id)).state).toBe('completed');
    expect(log).toEqual(['ollama:ps', 'comfy:submit']);
    expect((await debugOf(runtime.service, job.id)).steps[0]).toMatchObject({ outcome: 'skipped', detail: 'ollama has no model loaded' });
    expect(ollama.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /api/ps']);
  });

  it('back-to-back jobs unload the LLM once; when_idle frees ComfyUI once, after the last of the burst', async () => {
    const { runtime, log, sim } = await rig({ handoff: { llm: 'ollama' } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await runtime.service.generate(callerPrompt(i))).job.id);
    const done = await Promise.all(ids.map((id) => finished(runtime.service, id)));
    expect(done.map((j) => j.state)).toEqual(['completed', 'completed', 'completed']);
    expect(log).toEqual(['ollama:unload:llama3.1', 'comfy:submit', 'comfy:submit', 'comfy:submit', 'comfy:free']);
    expect(sim.stats().frees).toBe(1);

    const steps = await Promise.all(ids.map(async (id) => (await debugOf(runtime.service, id)).steps));
    expect(steps[0]!.find((s) => s.step === 'llm_unload')?.outcome).toBe('done');
    for (const later of steps.slice(1)) expect(later.find((s) => s.step === 'llm_unload')?.outcome).toBe('skipped');
    expect(steps.flat().filter((s) => s.step === 'comfy_free' && s.outcome === 'done')).toHaveLength(1);
  });

  it('a refused unload call is a warning: the job still runs and completes', async () => {
    const { runtime, log, ollama } = await rig({ handoff: handoffOn });
    ollama.refuseUnload(500);
    const { job } = await runtime.service.generate(composed);
    const done = await finished(runtime.service, job.id);
    expect(done.state).toBe('completed');
    expect(done.error).toBeNull();
    expect(log).toEqual(['ollama:chat', 'ollama:unload:llama3.1', 'comfy:submit', 'comfy:free']);
    const unload = (await debugOf(runtime.service, job.id)).steps.find((s) => s.step === 'llm_unload');
    expect(unload?.outcome).toBe('failed');
    expect(unload?.detail).toContain('HTTP 500');
    expect(runtime.service.handoff?.counters()).toContainEqual(expect.objectContaining({ step: 'llm_unload', outcome: 'failed', count: 1 }));
  });

  it('unload: loaded asks /api/ps and unloads what it lists', async () => {
    const { runtime, log, ollama } = await rig({ handoff: { llm: 'ollama', ollama: { unload: 'loaded' }, free_comfyui: 'never' } });
    const { job } = await runtime.service.generate(composed);
    expect((await finished(runtime.service, job.id)).state).toBe('completed');
    expect(log).toEqual(['ollama:chat', 'ollama:ps', 'ollama:unload:llama3.1', 'comfy:submit']);
    expect(ollama.loaded.size).toBe(0);
    const { steps, events } = await debugOf(runtime.service, job.id);
    // free_comfyui: never — the step is not entered at all.
    expect(steps.map((s) => [s.step, s.outcome])).toEqual([['llm_unload', 'done']]);
    expect(events).toContain('freeing_llm');
    expect(events).not.toContain('freeing_comfy');
  });

  it('with handoff off nothing of this happens', async () => {
    const { runtime, log, sim } = await rig();
    const { job } = await runtime.service.generate(composed);
    expect((await finished(runtime.service, job.id)).state).toBe('completed');
    expect(log).toEqual(['ollama:chat', 'comfy:submit']);
    expect(sim.stats().frees).toBe(0);
    const { steps, events } = await debugOf(runtime.service, job.id);
    expect(steps).toEqual([]);
    expect(events.some((e) => e.startsWith('freeing'))).toBe(false);
    expect(runtime.service.handoff).toBeUndefined();
  });
});
