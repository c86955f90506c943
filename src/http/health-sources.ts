/**
 * HealthSources from the real parts: the JobStore answers for the database (and counts
 * jobs and the outbox), the backend pool and the scheduler's slot counts for ComfyUI.
 * Typed by the narrow pieces it reads, so the composition root passes what it has.
 */
import type { ComfyBackend } from '../comfy/backend-port.js';
import type { JobStore } from '../contracts/job-store-port.js';
import { JobState } from '../contracts/job-view.js';
import type { HealthSources } from './ports.js';

export interface HealthSourceParts {
  store: Pick<JobStore, 'countJobs' | 'countUnpublished'>;
  pool: { list(): ComfyBackend[] };
  /** Slots our jobs hold on a backend (the scheduler's count). */
  inUse: (backend: string) => number;
  /** Omit when NATS is disabled. */
  nats?: () => { connected: boolean; kind: string };
  instanceId: string;
  /** Omit for a single instance (SQLite). */
  cluster?: HealthSources['cluster'];
  gpuHandoff?: HealthSources['gpuHandoff'];
  affinity?: HealthSources['affinity'];
}

export function createHealthSources(parts: HealthSourceParts): HealthSources {
  return {
    instanceId: parts.instanceId,
    ...(parts.cluster ? { cluster: parts.cluster } : {}),
    ...(parts.gpuHandoff ? { gpuHandoff: parts.gpuHandoff } : {}),
    ...(parts.affinity ? { affinity: parts.affinity } : {}),
    async database() {
      try {
        await parts.store.countJobs({ states: ['queued'] });
        return true;
      } catch {
        return false;
      }
    },
    nats: () => (parts.nats ? parts.nats() : null),
    backends: () =>
      parts.pool.list().map((backend) => ({
        ...backend.health(),
        capacity: { max_concurrent: backend.maxConcurrent, in_use: parts.inUse(backend.name) },
      })),
    outboxPending: () => parts.store.countUnpublished(),
    async jobsByState() {
      const states = Object.values(JobState);
      const counts = await Promise.all(states.map((state) => parts.store.countJobs({ states: [state] })));
      return Object.fromEntries(states.map((state, i) => [state, counts[i] ?? 0]));
    },
  };
}
