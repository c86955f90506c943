/**
 * GPU handoff between the chat LLM and ComfyUI, per backend (docs/gpu-sharing.md). Before a
 * prompt is sent, the LLM is asked to unload; after a job, ComfyUI is asked to `POST /free`
 * when the backend's rule says so. The job machine runs each step as a sub-state
 * (`queued.freeingLlm`, `moving.freeingComfy`), so the timeline shows it with its duration;
 * this module decides what each step does and never throws: a failed unload is a warning.
 *
 * Once per burst: after a successful unload the LLM counts as freed until our composer uses
 * it again or the backend goes idle (nothing in ComfyUI, nothing waiting: the chat may have
 * used the LLM since), so jobs queued back to back unload it once.
 */
import type { GpuHandoffPlan, GpuHandoffStep } from '../../machines/job-types.js';
import type { BackendConfig } from '../config/index.js';
import type { LlmUnloader } from '../prompts/llm-unloader.js';
import type { Clock } from './clock.js';
import type { StructuredLogger } from '../contracts/structured-logger.js';
import type { BackendPoolPort } from './job-runtime-ports.js';

export interface GpuHandoffDeps {
  backends: Pick<BackendConfig, 'name' | 'gpu_handoff'>[];
  /** The unloader each backend's `gpu_handoff.llm` names (null: `none`). */
  unloaderFor(backend: string): LlmUnloader | null;
  pool: Pick<BackendPoolPort, 'get'>;
  /** Our jobs that hold or wait for a slot on this backend (nothing: it is idle). */
  busy(backend: string): boolean;
  clock: Clock;
  logger: StructuredLogger;
}

/** One row of the `/metrics` counters. */
export interface GpuHandoffCount {
  backend: string;
  step: GpuHandoffStep['step'];
  outcome: GpuHandoffStep['outcome'];
  count: number;
  seconds: number;
}

export class GpuHandoff {
  /** Backends whose LLM is unloaded and has not been used since. */
  private readonly llmFreed = new Set<string>();
  private readonly unloading = new Map<string, Promise<GpuHandoffStep>>();
  /** Counts our composer's LLM uses: an unload that a use overtook does not count as freed. */
  private llmUses = 0;
  /** Backends that ran a prompt since their last `/free`. */
  private readonly comfyUsed = new Set<string>();
  private readonly counts = new Map<string, GpuHandoffCount>();
  private readonly configs: Map<string, BackendConfig['gpu_handoff']>;

  constructor(private readonly deps: GpuHandoffDeps) {
    this.configs = new Map(deps.backends.map((b) => [b.name, b.gpu_handoff]));
  }

  /** What the granted backend asks for; null when its handoff is off. */
  planFor(backend: string): GpuHandoffPlan | null {
    const config = this.configs.get(backend);
    if (!config) return null;
    return { freeLlm: config.llm !== 'none', freeComfy: config.free_comfyui !== 'never' };
  }

  /** Our composer wrote a prompt with the LLM: it holds GPU memory again. */
  noteLlmUsed(): void {
    this.llmUses++;
    this.llmFreed.clear();
  }

  noteComfyUsed(backend: string): void {
    this.comfyUsed.add(backend);
  }

  /** Nothing of ours in or waiting for this backend: the next burst unloads the LLM again. */
  noteIdle(backend: string): void {
    this.llmFreed.delete(backend);
  }

  /** queued.freeingLlm. Jobs granted together share one unload call. */
  freeLlm(jobId: string, backend: string): Promise<GpuHandoffStep> {
    const at = this.deps.clock.now();
    const inFlight = this.unloading.get(backend);
    if (inFlight)
      return inFlight.then((step) =>
        this.finish(jobId, {
          ...step,
          outcome: 'joined',
          at,
          ms: this.deps.clock.now() - at,
          detail: `shared the unload another job started (${step.outcome})`,
        }),
      );
    const unloader = this.deps.unloaderFor(backend);
    if (!unloader) return Promise.resolve(this.finish(jobId, this.step('llm_unload', backend, at, 'skipped', 'gpu_handoff.llm is none')));
    if (this.llmFreed.has(backend)) {
      return Promise.resolve(this.finish(jobId, this.step('llm_unload', backend, at, 'skipped', 'already unloaded for this burst; not used since')));
    }
    const usesBefore = this.llmUses;
    const running = unloader.unload().then(
      (result) => {
        if (this.llmUses === usesBefore) this.llmFreed.add(backend);
        return this.step('llm_unload', backend, at, result.outcome, result.detail);
      },
      (error: unknown) => this.step('llm_unload', backend, at, 'failed', `${unloader.describe}: ${(error as Error).message}`),
    );
    this.unloading.set(backend, running);
    return running.then((step) => {
      this.unloading.delete(backend);
      return this.finish(jobId, step);
    });
  }

  /** moving.freeingComfy: `after_each` always, `when_idle` once after the last job of a burst. */
  async freeComfy(jobId: string, backend: string): Promise<GpuHandoffStep> {
    const at = this.deps.clock.now();
    const rule = this.configs.get(backend)?.free_comfyui ?? 'never';
    if (rule === 'never') return this.finish(jobId, this.step('comfy_free', backend, at, 'skipped', 'gpu_handoff.free_comfyui is never'));
    if (rule === 'when_idle') {
      if (this.deps.busy(backend)) return this.finish(jobId, this.step('comfy_free', backend, at, 'skipped', 'other jobs still use or wait for this backend'));
      if (!this.comfyUsed.has(backend)) return this.finish(jobId, this.step('comfy_free', backend, at, 'skipped', 'already freed since its last prompt'));
    }
    return this.finish(jobId, await this.postFree(backend, at));
  }

  /**
   * A job that reached ComfyUI ended failed or cancelled: no `moving.freeingComfy` step ran,
   * yet the burst may be over. Frees by the same rule; logged and counted, not on a timeline.
   */
  async afterJobEnded(jobId: string, backend: string): Promise<void> {
    const rule = this.configs.get(backend)?.free_comfyui ?? 'never';
    if (rule === 'never' || !this.configs.get(backend)) return;
    if (rule === 'when_idle' && (this.deps.busy(backend) || !this.comfyUsed.has(backend))) return;
    this.finish(jobId, await this.postFree(backend, this.deps.clock.now()));
  }

  counters(): GpuHandoffCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  private async postFree(backend: string, at: number): Promise<GpuHandoffStep> {
    const comfy = this.deps.pool.get(backend);
    if (!comfy?.freeMemory) return this.step('comfy_free', backend, at, 'failed', 'this backend cannot be asked to free memory');
    // Cleared before the call: a prompt sent meanwhile marks it used again.
    this.comfyUsed.delete(backend);
    try {
      await comfy.freeMemory();
      return this.step('comfy_free', backend, at, 'done', 'POST /free {unload_models, free_memory}');
    } catch (error) {
      this.comfyUsed.add(backend);
      return this.step('comfy_free', backend, at, 'failed', `POST /free failed: ${(error as Error).message}`);
    }
  }

  private step(step: GpuHandoffStep['step'], backend: string, at: number, outcome: GpuHandoffStep['outcome'], detail: string): GpuHandoffStep {
    return { step, outcome, backend, at, ms: Math.max(0, this.deps.clock.now() - at), detail };
  }

  private finish(jobId: string, step: GpuHandoffStep): GpuHandoffStep {
    const key = `${step.backend}\u0000${step.step}\u0000${step.outcome}`;
    const count = this.counts.get(key) ?? { backend: step.backend, step: step.step, outcome: step.outcome, count: 0, seconds: 0 };
    count.count++;
    count.seconds += step.ms / 1000;
    this.counts.set(key, count);
    const fields = { job_id: jobId, backend: step.backend, step: step.step, outcome: step.outcome, ms: step.ms, detail: step.detail };
    if (step.outcome === 'failed') this.deps.logger.warn(fields, 'GPU handoff step failed; the job goes on');
    else this.deps.logger.debug(fields, 'GPU handoff step');
    return step;
  }
}
