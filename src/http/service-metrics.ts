/**
 * Prometheus metrics on a registry of our own (never prom-client's global one, so two
 * servers in one process — as in tests — do not collide). Gauges read the health sources
 * at scrape time; the duration histograms are fed from the live feed when a job ends.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { finalStates, type JobState } from '../contracts/job-view.js';
import type { FeedMessage, HealthSources } from './ports.js';

/** Seconds: from a cached re-run (sub-second) to a long video job (an hour). */
const durationBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];

/** JobView timing fields → the phase label they are reported under. */
const phases = [
  ['queue_wait', 'queue_wait_ms'],
  ['comfy_queue_wait', 'comfy_queue_wait_ms'],
  ['generation', 'generation_ms'],
  ['file_move', 'file_move_ms'],
  // Resubmissions and outages (0 for a job ComfyUI ran once while the service watched): without
  // them the phases of such a job would not add up to its total.
  ['lost', 'lost_ms'],
  ['service_down', 'service_down_ms'],
  ['total', 'total_ms'],
] as const;

export interface ServiceMetrics {
  registry: Registry;
  observe(msg: FeedMessage): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export function createServiceMetrics(health: HealthSources): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ instance_id: health.instanceId });

  new Gauge({
    name: 'chorus_visual_jobs',
    help: 'Jobs in the database by top-level state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, count] of Object.entries(await health.jobsByState())) this.set({ state }, count);
    },
  });
  new Gauge({
    name: 'chorus_visual_queue_depth',
    help: 'Jobs admitted and waiting for a prompt or a free backend slot (state queued)',
    registers: [registry],
    async collect() {
      this.set((await health.jobsByState())['queued'] ?? 0);
    },
  });
  new Gauge({
    name: 'chorus_visual_outbox_pending',
    help: 'Job events persisted but not yet published on NATS',
    registers: [registry],
    async collect() {
      this.set(await health.outboxPending());
    },
  });
  new Gauge({
    name: 'chorus_visual_database_up',
    help: '1 when the database answers',
    registers: [registry],
    async collect() {
      this.set((await health.database()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'chorus_visual_nats_connected',
    help: '1 when connected to NATS (absent when NATS is disabled)',
    registers: [registry],
    collect() {
      this.reset();
      const nats = health.nats();
      if (nats) this.set(nats.connected ? 1 : 0);
    },
  });
  addBackendGauges(registry, health);
  addHandoffCounters(registry, health);

  const transitions = new Counter({
    name: 'chorus_visual_job_transitions_total',
    help: 'Job state transitions seen by this instance',
    labelNames: ['to'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'chorus_visual_job_phase_duration_seconds',
    help: 'Time jobs spent in each phase, observed when the job reaches a final state',
    labelNames: ['phase', 'outcome'],
    buckets: durationBuckets,
    registers: [registry],
  });

  return {
    registry,
    observe(msg) {
      if (msg.type !== 'transition') return;
      transitions.inc({ to: msg.to });
      if (!finalStates.has(msg.to as JobState)) return;
      for (const [phase, field] of phases) {
        const ms = msg.job.timings[field];
        if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) durations.observe({ phase, outcome: msg.to }, ms / 1000);
      }
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

function addBackendGauges(registry: Registry, health: HealthSources): void {
  const perBackend = (name: string, help: string, value: (b: ReturnType<HealthSources['backends']>[number]) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        this.reset();
        for (const backend of health.backends()) {
          const v = value(backend);
          if (v !== undefined) this.set({ backend: backend.name }, v);
        }
      },
    });
  perBackend('chorus_visual_backend_healthy', '1 when the ComfyUI backend is healthy', (b) => (b.healthy ? 1 : 0));
  perBackend('chorus_visual_backend_capacity', 'Prompts this backend may hold at once', (b) => b.capacity.max_concurrent);
  perBackend('chorus_visual_backend_in_use', 'Slots of this backend held by our jobs', (b) => b.capacity.in_use);
  perBackend('chorus_visual_backend_queue_remaining', "ComfyUI's own queue_remaining", (b) => b.queueRemaining);
  new Counter({
    name: 'chorus_visual_backend_socket_heals_total',
    help: 'Times the ComfyUI socket was found deaf (a prompt of ours ran, the socket said nothing) and reopened',
    labelNames: ['backend'],
    registers: [registry],
    collect() {
      this.reset();
      for (const backend of health.backends()) this.inc({ backend: backend.name }, backend.socketHeals ?? 0);
    },
  });
}

/** Read from the GPU handoff and the scheduler at scrape time: they keep the running totals. */
function addHandoffCounters(registry: Registry, health: HealthSources): void {
  const handoff = health.gpuHandoff?.bind(health);
  if (handoff) {
    new Counter({
      name: 'chorus_visual_gpu_handoff_steps_total',
      help: "GPU handoff steps (llm_unload, comfy_free) by outcome: done, skipped, joined (shared another job's unload), failed",
      labelNames: ['backend', 'step', 'outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of handoff()) this.inc({ backend: c.backend, step: c.step, outcome: c.outcome }, c.count);
      },
    });
    new Counter({
      name: 'chorus_visual_gpu_handoff_seconds_total',
      help: 'Time spent in GPU handoff steps',
      labelNames: ['backend', 'step'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of handoff()) this.inc({ backend: c.backend, step: c.step }, c.seconds);
      },
    });
  }
  const affinity = health.affinity?.bind(health);
  if (!affinity) return;
  const perBackend = (name: string, help: string, field: 'grants' | 'ahead' | 'switches') =>
    new Counter({
      name,
      help,
      labelNames: ['backend'],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of affinity()) this.inc({ backend: c.backend }, c[field]);
      },
    });
  perBackend('chorus_visual_slot_grants_total', 'Backend slots granted to jobs', 'grants');
  perBackend('chorus_visual_affinity_grants_ahead_total', 'Grants that went ahead of older jobs because the backend held their models', 'ahead');
  perBackend('chorus_visual_model_switches_total', 'Grants whose model files differ from the previous prompt on that backend (a model swap)', 'switches');
}
