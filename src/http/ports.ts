/**
 * What the HTTP layer needs from the rest of the service: narrow interfaces it owns, so the
 * server can be tested with fakes and the JobService can change behind them.
 */
import type { BackendHealth } from '../comfy/backend-port.js';
import type { JobView } from '../contracts/job-view.js';

export type { JobCommandHandler, JobEventView } from '../commands/job-command-handler.js';

export interface FeedTransition {
  type: 'transition';
  job: JobView;
  seq: number;
  from: string | null;
  to: string;
  at: string;
}

export interface FeedProgress {
  type: 'progress';
  job_id: string;
  conversation_id: string;
  progress: { value: number; max: number; node: string | null };
}

/** The latest sampler preview of a running job, as a data URL the page can show at once. */
export interface FeedPreview {
  type: 'preview';
  job_id: string;
  conversation_id: string;
  node: string | null;
  media_type: string;
  data_url: string;
}

export type FeedMessage = FeedTransition | FeedProgress | FeedPreview;

/** Live transitions and progress ticks; returns the unsubscribe function. */
export interface JobFeed {
  subscribe(listener: (msg: FeedMessage) => void): () => void;
}

export interface BackendStatus extends BackendHealth {
  capacity: { max_concurrent: number; in_use: number };
}

export interface HealthSources {
  database(): Promise<boolean>;
  /** null when NATS is disabled (then it is not required for readiness). */
  nats(): { connected: boolean; kind: string } | null;
  backends(): BackendStatus[];
  outboxPending(): Promise<number>;
  jobsByState(): Promise<Record<string, number>>;
  instanceId: string;
  /**
   * Several instances on one database: who is alive, which instance drives which unfinished
   * job, and the slots every instance together holds per backend. Absent with SQLite.
   */
  cluster?(): Promise<ClusterView>;
  /** GPU handoff steps so far (absent when no backend has `gpu_handoff`). */
  gpuHandoff?(): GpuHandoffCountView[];
  /** Slot grants per backend: how many went ahead by model affinity, how many switched models. */
  affinity?(): AffinityCountView[];
}

export interface GpuHandoffCountView {
  backend: string;
  step: string;
  outcome: string;
  count: number;
  seconds: number;
}

export interface AffinityCountView {
  backend: string;
  grants: number;
  ahead: number;
  switches: number;
}

export interface ClusterView {
  instances: Array<{ id: string; alive: boolean; started_at: string; heartbeat_at: string; stopped_at: string | null }>;
  /** job id → instance id, for unfinished jobs. */
  owners: Record<string, string>;
  /** backend name → slots in use by all instances together. */
  slots_in_use: Record<string, number>;
}
