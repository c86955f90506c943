/**
 * Benchmark 6 — model affinity: two characters on two different models (Nova on FLUX, Alex on
 * SDXL), requests alternating, one simulated ComfyUI whose model load costs
 * BENCH_MODEL_LOAD_MS (default 4000 ms, a realistic checkpoint load) whenever a prompt's
 * main model differs from the previous prompt's. The same queue runs twice: in arrival order
 * (`affinity_max_skip: 0`) and with affinity at its defaults (3 turns, 60 s). Counted: model
 * loads the simulator performed (the first prompt's load included), total wall time, and the
 * most any job was passed over (the bound is `affinity_max_skip`).
 */
import { createJobRuntime } from '../src/app/job-runtime.js';
import { parseServiceConfig } from '../src/config/index.js';
import type { GenerateCommand } from '../src/commands/index.js';
import type { JobView } from '../src/contracts/index.js';
import { startSimulator } from '../src/simulator/index.js';
import { createBenchDir, nowMs } from './bench-environment.js';
import type { BenchResult, Cell } from './result-table.js';

export interface AffinityBenchOptions {
  jobs?: number;
  modelLoadMs?: number;
}

const maxSkip = 3;
const maxWaitSeconds = 60;

/** Alternating Nova (FLUX UNet) and Alex (SDXL checkpoint), prompts given so no LLM is needed. */
function mixedJob(index: number): GenerateCommand {
  const character = index % 2 === 0 ? 'nova' : 'alex';
  return {
    conversation_id: `affinity-${index % 4}`,
    character,
    prompt: `${character}, portrait ${index}`,
    priority: 0,
    strict_llm: false,
    parameters: { width: 64, height: 64, steps: 10 },
  } as GenerateCommand;
}

async function runQueue(jobs: number, modelLoadMs: number, affinityMaxSkip: number): Promise<Record<string, Cell>> {
  // Only the two base models cost a load: a swap between the characters costs one load time.
  const sim = await startSimulator({
    stepDelayMs: 20,
    nodeDelayMs: 1,
    previews: false,
    modelLoadMs: { 'flux1-dev.safetensors': modelLoadMs, 'sd_xl_base_1.0.safetensors': modelLoadMs },
  });
  const dir = await createBenchDir('affinity');
  const config = parseServiceConfig({
    comfyui: {
      backends: [{ name: 'gpu0', url: sim.url, max_concurrent: 2, output_directory: sim.outputDir }],
      queue: { max_queue_size: jobs + 10 },
      affinity_max_skip: affinityMaxSkip,
      affinity_max_wait_seconds: maxWaitSeconds,
      timeout_seconds: 600,
    },
    data_dir: `${dir.path}/data`,
    database: { url: `sqlite:${dir.path}/jobs.db` },
    nats: { enabled: false },
  });
  const runtime = await createJobRuntime(config);
  try {
    const finals = new Map<string, JobView>();
    let resolveAll!: () => void;
    const allDone = new Promise<void>((resolve) => (resolveAll = resolve));
    const off = runtime.service.on('transition', (n) => {
      if (n.job.state === 'completed' || n.job.state === 'failed' || n.job.state === 'cancelled') {
        finals.set(n.jobId, n.job);
        if (finals.size === jobs) resolveAll();
      }
    });
    const startedAt = nowMs();
    const ids: string[] = [];
    for (let i = 0; i < jobs; i++) ids.push((await runtime.service.generate(mixedJob(i))).job.id);
    await allDone;
    const wallMs = nowMs() - startedAt;
    off();
    const passedOver = await Promise.all(
      ids.map(async (id) => {
        const { debug } = await runtime.service.get(id, { debug: true });
        return ((debug?.['affinity'] as { passedOver?: number } | null)?.passedOver ?? 0) as number;
      }),
    );
    const stats = sim.stats();
    const completed = [...finals.values()].filter((j) => j.state === 'completed').length;
    return {
      affinity: affinityMaxSkip === 0 ? 'off (arrival order)' : `on (max_skip ${affinityMaxSkip})`,
      completed,
      model_loads: stats.modelLoads,
      swaps: Math.max(0, stats.modelLoads - 1),
      load_time_s: stats.modelLoadMs / 1000,
      wall_s: wallMs / 1000,
      max_passed_over: Math.max(...passedOver),
      switches_seen_by_scheduler: runtime.service.scheduler.affinityCounters()[0]?.switches ?? 0,
    };
  } finally {
    await runtime.stop();
    await sim.close();
    await dir.remove();
  }
}

export async function runAffinityBench(options: AffinityBenchOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 40;
  const modelLoadMs = options.modelLoadMs ?? Number(process.env['BENCH_MODEL_LOAD_MS'] ?? 4000);
  const off = await runQueue(jobs, modelLoadMs, 0);
  const on = await runQueue(jobs, modelLoadMs, maxSkip);
  const fewer = (Number(off['swaps']) - Number(on['swaps'])) / Math.max(1, Number(off['swaps']));
  const withinBound = Number(on['max_passed_over']) <= maxSkip;
  return {
    name: 'affinity',
    setup: {
      jobs,
      characters: 2,
      backends: 1,
      max_concurrent: 2,
      model_load_ms: modelLoadMs,
      affinity_max_skip: maxSkip,
      affinity_max_wait_seconds: maxWaitSeconds,
    },
    rows: [off, on, { affinity: 'fewer swaps with affinity', swaps: Number((fewer * 100).toFixed(1)) }],
    target: {
      description: '≥ 40 % fewer swaps with affinity on, no job passed over more than affinity_max_skip times',
      met: fewer >= 0.4 && withinBound && off['completed'] === jobs && on['completed'] === jobs,
    },
    notes: [
      'swaps: model loads after the first prompt (the simulator loads when a prompt’s model files differ from the previous prompt’s); the last row is the reduction in %',
      'max_passed_over: the most times younger jobs went ahead of one job (each job’s debug document, `affinity.passedOver`)',
      'only the two base models cost load time here; LoRA, CLIP and VAE files load for free in this setup',
    ],
  };
}
