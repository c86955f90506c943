/**
 * Keeps this instance's place among several on one database: renews its lease (one row
 * write per heartbeat, whatever the number of jobs), takes over the jobs of instances whose
 * lease lapsed, and passes on cancels that other instances received for its jobs. On a
 * clean stop it retires: its jobs lose their owner at once, so others need not wait for
 * the lease to lapse.
 *
 * A run holds its id only as long as its lease: every claim and renewal carries the run's
 * token and is confirmed until (time asked + TTL). Past that (the process stalled, or the
 * database did not answer in time) others may have taken its jobs, or its id, over; the run
 * is then lost: it stops driving jobs at once, renews and retires nothing, and reports
 * INSTANCE_LEASE_LOST (`onLost`). It never renews a lapsed lease back to life.
 *
 * Two clocks, neither of them this host's wall clock: the database's decides when the lease
 * lapses for everyone (the coordinator writes and compares lease times with it), and a
 * monotonic one measures this run's hold, which starts before the database's lease does and
 * lasts as long, so it ends first. A step of the wall clock moves neither.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.js';
import { monotonicClock } from './clock.js';
import type { InstanceCoordinator, InstanceInfo, RunStanding } from '../contracts/instance-coordination-port.js';
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { JobRow } from '../contracts/job-store-port.js';
import { silentLogger, type StructuredLogger } from '../contracts/structured-logger.js';
import { instanceLeaseLost } from './instance-lease-loss.js';

export interface LeaseKeeperTarget {
  adopt(rows: JobRow[]): Promise<number>;
  cancelRequested(jobIds: string[]): void;
  /** This run lost its instance id: stop driving every job now, without another write under the id. */
  stopDriving(): void;
}

export interface JobLeaseKeeperOptions {
  instanceId: string;
  coordinator: InstanceCoordinator;
  /**
   * Heartbeats through their own connection: behind a pool busy with admissions and
   * transitions a beat could wait past the TTL, and others would take over live jobs.
   */
  heartbeats?: Pick<InstanceCoordinator, 'heartbeat' | 'runStanding'>;
  service: LeaseKeeperTarget;
  /** An instance silent this long is presumed gone and its jobs are taken over (ms). */
  leaseTtlMs: number;
  /** This run's token, written on the id's row by its claim (default: a random UUID). */
  runToken?: string;
  /** Called once when the run lost its id (after `service.stopDriving()`), with the error it logged. */
  onLost?: (error: ChorusError) => void;
  /** How often to look for orphaned jobs and cancel requests (default: a quarter of the TTL, at most 1 s). */
  scanMs?: number;
  /** Jobs taken over per scan, so a survivor is not swamped at once. */
  claimBatch?: number;
  /** Timers, and `now()` to measure the hold: it must not step (default: monotonicClock). */
  clock?: Clock;
  logger?: StructuredLogger;
}

export class JobLeaseKeeper {
  readonly runToken: string;
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
  /** The end of the lease this run last confirmed (monotonic clock ms): past it, the run may have lost its id. */
  private heldUntil = 0;
  /** Fires at `heldUntil` unless a renewal moved it: a beat that never answers still ends the run's hold. */
  private watchdog: unknown = undefined;
  /** Set once the run lost its id; settles when the loss is logged and reported. */
  private losing: Promise<void> | undefined;

  constructor(private readonly options: JobLeaseKeeperOptions) {
    this.runToken = options.runToken ?? randomUUID();
    this.clock = options.clock ?? monotonicClock;
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
      const askedAt = this.clock.now();
      const outcome = await coordinator.claimInstance(instanceId, this.runToken, leaseTtlMs);
      if (outcome.claimed) {
        this.confirmHeld(askedAt);
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
          // No instance_id here: the logger's bindings carry it (a second key would repeat it on the line).
          { heartbeat_at: holder.heartbeat_at, lease_expires_at: holder.lease_expires_at },
          "this instance id's lease is current: waiting for it to lapse (its previous run stopped without retiring) or to be renewed (another running instance uses the id)",
        );
      } else if (holder.heartbeat_at !== first.heartbeat_at || holder.started_at !== first.started_at) {
        throw instanceIdInUse(instanceId, holder);
      }
      // Until the lease should have lapsed (by the database's clock), looking once per heartbeat of the holder's (a quarter of a TTL).
      await this.sleep(Math.min(this.heartbeatMs, Math.max(10, holder.lease_left_ms + 10)));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  start(): void {
    if (this.running || this.losing) return;
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
    this.halt();
    await Promise.all([this.tick, this.beat, this.losing]);
  }

  /** Clean stop; a run that lost its id gives nothing away: the id, and its jobs, are another run's now. */
  async retire(): Promise<void> {
    await this.stop();
    if (this.losing) return;
    if (!(await this.options.coordinator.retire(this.options.instanceId, this.runToken))) {
      this.logger.warn({}, "retiring: the instance id is no longer this run's (another process claimed it); nothing given away");
    }
  }

  /**
   * Whether this run still holds its id: its last confirmed lease has not run out. A run that
   * finds it has (it stalled: this is what it sees first on waking, before any heartbeat
   * answers) is lost from then on. The job service asks before each admission and each
   * transition write, so a stalled run takes no new job and writes nothing on waking.
   */
  holdsInstance(): boolean {
    if (this.losing) return false;
    if (this.clock.now() < this.heldUntil) return true;
    this.lose(undefined);
    return false;
  }

  private halt(): void {
    this.running = false;
    this.beating = false;
    for (const handle of [this.timer, this.heartbeatTimer, this.watchdog]) if (handle !== undefined) this.clock.clearTimeout(handle);
    this.timer = undefined;
    this.heartbeatTimer = undefined;
    this.watchdog = undefined;
  }

  private confirmHeld(askedAt: number): void {
    this.heldUntil = askedAt + this.options.leaseTtlMs;
    if (this.watchdog !== undefined) this.clock.clearTimeout(this.watchdog);
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = undefined;
      this.holdsInstance();
    }, this.options.leaseTtlMs);
  }

  /** Renews the lease, or finds the run lost: its lease ran out first, or the row is no longer its. */
  private async renew(): Promise<void> {
    const askedAt = this.clock.now();
    if (!this.holdsInstance()) return;
    const standing = await (this.options.heartbeats ?? this.options.coordinator).heartbeat(this.options.instanceId, this.runToken, this.options.leaseTtlMs);
    if (!this.beating) return;
    if (standing.standing !== 'held') return this.lose(standing);
    // Renewed, but the answer came after the lease ran out: whether the renewal landed in time
    // is unknown, so others may have taken the jobs meanwhile.
    if (!this.holdsInstance()) return;
    this.confirmHeld(askedAt);
  }

  /**
   * The run lost its id: it stops driving jobs at once, and beats and scans no more; then
   * reads why (without writing), logs it and reports it. Only while it beats: a clean stop
   * is not a loss.
   */
  private lose(standing: RunStanding | undefined): void {
    if (this.losing || !this.beating) return;
    const beyondMs = this.clock.now() - this.heldUntil;
    this.halt();
    this.options.service.stopDriving();
    this.losing = (async () => {
      const known = standing ?? (await this.readStanding());
      const error = instanceLeaseLost(this.options.instanceId, known, beyondMs, this.options.leaseTtlMs);
      this.logger.error({ err: error.toJSON() }, error.message);
      this.options.onLost?.(error);
    })();
  }

  /** Why the run lost its id, read on the heartbeat connection; undefined when the database does not answer in time. */
  private async readStanding(): Promise<RunStanding | undefined> {
    let timer: unknown;
    const gaveUp = new Promise<undefined>((resolve) => (timer = this.clock.setTimeout(() => resolve(undefined), Math.min(this.options.leaseTtlMs, 5_000))));
    const read = (this.options.heartbeats ?? this.options.coordinator).runStanding(this.options.instanceId, this.runToken).catch(() => undefined);
    const standing = await Promise.race([read, gaveUp]);
    this.clock.clearTimeout(timer);
    return standing;
  }

  /** One round: take over orphans, pass on cancels. (Heart-beating has its own timer, so a slow scan never delays it.) */
  async scan(): Promise<void> {
    const { coordinator, instanceId, service } = this.options;
    if (!this.holdsInstance()) return;
    // Fenced on the run token: a stall between the check above and these writes, with the id
    // taken by another run meanwhile, claims nothing and takes no cancel that run should act on.
    const orphans = await coordinator.claimJobs(instanceId, this.options.claimBatch ?? 100, { runToken: this.runToken });
    if (orphans.length > 0) {
      this.logger.info({ jobs: orphans.length }, 'taking over jobs nobody drives (an instance stopped)');
      await service.adopt(orphans);
    }
    const cancels = await coordinator.takeCancelRequests(instanceId, this.runToken);
    if (cancels.length > 0) service.cancelRequested(cancels);
  }

  private scheduleHeartbeat(): void {
    if (!this.beating) return;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      this.beat = this.renew()
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
