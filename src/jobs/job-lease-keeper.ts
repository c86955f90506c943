/**
 * Keeps this instance's place among several on one database: renews its lease (one row
 * write per heartbeat, whatever the number of jobs), takes over the jobs of instances whose
 * lease lapsed, and passes on cancels that other instances received for its jobs. On a
 * clean stop it retires: its jobs lose their owner at once, so others need not wait for
 * the lease to lapse.
 */
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { InstanceCoordinator, InstanceInfo } from '../contracts/instance-coordination-port.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
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
  /** Renewing the lease: from the claim in register() (see there), not from start(), until stop(). */
  private beating = false;
  private tick: Promise<void> = Promise.resolve();
  private beat: Promise<void> = Promise.resolve();

  constructor(private readonly options: JobLeaseKeeperOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.scanMs = options.scanMs ?? Math.min(1_000, Math.max(50, options.leaseTtlMs / 4));
    // Four beats per TTL: a busy event loop or a slow pool may delay one or two of them.
    this.heartbeatMs = Math.max(50, options.leaseTtlMs / 4);
  }

  /**
   * Registers the instance (before it restores or admits anything), refusing an id another
   * live process holds: two processes under one id would both drive its jobs (every write is
   * fenced on the owner's id, which they share). A current lease is either such a process or
   * this id's previous run, which died less than a lease ago; they are told apart by waiting:
   * a live holder renews its row within a heartbeat, a dead one's lease lapses within the
   * TTL, and then the id is taken (its jobs come back with it, see JobService.restore).
   */
  async register(): Promise<void> {
    const { coordinator, instanceId, leaseTtlMs } = this.options;
    let first: InstanceInfo | undefined;
    for (;;) {
      const outcome = await coordinator.claimInstance(instanceId, leaseTtlMs);
      if (outcome.claimed) {
        // Renewed from now on, not from start(): `serve` starts HTTP, NATS and the restore
        // between the two, which can outlast the lease, and another process starting under
        // this id meanwhile would see it unrenewed and take it.
        this.startHeartbeat();
        return;
      }
      const { holder } = outcome;
      if (first === undefined) {
        first = holder;
        this.logger.warn(
          { instance_id: instanceId, heartbeat_at: holder.heartbeat_at, lease_expires_at: holder.lease_expires_at },
          "this instance id's lease is current: waiting for it to lapse (its previous run stopped without retiring) or to be renewed (another running instance uses the id)",
        );
      } else if (holder.heartbeat_at !== first.heartbeat_at || holder.started_at !== first.started_at) {
        throw instanceIdInUse(instanceId, holder);
      }
      // Until the lease should have lapsed, looking once per heartbeat of the holder's (a quarter of a TTL).
      const untilLapse = Date.parse(holder.lease_expires_at) - this.clock.now();
      await this.sleep(Math.min(this.heartbeatMs, Math.max(10, untilLapse + 10)));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
    this.startHeartbeat();
  }

  private startHeartbeat(): void {
    if (this.beating) return;
    this.beating = true;
    this.scheduleHeartbeat();
  }

  /** Stops the loop; `retire()` then gives the jobs away. */
  async stop(): Promise<void> {
    this.running = false;
    this.beating = false;
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
    if (!this.beating) return;
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

function instanceIdInUse(instanceId: string, holder: InstanceInfo): ChorusError {
  return new ChorusError(
    ErrorCode.STORE_LOCKED,
    `instance id "${instanceId}" is in use: another running instance renews it (last heartbeat ${holder.heartbeat_at})`,
    {
      details: { instance_id: instanceId, heartbeat_at: holder.heartbeat_at, started_at: holder.started_at },
      suggestion: 'Give each instance its own --instance-id (CHORUS_VISUAL_INSTANCE_ID), e.g. the host name with a number, or stop the other instance first.',
    },
  );
}
