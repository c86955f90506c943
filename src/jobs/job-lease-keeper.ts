/**
 * Keeps this instance's place among several on one database: renews its lease (one row
 * write per heartbeat, whatever the number of jobs), takes over the jobs of instances whose
 * lease lapsed, and passes on cancels that other instances received for its jobs. On a
 * clean stop it retires: its jobs lose their owner at once, so others need not wait for
 * the lease to lapse.
 */
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { InstanceCoordinator } from '../contracts/instance-coordination-port.js';
import type { JobRow } from '../contracts/job-store-port.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';

export interface LeaseKeeperTarget {
  adopt(rows: JobRow[]): Promise<number>;
  cancelRequested(jobIds: string[]): void;
}

export interface JobLeaseKeeperOptions {
  instanceId: string;
  coordinator: InstanceCoordinator;
  /**
   * Heartbeats through their own connection: behind a pool busy with admissions and
   * transitions a beat could wait past the TTL, and others would take over live jobs.
   */
  heartbeats?: Pick<InstanceCoordinator, 'heartbeat'>;
  service: LeaseKeeperTarget;
  /** An instance silent this long is presumed gone and its jobs are taken over (ms). */
  leaseTtlMs: number;
  /** How often to look for orphaned jobs and cancel requests (default: a quarter of the TTL, at most 1 s). */
  scanMs?: number;
  /** Jobs taken over per scan, so a survivor is not swamped at once. */
  claimBatch?: number;
  clock?: Clock;
  logger?: StructuredLogger;
}

export class JobLeaseKeeper {
  private readonly clock: Clock;
  private readonly logger: StructuredLogger;
  private readonly scanMs: number;
  private readonly heartbeatMs: number;
  private timer: unknown = undefined;
  private heartbeatTimer: unknown = undefined;
  private running = false;
  private tick: Promise<void> = Promise.resolve();
  private beat: Promise<void> = Promise.resolve();

  constructor(private readonly options: JobLeaseKeeperOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.scanMs = options.scanMs ?? Math.min(1_000, Math.max(50, options.leaseTtlMs / 4));
    // Four beats per TTL: a busy event loop or a slow pool may delay one or two of them.
    this.heartbeatMs = Math.max(50, options.leaseTtlMs / 4);
  }

  /** Registers the instance (before it restores or admits anything). */
  async register(): Promise<void> {
    await this.options.coordinator.heartbeat(this.options.instanceId, this.options.leaseTtlMs);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
    this.scheduleHeartbeat();
  }

  /** Stops the loop; `retire()` then gives the jobs away. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.timer = undefined;
    this.heartbeatTimer = undefined;
    await Promise.all([this.tick, this.beat]);
  }

  async retire(): Promise<void> {
    await this.stop();
    await this.options.coordinator.retire(this.options.instanceId);
  }

  /** One round: take over orphans, pass on cancels. (Heart-beating has its own timer, so a slow scan never delays it.) */
  async scan(): Promise<void> {
    const { coordinator, instanceId, service } = this.options;
    const orphans = await coordinator.claimJobs(instanceId, this.options.claimBatch ?? 100);
    if (orphans.length > 0) {
      this.logger.info({ jobs: orphans.length }, 'taking over jobs nobody drives (an instance stopped)');
      await service.adopt(orphans);
    }
    const cancels = await coordinator.takeCancelRequests(instanceId);
    if (cancels.length > 0) service.cancelRequested(cancels);
  }

  private scheduleHeartbeat(): void {
    if (!this.running) return;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.beat = (this.options.heartbeats ?? this.options.coordinator)
        .heartbeat(this.options.instanceId, this.options.leaseTtlMs)
        .catch((error: unknown) => this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'heartbeat failed; trying again'))
        .finally(() => this.scheduleHeartbeat());
    }, this.heartbeatMs);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick = this.scan()
        .catch((error: unknown) => this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'lease scan failed; trying again'))
        .finally(() => this.schedule());
    }, this.scanMs);
  }
}
